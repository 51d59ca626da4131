"""Shared set-up for the Lab 3 hidden tests.

Only plain data (numbers, arrays, tensors, lists, dicts) crosses the boundary to the submission,
so the models and NumPy generators that a submission's functions receive are built *inside* its
namespace (`CosineGenerator`, `np.random.default_rng`), with the same weights and seeds as the
local copies that the reference works on.
"""

from __future__ import annotations

import numpy as np
import torch

ANGULAR_STEP = 0.1
# Question names: the notebook's headings without their "(N points)" (and without backticks).
QUESTIONS = {
    "dataset": "3.1 The data: make_cosine_batch",
    "forward": "3.2 The model: CosineGenerator.forward",
    "generate": "3.3 Generation: generate",
    "schedule": "3.4 The teacher-forcing schedule: teacher_forcing_schedule",
    "training": "3.5 Training: train_generator",
    "evaluation": "3.6 Evaluation: evaluate_generation",
    "quality": "3.7 Graded: train your generator",
}


def seed_of(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def generator_pair(namespace, seed: int):
    """The same NumPy Generator twice: (built in `namespace`, built here)."""
    return namespace.np.random.default_rng(seed), np.random.default_rng(seed)


def model_pair(sub, ref, rng: np.random.Generator, hidden_size: int = 8, num_layers: int = 1,
               state: dict | None = None):
    """A CosineGenerator with seeded random (or given) weights, twice: (in the submission, here)."""
    torch.manual_seed(seed_of(rng))
    local = ref.CosineGenerator(hidden_size=hidden_size, num_layers=num_layers)
    if state is not None:
        local.load_state_dict(state)
    remote = sub.CosineGenerator(hidden_size=hidden_size, num_layers=num_layers)
    remote.load_state_dict({name: value.detach().clone() for name, value in local.state_dict().items()})
    return remote, local


def cosines(rng: np.random.Generator, n: int, length: int, amp_range=(0.5, 1.5)) -> torch.Tensor:
    """(n, length) float32 cosines drawn like make_cosine_batch (amplitude first, then phase)."""
    amp = rng.uniform(amp_range[0], amp_range[1], size=n)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)
    t = np.arange(length) * ANGULAR_STEP
    return torch.tensor(amp[:, None] * np.cos(t[None, :] + phase[:, None]), dtype=torch.float32)


def assert_no_random_draws(sub, call, what: str, seed: int) -> None:
    """`call()` must leave torch's global generator untouched: after manual_seed(seed) and the
    call, the next torch.rand in the submission must equal the first one after manual_seed(seed)."""
    sub.torch.manual_seed(seed)
    call()
    after = sub.torch.rand(8)
    torch.manual_seed(seed)
    assert torch.equal(after, torch.rand(8)), (
        f"{what} drew random numbers from torch's generator; it must draw none"
    )


def partial_in(sub, function, **kwargs):
    """functools.partial(function, **kwargs), built inside the submission (through torch's own
    import of functools), so that autograd helpers there can call a model with keywords."""
    return sub.torch.functools.partial(function, **kwargs)


def one_call(local, x: torch.Tensor) -> torch.Tensor:
    """Teacher-forced next-step predictions (B, L-1) of a local CosineGenerator, one nn.RNN call."""
    with torch.no_grad():
        hidden, _ = local.rnn(x[:, :-1, None])
        return local.readout(hidden).squeeze(-1)


def triple(result, what: str):
    """The (x, amp, phase) of make_cosine_batch, or a clear failure."""
    assert isinstance(result, tuple | list) and len(result) == 3, (
        f"{what} must return a tuple (x, amp, phase)"
    )
    assert all(isinstance(item, torch.Tensor) for item in result), (
        f"{what} must return torch tensors (x, amp, phase)"
    )
    return result
