"""The counting-ones task of Lab 1.

Inputs are binary sequences; the target at step t is 1 once at least `threshold` ones have been
seen in steps 0..t, and 0 before. The network has to count the ones and remember the count, which
a feed-forward network looking at one step cannot do.
"""

from __future__ import annotations

import numpy as np

# The 22-step sequence the lab uses to test a trained network (7 ones, the third at step 6).
TEST_SEQUENCE = np.array(
    [0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0], dtype=np.float64
).reshape(-1, 1)


def counting_ones_targets(inputs: np.ndarray, threshold: int = 3) -> np.ndarray:
    """Targets (T, 1) for binary inputs (T, 1): 1.0 once the count of ones reaches threshold.

    Steps before that are 0.0.
    """
    counts = np.cumsum(np.asarray(inputs, dtype=np.float64).reshape(-1))
    return (counts >= threshold).astype(np.float64).reshape(-1, 1)


def counting_ones_data(
    n_sequences: int = 200,
    min_len: int = 5,
    max_len: int = 20,
    threshold: int = 3,
    p_one: float = 0.3,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seeded random sequences of varying length and their targets.

    Returns two lists of float64 arrays: inputs, each (T_i, 1) with 0/1 entries, and targets,
    each (T_i, 1), with T_i uniform in [min_len, max_len].
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    if not 0.0 <= p_one <= 1.0:
        raise ValueError(f"p_one must be a probability, got {p_one}")
    rng = np.random.default_rng(seed)
    sequences, targets = [], []
    for _ in range(n_sequences):
        length = int(rng.integers(min_len, max_len + 1))
        inputs = (rng.random(length) < p_one).astype(np.float64).reshape(-1, 1)
        sequences.append(inputs)
        targets.append(counting_ones_targets(inputs, threshold))
    return sequences, targets
