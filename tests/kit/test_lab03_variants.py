"""Proof that the Lab 3 hidden tests judge well.

Each wrong-but-plausible variant of the solution must lose points on exactly the questions it
breaks (a question that builds on a broken one, such as the training loop or the evaluation on top
of a wrong data generator, counts as broken), and each correct alternative must keep full marks.
Every variant runs the graded training cell (about 40 s of CPU time) in the sandbox.
"""

import pytest
from variants import Variant, variant_tests

pytestmark = pytest.mark.slow
LAB = "lab03_sequence_generation"
DATASET = "3.1 cosine dataset"
FORWARD = "3.2 forward with teacher forcing"
GENERATE = "3.3 generate"
SCHEDULE = "3.4 teacher-forcing schedule"
TRAINING = "3.4 training loop"
EVALUATION = "3.5 evaluation"
QUALITY = "3.6 generator quality"

FREE_RUN = "        out = model(x, teacher_forcing=0.0, warmup=warmup)"
SCORED = "        per_sequence = ((out[:, warmup:] - x[:, warmup + 1:]) ** 2).mean(dim=1).numpy()"
DRAWS = """    amp = rng.uniform(amp_range[0], amp_range[1], size=n)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)"""
NUMPY_BATCH = """    t = np.arange(length) * ANGULAR_STEP                      # (L,)
    x = amp[:, None] * np.cos(t[None, :] + phase[:, None])    # (n, L), computed in float64
    return (torch.tensor(x, dtype=torch.float32),
            torch.tensor(amp, dtype=torch.float32),
            torch.tensor(phase, dtype=torch.float32))"""

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
]


scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants = variant_tests(
    LAB, WRONG, CORRECT, least_wrong=6, least_correct=1,
    under_load=True,  # the training tests' verdicts must not depend on a busy machine
)
