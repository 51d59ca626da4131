"""Proof that the Lab 1 hidden tests judge well.

Each wrong-but-plausible variant of the solution must lose points on exactly the questions it
breaks (a question that builds on a broken one, such as training on top of a wrong backward
pass, counts as broken), and each correct alternative must keep full marks. The hidden tests build
the conditions they check (gradients above the clipping norm, several output units, padded
batches) instead of hoping that random draws meet them, so the verdicts hold for every term's
salt: test_verdicts_hold_under_other_salts grades the salt-sensitive variants again under other
salts.
"""

import pytest
from variants import Variant, variant_tests, variants_under_salts

pytestmark = pytest.mark.slow
LAB = "lab01_rnn_from_scratch"
SIGMOID = "1.1 sigmoid"
BCE = "1.2 binary cross-entropy"
LOGIT = "1.3 logit gradient"
FORWARD = "2.1 forward"
BPTT = "2.2 backpropagation through time"
CLIPPING = "2.3 gradient clipping"
UPDATE = "2.4 parameter update"
TRAINING = "2.5 training"
TORCH_FORWARD = "3.1 PyTorch forward"
LOSS_AND_STEP = "3.2 loss and training step"
COLLATE = "3.3 collating sequences"
BATCH_TRAINING = "3.4 batch training"

CLIPPED_SIGMOID = """    n = np.clip(np.asarray(n, dtype=np.float64), -500.0, 500.0)
    z = np.exp(-np.abs(n))  # exp(-n) where n >= 0, exp(n) where n < 0: never above 1
    return np.where(n >= 0, 1.0 / (1.0 + z), z / (1.0 + z))"""
BCE_BODY = """    a = np.clip(np.asarray(a, dtype=np.float64).ravel(), eps, 1.0 - eps)
    t = np.asarray(t, dtype=np.float64).ravel()
    return float(-np.mean(t * np.log(a) + (1.0 - t) * np.log(1.0 - a)))"""
PER_MATRIX_CLIP = """            if norm > max_norm:
                setattr(self, name, gradient * (max_norm / norm))"""
FORWARD_LOOP = """        columns, outputs, a1_states, n2_tot = [], [], [a1], []
        for p in inputs:
            p = np.reshape(np.asarray(p, dtype=np.float64), (self.R, 1))  # a column vector
            a1 = np.tanh(self.LW_11 @ a1 + self.IW_11 @ p + self.b_1)
            n2 = self.LW_21 @ a1 + self.b_2
            columns.append(p)
            a1_states.append(a1)
            n2_tot.append(n2)
            outputs.append(sigmoid(n2))
        cache = {"inputs": columns, "a1_states": a1_states, "n2_tot": n2_tot}"""
CLIP_AND_RETURN = """        self.clip_gradients()
        return total_loss / len(inputs)"""
OUTPUT_GRADIENTS = """            self.dLW_21 += s2 @ a1_states[t + 1].T
            self.db_2 += s2"""
UPDATES = "        self.IW_11 -= self.learning_rate * self.dIW_11"
TRAIN_LOOP = """        for inputs, target in zip(sequences, targets):
            outputs, _, cache = rnn.forward(inputs)
            total_loss += rnn.backward(outputs, target, cache)
            rnn.update_parameters()
        losses.append(float(total_loss / len(sequences)))"""
MASKED_LOSS = """        keep = targets != PAD_TARGET
        return self.criterion(outputs[keep], targets[keep])"""
BACKWARD_AND_CLIP = """        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0)
        self.optimizer.step()"""
BATCH_LOOP = """        for start in range(0, len(sequences), batch_size):
            X, Y = collate_sequences(sequences[start : start + batch_size], targets[start : start + batch_size])
            batch_losses.append(rnn.train_step(X.to(device), Y.to(device)))"""

