"""Recursive (IIR) filters of Lab 2, following PCPT Unit 9.

Every filter takes a 1-D array-like input ``x`` and returns a float64 numpy array ``y`` of the same
length. With ``length`` given, ``x`` is first zero-padded at the end to that length (so an
impulse response can be seen beyond the input); a ``length`` shorter than ``len(x)`` raises
ValueError. All filters start at initial rest: every past value x[n], y[n] with n < 0 is zero.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["change_detector_recursive", "echo", "running_sum_decay", "smoothing"]


def _prepare(x: ArrayLike, length: int | None) -> np.ndarray:
    """Return ``x`` as a 1-D float64 array, zero-padded to ``length`` when given."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    if length is None:
        return x.copy()
    length = int(length)
    if length < len(x):
        raise ValueError(f"length ({length}) must be >= len(x) ({len(x)})")
    out = np.zeros(length)
    out[: len(x)] = x
    return out


def echo(x: ArrayLike, delay: int = 3, gain: float = 0.6, length: int | None = None) -> np.ndarray:
    """Recursive echo: y[n] = x[n] + gain * y[n - delay], at initial rest.

    Impulse response: h[m * delay] = gain**m for m = 0, 1, 2, ... and 0 elsewhere
    (an echo every ``delay`` samples, each ``gain`` times the previous one).

    Args:
        x: input signal, shape (N,).
        delay: echo delay in samples (>= 1).
        gain: feedback gain (|gain| < 1 for a decaying echo).
        length: optional output length >= N; ``x`` is zero-padded to it.

    Returns:
        y, float64 array of shape (length or N,).
    """
    if int(delay) < 1:
        raise ValueError(f"delay must be >= 1, got {delay}")
    delay = int(delay)
    x = _prepare(x, length)
    y = np.zeros_like(x)
    for n in range(len(x)):
        y[n] = x[n] + (gain * y[n - delay] if n >= delay else 0.0)
    return y


def smoothing(x: ArrayLike, s: float = 0.5, length: int | None = None) -> np.ndarray:
    """Exponential smoothing: y[n] = s * x[n] + (1 - s) * y[n-1], at initial rest (PCPT Unit 9).

    A weighted average of the current input and the previous output: a small s gives a smoother
    output (0 < s <= 1 in the lesson). Impulse response: h[n] = s * (1 - s)**n for n >= 0. With
    s = 1 the output is the input itself (h = delta); with s = 0 it stays 0 (the filter ignores
    its input). Both are finite responses.

    Args:
        x: input signal, shape (N,).
        s: smoothing factor (0 < s < 2 for a stable filter; 0 < s <= 1 for a low-pass average).
        length: optional output length >= N; ``x`` is zero-padded to it.

    Returns:
        y, float64 array of shape (length or N,).
    """
    x = _prepare(x, length)
    y = np.zeros_like(x)
    prev = 0.0
    for n in range(len(x)):
        prev = s * x[n] + (1.0 - s) * prev
        y[n] = prev
    return y


def change_detector_recursive(
    x: ArrayLike, r: float = 0.6, k: float = 1.0, length: int | None = None
) -> np.ndarray:
    """Recursive change detector: y[n] = r * y[n-1] + k * (x[n] - x[n-1]), at initial rest.

    This is the RNN form of the lesson (hidden state [y, x]): the impulse response starts with k,
    h = [k, k(r - 1), k(r - 1)r, k(r - 1)r**2, ...], i.e. h[0] = k and h[n] = k(r - 1)r**(n-1)
    for n >= 1. It responds to increases of the input (positive) and decreases (negative) and
    forgets with ratio r.

    Args:
        x: input signal, shape (N,).
        r: decay ratio of the feedback (|r| < 1 for stability).
        k: gain of the first difference.
        length: optional output length >= N; ``x`` is zero-padded to it.

    Returns:
        y, float64 array of shape (length or N,).
    """
    x = _prepare(x, length)
    y = np.zeros_like(x)
    prev_y = 0.0
    prev_x = 0.0
    for n in range(len(x)):
        prev_y = r * prev_y + k * (x[n] - prev_x)
        prev_x = x[n]
        y[n] = prev_y
    return y


def running_sum_decay(x: ArrayLike, r: float = 0.8, length: int | None = None) -> np.ndarray:
    """Running sum with decay (leaky integrator): y[n] = r * y[n-1] + x[n], at initial rest.

    Impulse response: h[n] = r**n for n >= 0 (r = 1: plain running sum, a step; r = 0: the
    impulse itself).

    Args:
        x: input signal, shape (N,).
        r: decay ratio (|r| < 1 for stability).
        length: optional output length >= N; ``x`` is zero-padded to it.

    Returns:
        y, float64 array of shape (length or N,).
    """
    x = _prepare(x, length)
    y = np.zeros_like(x)
    prev = 0.0
    for n in range(len(x)):
        prev = r * prev + x[n]
        y[n] = prev
    return y
