"""The test problem of Lab 1: counting ones in a window.

The input is a binary sequence. The target at step t is 1 when the number of ones in the window of
the last `window_size` inputs (steps max(0, t - window_size + 1) .. t) is even, and 0 when it is
odd. The network has to remember the last `window_size` inputs, which a feed-forward network
looking at one step cannot do. This is the task and the generator of the NNDesign "Nonlinear
Sequence Processing Lab 1", with the same name, signature, shapes and draws.
"""

from __future__ import annotations

import numpy as np

# The 22-step test input of the original lab: longer than the training sequences (10 steps).
TEST_INPUT = np.array([1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0])


def counting_ones_targets(X: np.ndarray, window_size: int) -> np.ndarray:
    """Targets for binary inputs X of shape (seq_length,) or (num_samples, seq_length).

    Returns float32 of X's shape: 1.0 where the window ending at that step holds an even number
    of ones (zero ones counts as even), 0.0 where it holds an odd number.
    """
    if window_size < 1:
        raise ValueError(f"window_size must be at least 1, got {window_size}")
    X = np.asarray(X)
    ones = np.cumsum(X, axis=-1)
    # ones in X[start:t+1] = cumsum[t] - cumsum[t - window_size] (0 before the sequence starts)
    before = np.zeros_like(ones)
    before[..., window_size:] = ones[..., :-window_size]
    return ((ones - before) % 2 == 0).astype(np.float32)


def generate_counting_ones_data(num_samples: int, seq_length: int, window_size: int):
    """Generate input and target data for the "Counting Ones in a Window" task.

    Args:
        num_samples: number of sequences.
        seq_length: length of each binary sequence.
        window_size: number of past steps (the current one included) whose ones are counted.
    Returns:
        X: float32 array (num_samples, seq_length) of 0.0 and 1.0, drawn with np.random (seed
           NumPy first for repeatable data);
        y: float32 array (num_samples, seq_length): y[i, t] = 1.0 when the number of ones in
           X[i, max(0, t - window_size + 1) : t + 1] is even, 0.0 when it is odd.
    The arrays are 2-D, as in the original lab: add a feature axis with np.expand_dims(X, axis=2)
    to get (num_samples, seq_length, 1).
    """
    X = np.random.randint(0, 2, size=(num_samples, seq_length)).astype(np.float32)
    return X, counting_ones_targets(X, window_size)