WRONG = [
    Variant("naive sigmoid that overflows", "sigmoid", CLIPPED_SIGMOID,
            "    return 1.0 / (1.0 + np.exp(-np.asarray(n, dtype=np.float64)))", frozenset({SIGMOID})),
    Variant("sigmoid as exp(n) / (1 + exp(n)) everywhere", "sigmoid", CLIPPED_SIGMOID,
            "    n = np.asarray(n, dtype=np.float64)\n    return np.exp(n) / (1.0 + np.exp(n))",
            frozenset({SIGMOID})),
    Variant("sigmoid clipped at 30 (0 and 1 too early)", "sigmoid", "-500.0, 500.0", "-30.0, 30.0",
            frozenset({SIGMOID, LOGIT})),
    Variant("BCE without clipping", "bce", "np.clip(np.asarray(a, dtype=np.float64).ravel(), eps, 1.0 - eps)",
            "np.asarray(a, dtype=np.float64).ravel()", frozenset({BCE})),
    Variant("BCE summed instead of averaged", "bce",
            "    return float(-np.mean(t * np.log(a) + (1.0 - t) * np.log(1.0 - a)))",
            "    return float(-np.sum(t * np.log(a) + (1.0 - t) * np.log(1.0 - a)))",
            frozenset({BCE, BPTT, TRAINING})),
    Variant("BCE summed over output units, averaged over steps", "bce", BCE_BODY,
            "    a = np.clip(np.asarray(a, dtype=np.float64), eps, 1.0 - eps)\n"
            "    t = np.asarray(t, dtype=np.float64)\n"
            "    return float(-np.mean(np.sum(t * np.log(a) + (1.0 - t) * np.log(1.0 - a), axis=-1)))",
            frozenset({BCE})),
    Variant("logit gradient as dL/da * sigmoid'", "logit_gradient",
            "    return sigmoid(n) - np.asarray(t, dtype=np.float64)",
            "    a = sigmoid(n)\n    return (a - t) / (a * (1 - a)) * (a * (1 - a))", frozenset({LOGIT})),
    Variant("forward ignores a1_prev", "simple_rnn",
            "            a1 = np.reshape(np.asarray(a1_prev, dtype=np.float64), (self.S1, 1))",
            "            a1 = np.zeros((self.S1, 1))", frozenset({FORWARD})),
    Variant("gradients averaged over time instead of summed", "simple_rnn", CLIP_AND_RETURN,
            "        for name in ('dIW_11', 'dLW_11', 'dLW_21', 'db_1', 'db_2'):\n"
            "            setattr(self, name, getattr(self, name) / len(inputs))\n" + CLIP_AND_RETURN,
            frozenset({BPTT, TRAINING})),
    Variant("gradients not reset between sequences", "simple_rnn",
            "        self.zero_gradients()\n        s1_next", "        s1_next",
            frozenset({BPTT, TRAINING})),
    Variant("BPTT without the error from future steps", "simple_rnn",
            "s1 = (self.LW_21.T @ s2 + self.LW_11.T @ s1_next) * (1.0 - a1_states[t + 1] ** 2)",
            "s1 = (self.LW_21.T @ s2) * (1.0 - a1_states[t + 1] ** 2)", frozenset({BPTT, TRAINING})),
    Variant("backward never clips", "simple_rnn", CLIP_AND_RETURN,
            "        return total_loss / len(inputs)", frozenset({BPTT, TRAINING})),
    Variant("global instead of per-matrix clipping", "simple_rnn", PER_MATRIX_CLIP,
            "            pass\n"
            "        names = ('dIW_11', 'dLW_11', 'dLW_21', 'db_1', 'db_2')\n"
            "        total = np.sqrt(sum(np.sum(getattr(self, n) ** 2) for n in names))\n"
            "        if total > max_norm:\n"
            "            for n in names:\n"
            "                setattr(self, n, getattr(self, n) * (max_norm / total))",
            frozenset({CLIPPING, BPTT, TRAINING})),
    Variant("clipping by the spectral norm", "simple_rnn", "norm = np.linalg.norm(gradient)",
            "norm = np.linalg.norm(gradient, 2) if gradient.shape[1] > 1 else np.linalg.norm(gradient)",
            frozenset({CLIPPING, BPTT, TRAINING})),
    Variant("gradient ascent in the update", "simple_rnn", UPDATES,
            "        self.IW_11 += self.learning_rate * self.dIW_11", frozenset({UPDATE, TRAINING})),
    Variant("train_rnn reports the last loss of each epoch", "train_rnn", TRAIN_LOOP,
            TRAIN_LOOP.replace("losses.append(float(total_loss / len(sequences)))",
                               "losses.append(float(rnn.backward(outputs, target, cache)))"),
            frozenset({TRAINING})),
    Variant("train_rnn invents a falling loss curve", "train_rnn", TRAIN_LOOP,
            "        losses.append(0.7 * 0.5 ** epoch)", frozenset({TRAINING})),
    Variant("train_rnn shuffles the sequences with seed 0", "train_rnn", TRAIN_LOOP,
            "        np.random.seed(0)\n        order = np.random.permutation(len(sequences))\n"
            + TRAIN_LOOP.replace("zip(sequences, targets)",
                                 "((sequences[i], targets[i]) for i in order)"),
            frozenset({TRAINING})),
    Variant("missing zero_grad in train_step", "pytorch_rnn", "        self.optimizer.zero_grad()\n",
            "", frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("train_step sets every gradient to ones", "pytorch_rnn", "        loss.backward()\n",
            "        for parameter in self.parameters():\n"
            "            parameter.grad = torch.ones_like(parameter)\n",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("train_step clips after optimizer.step()", "pytorch_rnn", BACKWARD_AND_CLIP,
            "        loss.backward()\n        self.optimizer.step()\n"
            "        torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0)",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("train_step does not clip (optional in the original lab)", "pytorch_rnn",
            "        torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0)\n", "",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("train_step clips each parameter on its own", "pytorch_rnn",
            "        torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0)\n",
            "        for parameter in self.parameters():\n"
            "            torch.nn.utils.clip_grad_norm_(parameter, max_norm=5.0)\n",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("padded steps counted in the loss", "pytorch_rnn", MASKED_LOSS,
            "        return self.criterion(outputs, targets.clamp(min=0.0))",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("batch and time axes swapped", "pytorch_rnn",
            "        batch_size, seq_len, _ = inputs.shape",
            "        seq_len, batch_size, _ = inputs.shape\n        inputs = inputs.transpose(0, 1)",
            frozenset({TORCH_FORWARD, LOSS_AND_STEP, BATCH_TRAINING})),
    Variant("sequences padded at the front", "collate",
            "        X[i, : lengths[i]] =", "        X[i, max(lengths) - lengths[i] :] =",
            frozenset({COLLATE, BATCH_TRAINING}),
            edits=(("collate", "        Y[i, : lengths[i]] =", "        Y[i, max(lengths) - lengths[i] :] ="),)),
    Variant("train_pytorch_rnn shuffles the batches", "train_pytorch_rnn", BATCH_LOOP,
            "        order = torch.randperm(len(sequences)).tolist()\n"
            "        sequences, targets = [sequences[i] for i in order], [targets[i] for i in order]\n"
            + BATCH_LOOP, frozenset({BATCH_TRAINING})),
    Variant("train_pytorch_rnn invents a falling loss curve", "train_pytorch_rnn",
            "        losses.append(float(np.mean(batch_losses)))",
            "        losses.append(0.7 * 0.5 ** epoch)", frozenset({BATCH_TRAINING})),
    # A dtype the docstring allows: a float32 input must still give float64 values
    Variant("sigmoid keeps a float32 input's dtype", "sigmoid",
            "np.clip(np.asarray(n, dtype=np.float64), -500.0, 500.0)", "np.clip(np.asarray(n), -500.0, 500.0)",
            frozenset({SIGMOID})),
    # A shape the docstring allows: an initial state (S1,) as well as (S1, 1)
    Variant("forward uses a flat a1_prev as it is", "simple_rnn",
            "            a1 = np.reshape(np.asarray(a1_prev, dtype=np.float64), (self.S1, 1))",
            "            a1 = np.asarray(a1_prev, dtype=np.float64)", frozenset({FORWARD})),
    # Defaults the signatures state
    Variant("clip_gradients clips to norm 1 by default", "simple_rnn",
            "def clip_gradients(self, max_norm: float = 5.0):", "def clip_gradients(self, max_norm: float = 1.0):",
            frozenset({CLIPPING, BPTT, TRAINING})),
    Variant("train_rnn trains 10 epochs by default", "train_rnn", "epochs: int = 100):", "epochs: int = 10):",
            frozenset({TRAINING})),
    # A stated rule charged to its own question: the step's loss is compute_loss's (3.2), not only
    # the batch training's (3.4)
    Variant("train_step uses self.criterion instead of compute_loss", "pytorch_rnn",
            "        loss = self.compute_loss(outputs, targets)", "        loss = self.criterion(outputs, targets)",
            frozenset({LOSS_AND_STEP, BATCH_TRAINING})),
]

# The extremes of the epsilon range the notebook allows (1e-16 <= eps <= 1e-8), clipped or added
# inside the logarithms: every hidden test that sees the loss must accept all four.
BCE_EXTREMES = [
    Variant(f"BCE with epsilon {eps} added inside the logarithms", "bce", BCE_BODY,
            f"    eps = {eps}\n"
            "    a = np.asarray(a, dtype=np.float64).ravel()\n"
            "    t = np.asarray(t, dtype=np.float64).ravel()\n"
            "    return float(-np.mean(t * np.log(a + eps) + (1.0 - t) * np.log(1.0 - a + eps)))")
    for eps in ("1e-16", "1e-8")
] + [
    Variant(f"BCE clipped at epsilon {eps}", "bce", "    eps = 1e-12\n", f"    eps = {eps}\n")
    for eps in ("1e-16", "1e-8")
]

CORRECT = [
    Variant("sigmoid with scipy.special.expit", "sigmoid", CLIPPED_SIGMOID,
            "    from scipy.special import expit\n    return expit(np.asarray(n, dtype=np.float64))"),
    Variant("sigmoid without clipping, exp(-|n|)", "sigmoid",
            "    n = np.clip(np.asarray(n, dtype=np.float64), -500.0, 500.0)",
            "    n = np.asarray(n, dtype=np.float64)"),
    Variant("sigmoid as the original lab: clip at 500, two masked branches", "sigmoid", CLIPPED_SIGMOID,
            "    n = np.clip(np.asarray(n, dtype=np.float64), -500, 500)\n"
            "    result = np.empty_like(n)\n"
            "    positive = n >= 0\n"
            "    result[positive] = 1.0 / (1.0 + np.exp(-n[positive]))\n"
            "    exp_n = np.exp(n[~positive])\n"
            "    result[~positive] = exp_n / (1.0 + exp_n)\n"
            "    return result"),
    *BCE_EXTREMES,
    Variant("forward returns stacked arrays", "simple_rnn", FORWARD_LOOP,
            "        T = len(inputs)\n"
            "        columns = np.asarray(inputs, dtype=np.float64).reshape(T, self.R)\n"
            "        a1_states = np.zeros((T + 1, self.S1))\n"
            "        n2_tot = np.zeros((T, self.S2))\n"
            "        a1_states[0] = a1[:, 0]\n"
            "        for t in range(T):\n"
            "            a1 = np.tanh(self.IW_11 @ columns[t].reshape(self.R, 1) + self.LW_11 @ a1 + self.b_1)\n"
            "            a1_states[t + 1] = a1[:, 0]\n"
            "            n2_tot[t] = (self.LW_21 @ a1 + self.b_2)[:, 0]\n"
            "        outputs = sigmoid(n2_tot)\n"
            "        cache = {'inputs': columns, 'a1_states': a1_states, 'n2_tot': n2_tot}"),
    Variant("output-layer gradients vectorised over time", "simple_rnn", OUTPUT_GRADIENTS,
            "            pass",
            edits=(("simple_rnn", CLIP_AND_RETURN,
                    "        errors = np.reshape(outputs, (-1, self.S2)) - np.reshape(targets, (-1, self.S2))\n"
                    "        self.dLW_21 = errors.T @ np.reshape(a1_states[1:], (-1, self.S1))\n"
                    "        self.db_2 = errors.sum(axis=0).reshape(self.S2, 1)\n" + CLIP_AND_RETURN),)),
    Variant("backward returns the loss of the whole sequence", "simple_rnn",
            "        return total_loss / len(inputs)",
            "        return binary_crossentropy_loss(outputs, targets)"),
    Variant("train_rnn averages a list of losses", "train_rnn", TRAIN_LOOP,
            "        epoch_losses = []\n"
            + TRAIN_LOOP.replace("total_loss += rnn.backward(outputs, target, cache)",
                                 "epoch_losses.append(rnn.backward(outputs, target, cache))")
                        .replace("float(total_loss / len(sequences))", "float(np.mean(epoch_losses))")),
    Variant("masked loss with reduction='none'", "pytorch_rnn", MASKED_LOSS,
            "        mask = (targets != PAD_TARGET).float()\n"
            "        losses = nn.functional.binary_cross_entropy(outputs, targets.clamp(min=0.0), reduction='none')\n"
            "        return (losses * mask).sum() / mask.sum()"),
    Variant("train_step clips the total norm by hand", "pytorch_rnn",
            "        torch.nn.utils.clip_grad_norm_(self.parameters(), max_norm=5.0)\n",
            "        total = torch.sqrt(sum(p.grad.pow(2).sum() for p in self.parameters()))\n"
            "        if total > 5.0:\n"
            "            for p in self.parameters():\n"
            "                p.grad.mul_(5.0 / total)\n"),
    Variant("train_pytorch_rnn with a DataLoader in order", "train_pytorch_rnn", BATCH_LOOP,
            "        loader = torch.utils.data.DataLoader(list(zip(sequences, targets)), batch_size=batch_size,\n"
            "                                             shuffle=False, collate_fn=lambda b: collate_sequences(*zip(*b)))\n"
            "        for X, Y in loader:\n"
            "            batch_losses.append(rnn.train_step(X.to(device), Y.to(device)))"),
]

# Variants whose verdicts a draw could change if a test hoped for its condition instead of
# building it (gradients above the clipping norm, several output units, a changed order, invented
# training): graded again under other salts
SALT_SENSITIVE = [variant for variant in WRONG + CORRECT if variant.name in {
    "backward never clips", "global instead of per-matrix clipping", "clipping by the spectral norm",
    "BCE summed over output units, averaged over steps", "train_rnn invents a falling loss curve",
    "train_rnn shuffles the sequences with seed 0", "train_step sets every gradient to ones",
    "train_step clips after optimizer.step()", "train_step does not clip (optional in the original lab)",
    "train_step clips each parameter on its own", "train_pytorch_rnn invents a falling loss curve",
    "sigmoid as the original lab: clip at 500, two masked branches", "forward returns stacked arrays",
}] + BCE_EXTREMES


def test_salt_sensitive_variants_exist():
    assert len(SALT_SENSITIVE) == 17


scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants = variant_tests(
    LAB, WRONG, CORRECT, least_wrong=30, least_correct=13
)
test_verdicts_hold_under_other_salts = variants_under_salts(LAB, SALT_SENSITIVE, salts=("term-a", "term-b"))
# The extremes of the allowed epsilon keep full marks under five salts: the course's, the two
# above and two more
test_epsilon_extremes_hold_under_more_salts = variants_under_salts(LAB, BCE_EXTREMES, salts=("term-c", "term-d"))
