"""Proof that the Lab 1 hidden tests judge well.

Each wrong-but-plausible variant of the solution must lose points on exactly the questions it
breaks (a question that builds on a broken one, such as training on top of a wrong backward
pass, counts as broken), and each correct alternative must keep full marks.
"""

import pytest
from variants import Variant, variant_tests

pytestmark = pytest.mark.slow
LAB = "lab01_rnn_from_scratch"
SIGMOID = "1.1 sigmoid"
BCE = "1.2 binary cross-entropy"
LOGIT = "1.2 logit gradient"
FORWARD = "2.1 forward"
BPTT = "2.2 backpropagation through time"
CLIPPING = "2.3 gradient clipping"
UPDATE = "2.4 parameter update"
TRAINING = "2.5 training"
TORCH_FORWARD = "3.1 PyTorch forward"
TRAIN_STEP = "3.2 training step"
MASKING = "3.3 padding and masking"
BATCH_TRAINING = "3.4 batch training"

STABLE_SIGMOID = """    z = np.exp(-np.abs(n))
    return np.where(n >= 0, 1.0 / (1.0 + z), z / (1.0 + z))"""
PER_MATRIX_CLIP = """            if norm > max_norm:
                setattr(self, name, gradient * (max_norm / norm))"""
MASKED_LOSS = """        keep = targets != PAD_TARGET
        return self.loss_fn(outputs[keep], targets[keep])"""
UPDATES = "        self.IW_11 -= self.learning_rate * self.dIW_11"
OUTPUT_GRADIENTS = """            self.dLW_21 += s2 @ a1.T
            self.db_2 += s2"""

WRONG = [
    Variant("naive sigmoid that overflows", "sigmoid", STABLE_SIGMOID,
            "    return 1.0 / (1.0 + np.exp(-n))", frozenset({SIGMOID})),
    Variant("sigmoid as exp(n) / (1 + exp(n)) everywhere", "sigmoid", STABLE_SIGMOID,
            "    return np.exp(n) / (1.0 + np.exp(n))", frozenset({SIGMOID})),
    Variant("BCE without clipping", "bce",
            "    a = np.clip(np.asarray(a, dtype=np.float64), eps, 1.0 - eps)",
            "    a = np.asarray(a, dtype=np.float64)", frozenset({BCE})),
    Variant("BCE summed instead of averaged", "bce",
            "    return float(-np.mean(t * np.log(a) + (1.0 - t) * np.log(1.0 - a)))",
            "    return float(-np.sum(t * np.log(a) + (1.0 - t) * np.log(1.0 - a)))",
            frozenset({BCE, BPTT, TRAINING})),
    Variant("logit gradient as dL/da * sigmoid'", "bce",
            "    return sigmoid(n) - np.asarray(t, dtype=np.float64)",
            "    a = sigmoid(n)\n    return (a - t) / (a * (1 - a)) * (a * (1 - a))",
            frozenset({LOGIT})),
    Variant("forward ignores a1_prev", "simple_rnn",
            "a1 = np.zeros((self.S1, 1)) if a1_prev is None else np.reshape(a1_prev, (self.S1, 1))",
            "a1 = np.zeros((self.S1, 1))", frozenset({FORWARD})),
    Variant("gradients averaged over time instead of summed", "simple_rnn",
            "        self.clip_gradients()\n        return binary_crossentropy_loss",
            "        for name in ('dIW_11', 'dLW_11', 'dLW_21', 'db_1', 'db_2'):\n"
            "            setattr(self, name, getattr(self, name) / len(inputs))\n"
            "        self.clip_gradients()\n        return binary_crossentropy_loss",
            frozenset({BPTT, TRAINING})),
    Variant("gradients not reset between sequences", "simple_rnn",
            "        self.zero_gradients()\n        s1_next", "        s1_next",
            frozenset({BPTT, TRAINING})),
    Variant("BPTT without the error from future steps", "simple_rnn",
            "s1 = (self.LW_21.T @ s2 + self.LW_11.T @ s1_next) * (1.0 - a1**2)",
            "s1 = (self.LW_21.T @ s2) * (1.0 - a1**2)", frozenset({BPTT, TRAINING})),
    Variant("global instead of per-matrix clipping", "simple_rnn", PER_MATRIX_CLIP,
            "            pass\n"
            "        names = ('dIW_11', 'dLW_11', 'dLW_21', 'db_1', 'db_2')\n"
            "        total = np.sqrt(sum(np.sum(getattr(self, n) ** 2) for n in names))\n"
            "        if total > max_norm:\n"
            "            for n in names:\n"
            "                setattr(self, n, getattr(self, n) * (max_norm / total))",
            frozenset({CLIPPING, BPTT, TRAINING})),
    Variant("gradient ascent in the update", "simple_rnn", UPDATES,
            "        self.IW_11 += self.learning_rate * self.dIW_11", frozenset({UPDATE, TRAINING})),
    Variant("train_rnn reports the last loss of each epoch", "train_rnn",
            "        losses.append(float(np.mean(epoch_losses)))",
            "        losses.append(float(epoch_losses[-1]))", frozenset({TRAINING})),
    Variant("missing zero_grad in train_step", "pytorch_rnn", "        self.optimizer.zero_grad()\n",
            "", frozenset({TRAIN_STEP, BATCH_TRAINING})),
    Variant("padded steps counted in the loss", "pytorch_rnn", MASKED_LOSS,
            "        return self.loss_fn(outputs, targets.clamp(min=0.0))",
            frozenset({MASKING, BATCH_TRAINING})),
    Variant("batch and time axes swapped", "pytorch_rnn",
            "        batch, steps, _ = inputs.shape",
            "        steps, batch, _ = inputs.shape\n        inputs = inputs.transpose(0, 1)",
            frozenset({TORCH_FORWARD, TRAIN_STEP, BATCH_TRAINING})),
    Variant("sequences padded at the front", "collate",
            "        X[i, : lengths[i]] =", "        X[i, max(lengths) - lengths[i] :] =",
            frozenset({MASKING, BATCH_TRAINING}),
            edits=(("collate", "        Y[i, : lengths[i]] =", "        Y[i, max(lengths) - lengths[i] :] ="),)),
]

CORRECT = [
    Variant("sigmoid with scipy.special.expit", "sigmoid", STABLE_SIGMOID,
            "    from scipy.special import expit\n    return expit(np.asarray(n, dtype=np.float64))"),
    Variant("output-layer gradients vectorised over time", "simple_rnn", OUTPUT_GRADIENTS,
            "            pass",
            edits=(("simple_rnn", "        self.clip_gradients()\n        return binary_crossentropy_loss",
                    "        errors = outputs - targets\n"
                    "        self.dLW_21 = errors.T @ a1_states[1:]\n"
                    "        self.db_2 = errors.sum(axis=0).reshape(self.S2, 1)\n"
                    "        self.clip_gradients()\n        return binary_crossentropy_loss"),)),
    Variant("masked loss with reduction='none'", "pytorch_rnn", MASKED_LOSS,
            "        mask = (targets != PAD_TARGET).float()\n"
            "        losses = nn.functional.binary_cross_entropy(outputs, targets.clamp(min=0.0), reduction='none')\n"
            "        return (losses * mask).sum() / mask.sum()"),
]


scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants = variant_tests(
    LAB, WRONG, CORRECT, least_wrong=12, least_correct=3
)
