"""Proof that the Lab 3 hidden tests judge well.

Each wrong-but-plausible variant of the solution must lose points on exactly the questions it
breaks (a question that builds on a broken one, such as the training loop or the evaluation on top
of a wrong data generator, counts as broken), and each correct alternative must keep full marks.
Every variant that could change the trained generator runs the graded training cell (about 10 s
of CPU time) in the sandbox; variants of generation and evaluation alone, which the graded
training never calls, run without it and so also lose exactly the quality points.
"""

import pytest
from variants import Variant, variant_tests, without_graded_cells

pytestmark = pytest.mark.slow
LAB = "lab03_sequence_generation"
DATASET = "3.1 The data: make_cosine_batch"
FORWARD = "3.2 The model: CosineGenerator.forward"
GENERATE = "3.3 Generation: generate"
SCHEDULE = "3.4 The teacher-forcing schedule: teacher_forcing_schedule"
TRAINING = "3.5 Training: train_generator"
EVALUATION = "3.6 Evaluation: evaluate_generation"
QUALITY = "3.7 Graded: train your generator"

FREE_RUN = "        out = model(x, teacher_forcing=0.0, warmup=warmup)"
SCORED = "        per_sequence = ((out[:, warmup:] - x[:, warmup + 1:]) ** 2).mean(dim=1).numpy()"
DRAWS = """    amp = rng.uniform(amp_range[0], amp_range[1], size=n)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)"""
NUMPY_BATCH = """    t = np.arange(length) * ANGULAR_STEP                      # (L,)
    x = amp[:, None] * np.cos(t[None, :] + phase[:, None])    # (n, L), computed in float64
    return (torch.tensor(x, dtype=torch.float32),
            torch.tensor(amp, dtype=torch.float32),
            torch.tensor(phase, dtype=torch.float32))"""
CLIP_THEN_STEP = """        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()"""
STEP_THEN_CLIP = """        opt.step()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)"""
FREE_INPUT = """            elif teacher_forcing <= 0.0:
                inp = prev
"""
COIN_BRANCHES = """            if t < warmup or teacher_forcing >= 1.0:
                inp = x[:, t]
            elif teacher_forcing <= 0.0:
                inp = prev
            else:
                use_true = torch.rand(B, device=x.device) < teacher_forcing
                inp = torch.where(use_true, x[:, t], prev)"""

WRONG = [
    Variant("teacher forcing left on during evaluation", "evaluate_generation", FREE_RUN,
            "        out = model(x, teacher_forcing=1.0, warmup=warmup)", frozenset({EVALUATION})),
    Variant("warm-up counted in the MSE", "evaluate_generation", SCORED,
            "        per_sequence = ((out - x[:, 1:]) ** 2).mean(dim=1).numpy()",
            frozenset({EVALUATION})),
    Variant("amplitude range ignored (amplitude 1, like the lesson's sines)", "make_cosine_batch",
            DRAWS, "    amp = np.ones(n)\n    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)",
            frozenset({DATASET, TRAINING, EVALUATION})),
    Variant("unseeded data (np.random instead of rng)", "make_cosine_batch", DRAWS,
            "    amp = np.random.uniform(amp_range[0], amp_range[1], size=n)\n"
            "    phase = np.random.uniform(0.0, 2.0 * np.pi, size=n)",
            frozenset({DATASET, TRAINING, EVALUATION})),
    Variant("hidden state reset every step", "cosine_generator", "            prev, h = self.step(inp, h)",
            "            prev, h = self.step(inp, None)",
            frozenset({FORWARD, TRAINING, EVALUATION, QUALITY})),
    Variant("loss on the wrong shift (target x[t] instead of x[t+1])", "train_generator",
            "        loss = nn.functional.mse_loss(out[:, warmup:], x[:, warmup + 1:])",
            "        loss = nn.functional.mse_loss(out[:, warmup:], x[:, warmup:-1])",
            frozenset({TRAINING})),
    Variant("fed-back predictions detached", "cosine_generator", FREE_INPUT,
            FREE_INPUT.replace("inp = prev", "inp = prev.detach()"),
            frozenset({FORWARD, TRAINING, QUALITY}),
            edits=(("cosine_generator", "torch.where(use_true, x[:, t], prev)",
                    "torch.where(use_true, x[:, t], prev.detach())"),)),
    Variant("coins tossed even when teacher forcing is 0.0", "cosine_generator", FREE_INPUT, "",
            frozenset({FORWARD, EVALUATION})),
    Variant("evaluation leaves the model in eval mode", "evaluate_generation",
            "    finally:\n        model.train(was_training)", "    finally:\n        pass",
            frozenset({EVALUATION})),
    Variant("gradients replaced by ones", "train_generator", "        loss.backward()\n",
            "        loss.backward()\n        for parameter in model.parameters():\n"
            "            parameter.grad = torch.ones_like(parameter)\n",
            frozenset({TRAINING, QUALITY})),
    Variant("gradients clipped after the optimizer step", "train_generator", CLIP_THEN_STEP,
            STEP_THEN_CLIP, frozenset({TRAINING})),
    Variant("invented losses (a falling list)", "train_generator", "    return losses",
            "    return [1.0 / (step + 1) for step in range(steps)]", frozenset({TRAINING})),
    # A mode never handed over before: generate given a model in eval mode
    Variant("generate always leaves the model in training mode", "generate",
            "    finally:\n        model.train(was_training)", "    finally:\n        model.train()",
            frozenset({GENERATE})),
    # A stated rule: no coins during the warm-up
    Variant("coins tossed during the warm-up too", "cosine_generator", COIN_BRANCHES,
            """            if teacher_forcing >= 1.0 or (teacher_forcing <= 0.0 and t < warmup):
                inp = x[:, t]
            elif teacher_forcing <= 0.0:
                inp = prev
            else:
                use_true = torch.rand(B, device=x.device) < teacher_forcing
                inp = x[:, t] if t < warmup else torch.where(use_true, x[:, t], prev)""",
            frozenset({FORWARD, TRAINING})),
    # A tolerance that derives from the text: computed in float64, then rounded to float32
    Variant("time steps computed in float32", "make_cosine_batch",
            "    t = np.arange(length) * ANGULAR_STEP ",
            "    t = np.arange(length, dtype=np.float32) * np.float32(ANGULAR_STEP) ", frozenset({DATASET})),
    # A stated rule: the quality points need the graded cell within the CPU budget (the cell's own
    # measurement, raised here by 100 s so as not to spend 100 s of CPU on every run)
    Variant("graded training over the CPU budget", "graded_training",
            "train_cpu_s = time.process_time() - start_cpu\n",
            "train_cpu_s = time.process_time() - start_cpu + 100.0\n", frozenset({QUALITY})),
]

