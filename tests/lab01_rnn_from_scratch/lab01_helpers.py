"""Shared set-up for the Lab 1 hidden tests: identical weights for submission and reference."""

from __future__ import annotations

import numpy as np
import torch

PARAMETERS = ("IW_11", "LW_11", "LW_21", "b_1", "b_2")
GRADIENTS = ("dIW_11", "dLW_11", "dLW_21", "db_1", "db_2")


def random_weights(rng: np.random.Generator, R: int, S1: int, S2: int, scale: float = 0.5) -> dict:
    shapes = {"IW_11": (S1, R), "LW_11": (S1, S1), "LW_21": (S2, S1), "b_1": (S1, 1), "b_2": (S2, 1)}
    return {name: rng.normal(scale=scale, size=shape) for name, shape in shapes.items()}


def numpy_rnn(namespace, weights: dict, R: int, S1: int, S2: int, learning_rate: float = 0.01):
    """A SimpleRNN of `namespace` (sub or ref) carrying a copy of `weights`."""
    rnn = namespace.SimpleRNN(R, S1, S2, learning_rate=learning_rate)
    for name, value in weights.items():
        setattr(rnn, name, np.array(value, dtype=np.float64))
    return rnn


def binary_sequence(rng: np.random.Generator, T: int, R: int = 1) -> np.ndarray:
    return (rng.random((T, R)) < 0.4).astype(np.float64)


def torch_state(rng: np.random.Generator, R: int, S1: int, S2: int) -> dict:
    """A state_dict for SimplePyTorchRNN with seeded random weights."""
    weights = random_weights(rng, R, S1, S2)
    as_tensor = lambda value: torch.tensor(value, dtype=torch.float32)  # noqa: E731
    return {
        "IW_11.weight": as_tensor(weights["IW_11"]),
        "IW_11.bias": as_tensor(weights["b_1"][:, 0]),
        "LW_11.weight": as_tensor(weights["LW_11"]),
        "LW_21.weight": as_tensor(weights["LW_21"]),
        "LW_21.bias": as_tensor(weights["b_2"][:, 0]),
    }


def torch_rnn(namespace, state: dict, R: int, S1: int, S2: int, learning_rate: float = 0.01):
    model = namespace.SimplePyTorchRNN(R, S1, S2, learning_rate=learning_rate)
    model.load_state_dict({name: value.clone() for name, value in state.items()})
    return model
