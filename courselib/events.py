"""Event (onset) evaluation for Lab 2: precision/recall/F with a tolerance, peak picking, and
running a sequence model over a dataset.

Conventions: events are integer frame indices (time index n). A predicted event matches a
reference event when |pred - ref| <= tolerance, and matching is one-to-one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.signal
import torch
from numpy.typing import ArrayLike
from torch.utils.data import Dataset

__all__ = [
    "compute_prediction_dataset",
    "eval_PRF",
    "eval_peaks_dataset",
    "mean_PRF",
    "peak_pick",
]

PRFResult = tuple[float, float, float, bool, bool]


def _events(B: ArrayLike) -> np.ndarray:
    """Events as a sorted 1-D integer array."""
    return np.sort(np.asarray(B, dtype=np.int64).ravel())


def _separated(B: np.ndarray, tolerance: int) -> bool:
    """True when consecutive events are more than 2*tolerance apart (always for <= 1 event)."""
    return bool(np.all(np.diff(B) > 2 * tolerance))


def eval_PRF(B_ref: ArrayLike, B_pred: ArrayLike, tolerance: int = 0) -> PRFResult:
    """Precision, recall and F-measure of predicted events against reference events.

    Both inputs are converted to sorted integer arrays. Matching is one-to-one and greedy:
    predictions are visited in ascending order and each takes the nearest still-unmatched
    reference with |pred - ref| <= tolerance (ties go to the earlier reference).
    TP = matched predictions, FP = unmatched predictions, FN = unmatched references.

    P = TP/(TP+FP) (0 with no predictions), R = TP/(TP+FN) (0 with no references),
    F = 2PR/(P+R) (0 when P+R = 0).

    cond_ref / cond_pred are True when consecutive events of B_ref / B_pred are more than
    2*tolerance apart (and for at most one event). When cond_ref holds the greedy matching is a
    maximum matching (same F as ``mir_eval.onset.f_measure`` with window=tolerance, apart from
    the empty-list conventions); otherwise greedy can find fewer matches than possible.

    Args:
        B_ref: reference event indices, shape (K_ref,).
        B_pred: predicted event indices, shape (K_pred,).
        tolerance: maximal allowed |pred - ref| in frames (>= 0).

    Returns:
        (P, R, F, cond_ref, cond_pred).
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    ref = _events(B_ref)
    pred = _events(B_pred)
    matched = np.zeros(len(ref), dtype=bool)
    tp = 0
    for p in pred:
        dist = np.abs(ref - p).astype(float)
        dist[matched | (dist > tolerance)] = np.inf
        if len(ref) and np.isfinite(dist.min()):
            matched[int(np.argmin(dist))] = True  # argmin: first (earlier) reference on ties
            tp += 1
    fp = len(pred) - tp
    fn = len(ref) - tp
    P = tp / (tp + fp) if len(pred) else 0.0
    R = tp / (tp + fn) if len(ref) else 0.0
    F = 2 * P * R / (P + R) if P + R > 0 else 0.0
    return float(P), float(R), float(F), _separated(ref, tolerance), _separated(pred, tolerance)


def mean_PRF(results: Iterable[PRFResult]) -> PRFResult:
    """Macro average of per-sample results (P, R, F, cond_ref, cond_pred).

    P, R and F are plain means over the samples (so the mean F is not F(P_mean, R_mean)); the
    flags are AND-ed. Raises ValueError for an empty list.
    """
    results = list(results)
    if not results:
        raise ValueError("mean_PRF needs at least one result")
    arr = np.array([r[:3] for r in results], dtype=float)
    P, R, F = arr.mean(axis=0)
    cond_ref = all(bool(r[3]) for r in results)
    cond_pred = all(bool(r[4]) for r in results)
    return float(P), float(R), float(F), cond_ref, cond_pred


def peak_pick(
    curve: ArrayLike, height: float = 0.4, distance: int | None = None, tolerance: int = 0
) -> np.ndarray:
    """Indices of the peaks of a 1-D curve with ``scipy.signal.find_peaks``.

    Peaks must reach ``height`` and be at least ``distance`` samples apart; distance defaults to
    2*tolerance + 1, so that picked events are more than 2*tolerance apart (the condition of
    ``eval_PRF``). find_peaks never reports the first or last index.

    Args:
        curve: shape (T,).
        height: minimal peak height.
        distance: minimal distance between peaks (>= 1), or None for 2*tolerance + 1.
        tolerance: the evaluation tolerance the default distance is derived from.

    Returns:
        Sorted integer array of peak indices, shape (K,).
    """
    if distance is None:
        distance = 2 * int(tolerance) + 1
    curve = np.asarray(curve, dtype=float).ravel()
    peaks, _ = scipy.signal.find_peaks(curve, height=height, distance=distance)
    return peaks.astype(np.int64)


@torch.no_grad()
def compute_prediction_dataset(
    model: torch.nn.Module, ds: Dataset, apply_sigmoid: bool = True, batch_size: int = 64
) -> np.ndarray:
    """Run a sequence model over a dataset and return its outputs as a numpy array (N, T).

    The model maps inputs (B, T, 1) to logits (B, T, 1). It runs in eval mode under
    ``torch.no_grad()`` on the device of its parameters (CPU if it has none); its previous
    train/eval mode is restored afterwards. With ``apply_sigmoid`` the logits are passed through
    a sigmoid (probabilities in [0, 1]).

    Args:
        model: the sequence model.
        ds: dataset whose items are (x, y) with x of shape (T, 1).
        apply_sigmoid: apply torch.sigmoid to the outputs.
        batch_size: number of sequences per forward pass.

    Returns:
        float32 array of shape (N, T) on the CPU.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    outputs = []
    try:
        loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False)
        for x, _ in loader:
            out = model(x.to(device))
            if apply_sigmoid:
                out = torch.sigmoid(out)
            outputs.append(out.reshape(out.shape[0], -1).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs).numpy()


def eval_peaks_dataset(
    targets: ArrayLike,
    predictions: ArrayLike,
    tolerance: int = 2,
    height: float = 0.4,
    distance: int | None = None,
) -> list[PRFResult]:
    """Peak-pick target curves and predictions alike, then evaluate each sample with eval_PRF.

    Args:
        targets: target curves, shape (N, T) (a trailing axis of size 1 is accepted).
        predictions: predicted curves (e.g. probabilities), same shape.
        tolerance: matching tolerance in frames.
        height: peak height threshold for both curves.
        distance: minimal peak distance for both curves; None for 2*tolerance + 1.

    Returns:
        List of N tuples (P, R, F, cond_ref, cond_pred); average them with ``mean_PRF``.
    """
    targets = _as_2d(targets)
    predictions = _as_2d(predictions)
    if targets.shape != predictions.shape:
        raise ValueError(f"shapes differ: {targets.shape} vs {predictions.shape}")
    results = []
    for t, p in zip(targets, predictions, strict=True):
        B_ref = peak_pick(t, height=height, distance=distance, tolerance=tolerance)
        B_pred = peak_pick(p, height=height, distance=distance, tolerance=tolerance)
        results.append(eval_PRF(B_ref, B_pred, tolerance=tolerance))
    return results


def _as_2d(a: ArrayLike | Sequence[ArrayLike]) -> np.ndarray:
    """(N, T) float array from (N, T) or (N, T, 1) input (numpy or torch)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f"expected shape (N, T) or (N, T, 1), got {arr.shape}")
    return arr