CORRECT = [
    Variant("evaluation through generate", "evaluate_generation", FREE_RUN + "\n" + SCORED,
            "        generated = generate(model, x[:, :warmup], length - warmup)  # estimates x[:, warmup:]\n"
            "        per_sequence = ((generated[:, 1:] - x[:, warmup + 1:]) ** 2).mean(dim=1).numpy()"),
    Variant("cosines computed with torch in float64", "make_cosine_batch", NUMPY_BATCH,
            "    amp, phase = torch.from_numpy(amp), torch.from_numpy(phase)\n"
            "    t = torch.arange(length, dtype=torch.float64) * ANGULAR_STEP\n"
            "    x = amp[:, None] * torch.cos(t[None, :] + phase[:, None])\n"
            "    return x.float(), amp.float(), phase.float()"),
    Variant("forward with one branch: torch.where with an all-True or all-False mask built "
            "without random numbers", "cosine_generator", FREE_INPUT, """            elif teacher_forcing <= 0.0:
                inp = torch.where(torch.zeros(B, dtype=torch.bool), x[:, t], prev)
"""),
    Variant("clipping with clip_grad_norm_ on a list of the parameters", "train_generator",
            "            nn.utils.clip_grad_norm_(model.parameters(), clip)",
            "            nn.utils.clip_grad_norm_(list(model.parameters()), max_norm=clip)"),
    Variant("evaluation restores the mode without try/finally", "evaluate_generation",
            "    try:\n", "    if True:\n",
            edits=(("evaluate_generation", "    finally:\n        model.train(was_training)", ""),
                   ("evaluate_generation", "        return float(per_sequence.mean()), per_sequence\n",
                    "        model.train(was_training)\n        return float(per_sequence.mean()), per_sequence\n"))),
]

# The graded training cell, stopped before it builds a model: the quality tests find none.
NO_GRADED_TRAINING = ("graded_training", "model = CosineGenerator(hidden_size=32)\n",
                      "raise RuntimeError('this proof runs without the graded training')\n")
# Generation and evaluation: the graded training calls neither, so their variants need no model
# trained in the notebook (the quality tests score the trained model with the course's own code).
BESIDE_THE_TRAINING = {"generate", "evaluate_generation"}
WRONG = without_graded_cells(WRONG, BESIDE_THE_TRAINING, NO_GRADED_TRAINING, QUALITY)
CORRECT = without_graded_cells(CORRECT, BESIDE_THE_TRAINING, NO_GRADED_TRAINING, QUALITY)

scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants = variant_tests(
    LAB, WRONG, CORRECT, least_wrong=16, least_correct=4,
    # the training tests' verdicts must not depend on a busy machine: Lab 4's variants are graded
    # beside these, in a process of their own
    under_load=True, load="test_lab04_variants",
)
