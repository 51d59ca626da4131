"""Shared set-up for the Lab 2 hidden tests: seeded datasets, fixed models and training runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from courselib import seed_everything
from courselib.filters import change_detector_recursive, echo, running_sum_decay, smoothing
from courselib.novelty import NoveltyCurveDataset, change_detector_rnn

FILTERS = {
    "echo": echo,
    "smoothing": smoothing,
    "change_detector_recursive": change_detector_recursive,
    "running_sum_decay": running_sum_decay,
}


def random_filter_params(rng: np.random.Generator, name: str) -> dict:
    """Parameters of a stable filter, drawn at random."""
    if name == "echo":
        return {"delay": int(rng.integers(1, 6)), "gain": float(rng.uniform(-0.9, 0.9))}
    if name == "smoothing":
        return {"s": float(rng.uniform(0.05, 0.95))}
    if name == "change_detector_recursive":
        return {"r": float(rng.uniform(-0.9, 0.9)), "k": float(rng.uniform(0.2, 3.0))}
    return {"r": float(rng.uniform(-0.95, 0.95))}


def novelty(rng: np.random.Generator, n_samples: int, seq_len: int = 64, **kwargs) -> NoveltyCurveDataset:
    """A NoveltyCurveDataset with a seed drawn from rng (Gaussian targets unless told)."""
    kwargs.setdefault("sigma_target", 1.0)
    seed = int(rng.integers(0, 2**31 - 1))
    return NoveltyCurveDataset(n_samples=n_samples, seq_len=seq_len, seed=seed, **kwargs)


def detector_model(rng: np.random.Generator, dropout: float = 0.0) -> nn.Module:
    """The lesson's change detector followed by a fixed affine map of its output (logits).

    A usable but imperfect onset detector, so that P, R and F lie strictly between 0 and 1.
    """
    linear = nn.Linear(1, 1)
    with torch.no_grad():
        linear.weight.fill_(float(rng.uniform(3.0, 5.0)))
        linear.bias.fill_(float(rng.uniform(-2.5, -1.0)))
    layers = [change_detector_rnn(alpha=0.1, r=float(rng.uniform(0.3, 0.8)), k=1.0), linear]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def random_tanh_rnn(namespace, rng: np.random.Generator, hidden_size: int = 6) -> nn.Module:
    """The notebook's SimpleTanhRNN with seeded random weights (an untrained, erratic detector)."""
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
    return namespace.SimpleTanhRNN(hidden_size=hidden_size, bidirectional=True)


def run_training(namespace, train_ds, val_ds, batch_size: int, shuffle: bool = False, seed: int = 0,
                 **settings):
    """Seed, build the loaders and call the namespace's train_SimpleTanhRNN_PRF."""
    seed_everything(seed)
    train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=shuffle)
    val_loader = DataLoader(val_ds, batch_size=batch_size)
    return namespace.train_SimpleTanhRNN_PRF(train_loader, val_loader, train_ds, val_ds, **settings)


def column(history, key: str) -> list:
    """One value per epoch; a missing key or a history that is not a list of dicts fails clearly."""
    assert isinstance(history, list), (
        f"train_SimpleTanhRNN_PRF must return (model, history) with history a list of dicts, "
        f"got {type(history).__name__}"
    )
    assert all(isinstance(record, dict) and key in record for record in history), (
        f"every record of the history needs the key {key!r}"
    )
    return [record[key] for record in history]


@pytest.fixture
def one_thread():
    """Run torch on one thread: small recurrent models are fastest so, and grading is steadier."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
