"""Plot helpers for Lab 2 (recursive filters and RNN onset detection).

All helpers use matplotlib's object API and never call ``plt.show``. Each returns the Figure it
created, or the given Axes when ``ax`` is passed.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from torch.utils.data import Dataset

__all__ = [
    "plot_io",
    "plot_peaks_stem",
    "plot_prediction_example",
    "plot_prediction_examples",
    "visualize_training_pairs",
]

TIME_LABEL = "time index n"
AMP_LABEL = "amplitude"


def _flat(a: ArrayLike) -> np.ndarray:
    """1-D float numpy array from an array-like or tensor of shape (T,) or (T, 1)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=float).ravel()


def _new_ax(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure | None, Axes]:
    """Return (new Figure, its Axes) when ax is None, else (None, ax)."""
    if ax is not None:
        return None, ax
    fig, new_ax = plt.subplots(figsize=figsize)
    return fig, new_ax


def plot_io(
    x: ArrayLike, y: ArrayLike, title: str | None = None, ax: Axes | None = None
) -> Figure | Axes:
    """Stem plot of a filter's input x[n] and output y[n] on one time axis.

    Args:
        x, y: input and output signals, shape (T,) (y may be longer, e.g. zero-padded input).
        title: optional axes title.
        ax: axes to draw into; a new figure is created when None.
    """
    fig, ax = _new_ax(ax, (8, 3))
    x, y = _flat(x), _flat(y)
    ax.stem(np.arange(len(x)), x, linefmt="C0-", markerfmt="C0o", basefmt="k-", label="input x[n]")
    ax.stem(
        np.arange(len(y)) + 0.15,
        y,
        linefmt="C1-",
        markerfmt="C1s",
        basefmt=" ",
        label="output y[n]",
    )
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(AMP_LABEL)
    ax.set_title(title if title is not None else "Filter input and output")
    ax.legend(loc="upper right")
    ax.grid(True, alpha=0.3)
    if fig is None:
        return ax
    fig.tight_layout()
    return fig


def visualize_training_pairs(ds: Dataset, indices: Sequence[int] = (0, 1, 2)) -> Figure:
    """One row per sample: the input novelty curve x and its target y.

    Args:
        ds: dataset whose items are (x, y), each of shape (T, 1).
        indices: which samples to show.
    """
    indices = list(indices)
    if not indices:
        raise ValueError("indices must not be empty")
    fig, axes = plt.subplots(len(indices), 1, figsize=(9, 2.4 * len(indices)), squeeze=False)
    for ax, i in zip(axes[:, 0], indices, strict=True):
        x, y = ds[i]
        x, y = _flat(x), _flat(y)
        n = np.arange(len(x))
        ax.plot(n, x, color="C0", label="input x (novelty curve)")
        ax.plot(n, y, color="C3", linestyle="--", label="target y (onsets)")
        ax.set_title(f"Training pair {i}")
        ax.set_xlabel(TIME_LABEL)
        ax.set_ylabel(AMP_LABEL)
        ax.legend(loc="best")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_prediction_example(
    x: ArrayLike,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    peaks_true: ArrayLike | None = None,
    peaks_pred: ArrayLike | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Input, target and prediction of one sequence, optionally with picked peaks marked.

    Args:
        x: input curve, shape (T,) or (T, 1).
        y_true: target curve, same length.
        y_pred: predicted curve (e.g. probabilities), same length.
        peaks_true, peaks_pred: optional event indices picked on y_true and y_pred.
        ax: axes to draw into; a new figure is created when None.
    """
    fig, ax = _new_ax(ax, (9, 3))
    x, y_true, y_pred = _flat(x), _flat(y_true), _flat(y_pred)
    n = np.arange(len(x))
    ax.plot(n, x, color="0.6", label="input x")
    ax.plot(n, y_true, color="C3", linestyle="--", label="target")
    ax.plot(n, y_pred, color="C0", label="prediction")
    if peaks_true is not None:
        p = np.asarray(peaks_true, dtype=int)
        ax.plot(p, y_true[p], "v", color="C3", markersize=8, label="target peaks")
    if peaks_pred is not None:
        p = np.asarray(peaks_pred, dtype=int)
        ax.plot(p, y_pred[p], "o", color="C0", mfc="none", markersize=8, label="predicted peaks")
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(AMP_LABEL)
    ax.set_title("Target and prediction")
    ax.legend(loc="best", fontsize="small")
    ax.grid(True, alpha=0.3)
    if fig is None:
        return ax
    fig.tight_layout()
    return fig


def plot_prediction_examples(ds: Dataset, predictions: ArrayLike, indices: Sequence[int]) -> Figure:
    """``plot_prediction_example`` for several samples of a dataset, one row each.

    Args:
        ds: dataset whose items are (x, y), each of shape (T, 1).
        predictions: predicted curves, shape (N, T) (e.g. from compute_prediction_dataset).
        indices: which samples to show.
    """
    indices = list(indices)
    if not indices:
        raise ValueError("indices must not be empty")
    predictions = np.asarray(predictions, dtype=float)
    fig, axes = plt.subplots(len(indices), 1, figsize=(9, 2.6 * len(indices)), squeeze=False)
    for ax, i in zip(axes[:, 0], indices, strict=True):
        x, y = ds[i]
        plot_prediction_example(x, y, predictions[i], ax=ax)
        ax.set_title(f"Sample {i}: target and prediction")
    fig.tight_layout()
    return fig


def plot_peaks_stem(
    B_ref: ArrayLike, B_pred: ArrayLike, T: int, tolerance: int, ax: Axes | None = None
) -> Figure | Axes:
    """Reference and predicted events as stems, with the tolerance window around each reference.

    Args:
        B_ref, B_pred: reference and predicted event indices.
        T: sequence length (x-axis range 0..T-1).
        tolerance: matching tolerance in frames (shaded +-tolerance around references).
        ax: axes to draw into; a new figure is created when None.
    """
    fig, ax = _new_ax(ax, (9, 2.5))
    ref = np.asarray(B_ref, dtype=int).ravel()
    pred = np.asarray(B_pred, dtype=int).ravel()
    for j, b in enumerate(ref):
        ax.axvspan(
            b - tolerance - 0.5,
            b + tolerance + 0.5,
            color="C3",
            alpha=0.12,
            label=f"tolerance \u00b1{tolerance}" if j == 0 else None,
        )
    if len(ref):
        ax.stem(
            ref, np.ones(len(ref)), linefmt="C3-", markerfmt="C3v", basefmt=" ", label="reference"
        )
    if len(pred):
        ax.stem(
            pred,
            0.7 * np.ones(len(pred)),
            linefmt="C0-",
            markerfmt="C0o",
            basefmt=" ",
            label="prediction",
        )
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(0, 1.2)
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel("event")
    ax.set_title(f"Reference and predicted events (tolerance {tolerance})")
    if len(ref) or len(pred):
        ax.legend(loc="upper right", fontsize="small")
    ax.grid(True, alpha=0.3)
    if fig is None:
        return ax
    fig.tight_layout()
    return fig
