"""Shared set-up for the Lab 4 hidden tests.

Only plain data (numbers, arrays, tensors, lists, dicts) crosses the boundary to the submission,
so the models and NumPy generators that a submission's functions receive are built *inside* its
namespace (`SequenceClassifier`, `nn.Sequential`, `np.random.default_rng`), with the same weights
and seeds as the local copies that the reference works on.
"""

from __future__ import annotations

import numpy as np
import torch

QUESTIONS = {
    "dataset": "2.1 Sine dataset",
    "classifier": "2.2 Sequence classifier",
    "metrics": "2.3 Metrics for class probabilities",
    "training": "2.4 Training and prediction",
    "audio": "3.1 Audio pipeline",
    "prf": "3.2 Precision, recall, accuracy",
    "evaluate": "3.3 Evaluate a classifier",
    "quality": "3.4 Author model quality",
}
SINE_CLASSES = ((1.0, 10.0), (2.0, 10.0), (1.0, 5.0))


def seed_of(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def generator_pair(namespace, seed: int):
    """The same NumPy Generator twice: (built in `namespace`, built here)."""
    return namespace.np.random.default_rng(seed), np.random.default_rng(seed)


def model_pair(sub, ref, rng: np.random.Generator, **kwargs):
    """A SequenceClassifier with seeded random weights, twice: (in the submission, here)."""
    torch.manual_seed(seed_of(rng))
    local = ref.SequenceClassifier(**kwargs)
    remote = sub.SequenceClassifier(**kwargs)
    remote.load_state_dict({name: value.detach().clone() for name, value in local.state_dict().items()})
    return remote, local


def linear_pair(sub, rng: np.random.Generator, n_inputs: int, n_classes: int, dropout: float = 0.0):
    """Flatten (+ Dropout) + Linear with seeded weights, twice: built from the submission's own
    `nn` (so that the test does not depend on its SequenceClassifier) and here."""
    torch.manual_seed(seed_of(rng))
    local = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(dropout), torch.nn.Linear(n_inputs, n_classes))
    remote = sub.nn.Sequential(sub.nn.Flatten(), sub.nn.Dropout(dropout), sub.nn.Linear(n_inputs, n_classes))
    remote.load_state_dict({name: value.detach().clone() for name, value in local.state_dict().items()})
    return remote, local


def pooled_conv_pair(sub, rng: np.random.Generator, n_points: int = 100, n_classes: int = 3):
    """A small classifier of sequences (B, n_points) with pooling over time: a convolution of 16
    filters of 9 steps, ReLU, the max over time, a linear head; seeded weights, twice: built from
    the submission's own `nn` layers (so that a test of train_classifier does not depend on its
    SequenceClassifier) and here."""

    def layers(nn):
        return [nn.Unflatten(1, (1, n_points)), nn.Conv1d(1, 16, 9, padding=4), nn.ReLU(),
                nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(16, n_classes)]  # fmt: skip

    torch.manual_seed(seed_of(rng))
    local = torch.nn.Sequential(*layers(torch.nn))
    remote = sub.nn.Sequential(*layers(sub.nn))
    remote.load_state_dict({name: value.detach().clone() for name, value in local.state_dict().items()})
    return remote, local


def sines(rng: np.random.Generator, n_per_class: int, n_points: int = 100, noise_std: float = 0.02,
          random_phase: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The draws of make_sine_dataset, written out here: phases (if random), then noise."""
    n = 3 * n_per_class
    t = np.linspace(0.0, 1.0, n_points)
    amplitude = np.repeat([a for a, _ in SINE_CLASSES], n_per_class)
    frequency = np.repeat([f for _, f in SINE_CLASSES], n_per_class)
    phase = rng.uniform(0.0, 2 * np.pi, size=n) if random_phase else np.zeros(n)
    noise = rng.normal(0.0, noise_std, size=(n, n_points))
    x = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t + phase[:, None]) + noise
    return x.astype(np.float32), np.repeat(np.arange(3), n_per_class).astype(np.int64)


def as_array(value, what: str) -> np.ndarray:
    """A NumPy array (or a tensor, converted), or a clear failure."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    assert isinstance(value, np.ndarray), f"{what} must return a NumPy array, got {type(value).__name__}"
    return value


def pair(result, what: str):
    """The (X, y) of a function that returns two arrays, or a clear failure."""
    assert isinstance(result, tuple | list) and len(result) == 2, f"{what} must return a tuple (X, y)"
    return as_array(result[0], f"{what} (X)"), as_array(result[1], f"{what} (y)")


def state_of(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu() for name, value in model.state_dict().items()}
