"""Part 3.7: the quality of the generator trained by the notebook's graded cell.

The notebook's `model` reads the first samples (the warm-up) of each hidden validation cosine
(drawn like make_cosine_batch, with a seed derived from the course's secret salt), then runs
free; its MSE over the remaining steps earns points on a linear scale from none at the
always-zero baseline (E[amp^2]/2 = 0.54) to full marks. The numbers (how many cosines, their
length, the warm-up and the thresholds of the scale) come from the lab's `constants` in
course_config.py, the same numbers the notebook's text states; the pytest plugin gives each test
all or nothing, so each threshold is one test.

The samples after the warm-up are replaced by zeros before they reach the model: a model that runs
free never reads them, and one that peeks gets nothing useful.

The quality points need the graded cell within the training budget: its given lines measure the
cell's CPU time in `train_cpu_s`, which every quality test checks first.
"""

import numpy as np
import pytest
import torch
from lab03_helpers import QUESTIONS, cosines

from autograder.testing import trained_model, within_the_training_budget

QUALITY = QUESTIONS["quality"]
# One test per threshold of the config's quality scale (the config holds their values).
STEPS = 5

_results: dict[int, tuple[float | None, str]] = {}


def _constants(course, lab_id) -> dict:
    constants = course.lab(lab_id).constants
    thresholds = [float(value) for value in constants["quality_mse_thresholds"].split(",")]
    assert len(thresholds) == STEPS and thresholds == sorted(thresholds, reverse=True), (
        f"course_config.py: quality_mse_thresholds must hold {STEPS} decreasing values"
    )
    return {**constants, "thresholds": thresholds}


def _free_running_mse(sub, seed: int, n: int, length: int, warmup: int) -> tuple[float | None, str]:
    x = cosines(np.random.default_rng(seed), n, length)
    seen = x.clone()
    seen[:, warmup:] = 0.0
    with trained_model(sub, "your trained CosineGenerator") as model:
        out = model(seen, teacher_forcing=0.0, warmup=warmup)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (n, length - 1), (
        f"model(x, teacher_forcing=0.0, warmup={warmup}) must return a ({n}, {length - 1}) tensor "
        f"for x of shape ({n}, {length})"
    )
    error = (out.detach().double()[:, warmup:] - x.double()[:, warmup + 1:]) ** 2
    mse = float(error.mean(dim=1).mean())
    if not np.isfinite(mse):
        return None, "your model's free-running predictions are not finite (nan or inf)"
    return mse, ""


def _mse(sub, course, lab_id, constants) -> tuple[float | None, str]:
    key = id(sub)
    if key not in _results:
        seed = course.seed(lab_id) + 3
        _results[key] = _free_running_mse(sub, seed, constants["validation_cosines"],
                                           constants["validation_length"], constants["validation_warmup"])
    return _results[key]


@pytest.mark.question(QUALITY)
@pytest.mark.points(3)
@pytest.mark.parametrize("step", range(STEPS))
def test_free_running_mse_on_hidden_cosines(sub, course, lab_id, step):
    within_the_training_budget(sub, course.lab(lab_id).training_budget_s)
    constants = _constants(course, lab_id)
    threshold = constants["thresholds"][step]
    mse, problem = _mse(sub, course, lab_id, constants)
    assert mse is not None, problem
    assert mse <= threshold, (
        f"your model's free-running MSE on the {constants['validation_cosines']} hidden validation "
        f"cosines (warm-up {constants['validation_warmup']}) is {mse:.4f}; this step of the quality "
        f"scale needs at most {threshold:.3f} (full marks at {constants['thresholds'][-1]:.3f}, the "
        f"always-zero baseline is about {constants['zero_baseline_mse']})"
    )
