"""Part 3.6: the quality of the generator trained by the notebook's graded cell.

The notebook's `model` reads the first 100 samples of each of 1000 hidden validation cosines of
length 1000 (drawn like make_cosine_batch, with a seed derived from the course's secret salt),
then runs free; its MSE over the remaining steps earns points on a linear scale from none at the
always-zero baseline (E[amp^2]/2 = 0.54) to full marks at 0.2, in five steps of 3 points (the
pytest plugin gives each test all or nothing, so each step is one test).

The samples after the warm-up are replaced by zeros before they reach the model: a model that runs
free never reads them, and one that peeks gets nothing useful.
"""

import numpy as np
import pytest
import torch
from lab03_helpers import QUESTIONS, cosines

QUALITY = QUESTIONS["quality"]
N, LENGTH, WARMUP = 1000, 1000, 100
FULL_MARKS_MSE, BASELINE_MSE, STEPS = 0.2, 0.54, 5
# 0.472, 0.404, 0.336, 0.268, 0.200: the MSE at which the linear scale reaches 1/5, 2/5, ... 5/5.
THRESHOLDS = [round(BASELINE_MSE - (BASELINE_MSE - FULL_MARKS_MSE) * k / STEPS, 3)
              for k in range(1, STEPS + 1)]

_results: dict[int, tuple[float | None, str]] = {}


def _free_running_mse(sub, seed: int) -> tuple[float | None, str]:
    x = cosines(np.random.default_rng(seed), N, LENGTH)
    seen = x.clone()
    seen[:, WARMUP:] = 0.0
    model = sub.model
    assert not isinstance(model, int | float | str | list | tuple | dict | np.ndarray | torch.Tensor), (
        "`model` must be your trained CosineGenerator"
    )
    sub.torch.set_grad_enabled(False)
    try:
        model.cpu()
        model.eval()
        out = model(seen, teacher_forcing=0.0, warmup=WARMUP)
    finally:
        sub.torch.set_grad_enabled(True)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (N, LENGTH - 1), (
        f"model(x, teacher_forcing=0.0, warmup={WARMUP}) must return a ({N}, {LENGTH - 1}) tensor "
        f"for x of shape ({N}, {LENGTH})"
    )
    error = (out.detach().double()[:, WARMUP:] - x.double()[:, WARMUP + 1:]) ** 2
    mse = float(error.mean(dim=1).mean())
    if not np.isfinite(mse):
        return None, "your model's free-running predictions are not finite (nan or inf)"
    return mse, ""


def _mse(sub, course, lab_id) -> tuple[float | None, str]:
    key = id(sub)
    if key not in _results:
        seed = course.seed(lab_id) + 3
        _results[key] = _free_running_mse(sub, seed)
    return _results[key]


@pytest.mark.question(QUALITY)
@pytest.mark.points(3)
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_free_running_mse_on_hidden_cosines(sub, course, lab_id, threshold):
    mse, problem = _mse(sub, course, lab_id)
    assert mse is not None, problem
    assert mse <= threshold, (
        f"your model's free-running MSE on the {N} hidden validation cosines (warm-up {WARMUP}) is "
        f"{mse:.4f}; this step of the quality scale needs at most {threshold:.3f} (full marks at "
        f"{FULL_MARKS_MSE}, the always-zero baseline is about {BASELINE_MSE})"
    )
