"""Shared set-up for the Lab 1 hidden tests: identical weights for submission and reference, and
networks built so that gradient clipping is certain to act, whatever the term's salt."""

from __future__ import annotations

import numpy as np
import torch

PARAMETERS = ("IW_11", "LW_11", "LW_21", "b_1", "b_2")
GRADIENTS = ("dIW_11", "dLW_11", "dLW_21", "db_1", "db_2")
MAX_NORM = 5.0  # the default max_norm of clip_gradients and the norm train_step clips to
# The epsilons the notebook allows for the binary cross-entropy (question 1.2): a clipped to
# [eps, 1 - eps], or eps added inside the logarithms, with 1e-16 <= eps <= 1e-8.
EPSILON_RANGE = (1e-16, 1e-8)


def _bce_entries(a: np.ndarray, t: np.ndarray, eps: float, inside: bool) -> np.ndarray:
    """The per-entry losses of one allowed way of keeping a away from 0 and 1."""
    if inside:
        return -(t * np.log(a + eps) + (1.0 - t) * np.log(1.0 - a + eps))
    a = np.clip(a, eps, 1.0 - eps)
    return -(t * np.log(a) + (1.0 - t) * np.log(1.0 - a))


def bce_band(a, t) -> tuple[float, float]:
    """The range of the mean binary cross-entropy that the notebook's epsilon rule allows.

    Every allowed loss lies between the per-entry smallest and largest loss of the four extreme
    forms (clipped or added inside the logarithms, eps = 1e-16 or 1e-8): each entry's loss moves
    monotonically with eps, except for a clipped entry's -log(1 - eps) ~ eps, which `SLACK`
    covers.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    t = np.asarray(t, dtype=np.float64).ravel()
    entries = np.stack([_bce_entries(a, t, eps, inside) for eps in EPSILON_RANGE for inside in (False, True)])
    return float(entries.min(axis=0).mean()), float(entries.max(axis=0).mean())


def assert_within_bands(values, bands, what: str) -> None:
    """Each value lies in its band, widened by the largest epsilon (a clipped entry's own term)
    and float64 round-off."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bands = np.asarray(bands, dtype=np.float64).reshape(-1, 2)
    assert values.shape[0] == bands.shape[0], f"{what}: {values.shape[0]} values, expected {bands.shape[0]}"
    for index, (value, (low, high)) in enumerate(zip(values, bands, strict=True)):
        slack = max(EPSILON_RANGE) + 1e-12 * max(abs(low), abs(high))
        assert np.isfinite(value) and low - slack <= value <= high + slack, (
            f"{what}{f' [{index}]' if len(values) > 1 else ''} is {value:.10g}; with an epsilon between "
            f"1e-16 and 1e-8 it lies between {low:.10g} and {high:.10g}"
        )


def random_weights(rng: np.random.Generator, R: int, S1: int, S2: int, scale: float = 0.5) -> dict:
    shapes = {"IW_11": (S1, R), "LW_11": (S1, S1), "LW_21": (S2, S1), "b_1": (S1, 1), "b_2": (S2, 1)}
    return {name: rng.normal(scale=scale, size=shape) for name, shape in shapes.items()}


def numpy_rnn(namespace, weights: dict, R: int, S1: int, S2: int, learning_rate: float = 0.01):
    """A SimpleRNN of `namespace` (sub or ref) carrying a copy of `weights`."""
    rnn = namespace.SimpleRNN(R, S1, S2, learning_rate=learning_rate)
    for name, value in weights.items():
        setattr(rnn, name, np.array(value, dtype=np.float64))
    return rnn


def as_steps(value, T: int, size: int) -> np.ndarray:
    """Per-step vectors as a (T, size) array, whether returned as a list of column vectors (the
    original lab's form) or stacked into an array."""
    return np.asarray(value, dtype=np.float64).reshape(T, size)


def binary_sequence(rng: np.random.Generator, T: int, R: int = 1) -> np.ndarray:
    return (rng.random((T, R)) < 0.4).astype(np.float64)


def clip_each(gradient: np.ndarray, max_norm: float = MAX_NORM) -> np.ndarray:
    norm = np.linalg.norm(gradient)
    return gradient * (max_norm / norm) if norm > max_norm else gradient


def exploding_case(rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """Weights, inputs (T, 2) and targets (T, 2) of a SimpleRNN(2, 2, 2) whose gradients exceed
    MAX_NORM for every draw, with a rank-2 input-weight gradient.

    With IW_11, LW_11 and b_1 zero, a1(t) = 0 at every step and tanh' = 1; with b_2 = -12 the
    outputs are about 6e-6. At each step one unit k is on: p(t) = e_k, t(t) = e_k, so
    s2(t) ~ -e_k and s1(t) ~ -u_k e_k (LW_21 = diag(u), u in [2, 3]). Then dIW_11 ~ -diag(u_k n_k)
    (n_k >= 5 steps each): Frobenius norm above its spectral norm by at least 1 %, both above 10;
    db_1 likewise, db_2 ~ -(n_1, n_2) of norm >= 7. Clipping per matrix, all together (global norm),
    by the spectral norm, or not at all give different gradients.
    """
    T = int(rng.integers(14, 21))
    units = rng.permutation(np.arange(T) % 2)  # each unit on for at least 7 steps
    weights = {"IW_11": np.zeros((2, 2)), "LW_11": np.zeros((2, 2)),
               "LW_21": np.diag(rng.uniform(2.0, 3.0, size=2)), "b_1": np.zeros((2, 1)),
               "b_2": np.full((2, 1), -12.0)}  # fmt: skip
    on = np.eye(2)[units]
    return weights, on.copy(), on.copy()


def torch_state(rng: np.random.Generator, R: int, S1: int, S2: int) -> dict:
    """A state_dict for SimplePyTorchRNN with seeded random weights."""
    return torch_state_of(random_weights(rng, R, S1, S2))


def torch_state_of(weights: dict) -> dict:
    as_tensor = lambda value: torch.tensor(value, dtype=torch.float32)  # noqa: E731
    return {
        "IW_11.weight": as_tensor(weights["IW_11"]),
        "IW_11.bias": as_tensor(weights["b_1"][:, 0]),
        "LW_11.weight": as_tensor(weights["LW_11"]),
        "LW_21.weight": as_tensor(weights["LW_21"]),
        "LW_21.bias": as_tensor(weights["b_2"][:, 0]),
    }


def exploding_torch_state(rng: np.random.Generator, S1: int = 3, low: float = 10.0,
                          high: float = 20.0, b_2: float = -10.0) -> dict:
    """A SimplePyTorchRNN(1, S1, 1) whose first gradients, on inputs of ones and targets of ones,
    have a total norm above MAX_NORM for every draw.

    With IW_11 and b_1 zero, a1 = 0 at every step (whatever LW_11) and tanh' = 1; every output is
    sigmoid(b_2), so the mean loss's logit gradient is (sigmoid(b_2) - 1) / N per entry and the
    gradients of b_1 and of IW_11.weight are both (sigmoid(b_2) - 1) LW_21^T, of norm at least
    (1 - sigmoid(b_2)) low sqrt(S1); the gradient of b_2 is sigmoid(b_2) - 1. With the defaults
    the total norm is above 24; with low=3, b_2=-4 above 7, and training stays lively afterwards.
    """
    weights = {"IW_11": np.zeros((S1, 1)), "LW_11": rng.normal(scale=0.5, size=(S1, S1)),
               "LW_21": rng.choice([-1.0, 1.0], size=(1, S1)) * rng.uniform(low, high, size=(1, S1)),
               "b_1": np.zeros((S1, 1)), "b_2": np.full((1, 1), b_2)}  # fmt: skip
    return torch_state_of(weights)


def torch_rnn(namespace, state: dict, R: int, S1: int, S2: int, learning_rate: float = 0.01):
    model = namespace.SimplePyTorchRNN(R, S1, S2, learning_rate=learning_rate)
    model.load_state_dict({name: value.clone() for name, value in state.items()})
    return model
