"""Shared set-up for the Lab 2 hidden tests.

Only plain data (numbers, arrays, tensors, lists, dicts) crosses the boundary to the submission,
so everything a submission's function receives that is not plain data (filters, datasets,
models, loaders) is built *inside* the submission's namespace from the names its given cells
import (`echo`, `NoveltyCurveDataset`, `nn`, `DataLoader`, `SimpleTanhRNN`, ...), with the same
seeds and weights as the local copy that the reference works on.
"""

from __future__ import annotations

import numpy as np
import torch

from courselib.novelty import NoveltyCurveDataset, change_detector_rnn

FILTER_NAMES = ("echo", "smoothing", "change_detector_recursive", "running_sum_decay")
# Question names: the notebook's headings without their "(N points)".
QUESTIONS = {
    "impulse": "1.1 Impulse responses",
    "finite": "1.2 Finite or infinite response",
    "fir_iir": "1.3 FIR or IIR",
    "pos_weight": "2.1 The positive-class weight",
    "weighted_loss": "2.2 The weighted loss",
    "evaluation": "3.1 Evaluating a model on a dataset",
    "training": "3.2 The training loop",
    "quality": "3.3 Onset detection quality",
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


def novelty(sub, rng: np.random.Generator, n_samples: int, seq_len: int = 64, seed: int | None = None,
            **kwargs):
    """The same NoveltyCurveDataset twice: (built in the submission or None when sub is None, built here).

    Gaussian targets (sigma_target=1.0) unless told; the seed is drawn from rng unless given.
    """
    kwargs.setdefault("sigma_target", 1.0)
    if seed is None:
        seed = int(rng.integers(0, 2**31 - 1))
    settings = {"n_samples": n_samples, "seq_len": seq_len, "seed": seed, **kwargs}
    remote = sub.NoveltyCurveDataset(**settings) if sub is not None else None
    return remote, NoveltyCurveDataset(**settings)


def with_a_dense_last_sequence(sub, rng: np.random.Generator, n_samples: int, seq_len: int = 64):
    """`n_samples` ordinary sequences and, last, one whose events are three times as dense, twice:
    (in the submission, here). With batches of 16 and n_samples a multiple of 16 that sequence is
    a batch of its own, whose loss is far from the others': the mean of the batch losses and their
    mean over the sequences (each batch weighted by its size) then differ for every draw."""
    remote, local = novelty(sub, rng, n_samples=n_samples + 1, seq_len=seq_len)
    _, dense = novelty(None, rng, n_samples=1, seq_len=seq_len, min_gap=4, n_peaks_range=(12, 16))
    local.X[-1], local.Y[-1] = dense.X[0], dense.Y[0]
    remote.X, remote.Y = local.X.clone(), local.Y.clone()
    return remote, local


def _detector_layers(namespace, r: float, dropout: float) -> list:
    layers = [namespace.change_detector_rnn(alpha=0.1, r=r, k=1.0), namespace.nn.Linear(1, 1)]
    if dropout:
        layers.append(namespace.nn.Dropout(dropout))
    return layers


def detector_model(sub, rng: np.random.Generator, dropout: float = 0.0):
    """The lesson's change detector followed by a fixed affine map of its output (logits), twice:
    (built in the submission, built here), with identical weights.

    A usable but imperfect onset detector, so that P, R and F lie strictly between 0 and 1.
    """
    r = float(rng.uniform(0.3, 0.8))
    local = torch.nn.Sequential(change_detector_rnn(alpha=0.1, r=r, k=1.0), torch.nn.Linear(1, 1))
    if dropout:
        local.append(torch.nn.Dropout(dropout))
    with torch.no_grad():
        local[1].weight.fill_(float(rng.uniform(3.0, 5.0)))
        local[1].bias.fill_(float(rng.uniform(-2.5, -1.0)))
    remote = sub.nn.Sequential(*_detector_layers(sub, r, dropout))
    remote.load_state_dict(local.state_dict())
    return remote, local


def random_tanh_rnn(sub, ref, rng: np.random.Generator, hidden_size: int = 6):
    """The notebook's SimpleTanhRNN with seeded random weights (an untrained, erratic detector),
    twice: (built in the submission, built here)."""
    torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
    local = ref.SimpleTanhRNN(hidden_size=hidden_size, bidirectional=True)
    remote = sub.SimpleTanhRNN(hidden_size=hidden_size, bidirectional=True)
    remote.load_state_dict(local.state_dict())
    return remote, local


def training_seed(rng: np.random.Generator) -> int:
    """A seed for seed_everything that is never 0, so that a training function that seeds itself
    with 0 (and so ignores the caller's seeding) differs from the reference for every salt."""
    return int(rng.integers(1, 2**31 - 1))


def run_training(namespace, train_ds, val_ds, batch_size: int, seed: int, shuffle: bool = False,
                 **settings):
    """Seed, build the loaders and call train_SimpleTanhRNN_PRF, all inside `namespace`.

    torch runs on one thread: small recurrent models are fastest so, and timings are steadier.
    """
    namespace.torch.set_num_threads(1)
    namespace.seed_everything(seed)
    train_loader = namespace.DataLoader(train_ds, batch_size=batch_size, shuffle=shuffle)
    val_loader = namespace.DataLoader(val_ds, batch_size=batch_size)
    result = namespace.train_SimpleTanhRNN_PRF(train_loader, val_loader, train_ds, val_ds, **settings)
    assert isinstance(result, tuple | list) and len(result) == 2, (
        "train_SimpleTanhRNN_PRF must return (model, history)"
    )
    return result


def weights_of(model) -> dict:
    """The model's state_dict as CPU tensors (read through the boundary for a submission's model)."""
    state = model.state_dict()
    assert isinstance(state, dict), "the model returned must be a torch module (a SimpleTanhRNN)"
    return {name: value.detach().cpu() for name, value in state.items()}


def local_copy(ref, model, hidden_size: int, bidirectional: bool):
    """A SimpleTanhRNN here with the weights of `model` (which may live in the submission)."""
    copy = ref.SimpleTanhRNN(hidden_size=hidden_size, bidirectional=bidirectional)
    try:
        copy.load_state_dict(weights_of(model))
    except RuntimeError:
        raise AssertionError(
            "the model returned is not a SimpleTanhRNN with the hidden_size and bidirectional "
            "asked for"
        ) from None
    return copy.eval()


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
