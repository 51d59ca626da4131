"""Part 3.4: the quality of the author model trained by the notebook's graded cell.

The notebook's `model` classifies hidden clips of each author, rendered by
`courselib.author_music` with a seed derived from the course's secret salt and featurised here,
in the trusted process, by the reference pipeline (so a broken pipeline in the submission costs
only what it does to training). The clips reach the model in chunks of 25 (16 MB of float32
one-hot features each), in eval() mode and without gradients. Each accuracy threshold of the
config is one test (the pytest plugin gives each test all or nothing); one more test needs both
the recall and the precision of the true author (label 1) at their thresholds. Every one of them
first needs the graded cell within the training budget, as its given lines measured it
(`train_cpu_s`).
"""

import tempfile

import numpy as np
import pytest
import torch
from lab04_helpers import QUESTIONS

from autograder.testing import trained_model, within_the_training_budget
from courselib.author_music import write_author_dataset

QUALITY = QUESTIONS["quality"]
STEPS = 4  # accuracy thresholds in the config, 2 points each
CHUNK = 25  # clips per call: 25 x 10000 x 16 float32 = 16 MB

_features: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_results: dict[int, tuple[dict | None, str]] = {}


def _constants(course, lab_id) -> dict:
    constants = course.lab(lab_id).constants
    thresholds = [float(value) for value in constants["quality_accuracy_thresholds"].split(",")]
    assert len(thresholds) == STEPS and thresholds == sorted(thresholds), (
        f"course_config.py: quality_accuracy_thresholds must hold {STEPS} increasing values"
    )
    return {**constants, "thresholds": thresholds}


def hidden_clips(ref, seed: int, per_author: int) -> tuple[np.ndarray, np.ndarray]:
    """The hidden clips' features (N, 10000, 16) float32 and labels, rendered once per session."""
    if seed not in _features:
        with tempfile.TemporaryDirectory() as folder:
            write_author_dataset(folder, seed=seed, counts={"hidden": {0: per_author, 1: per_author}})
            _features[seed] = ref.load_author_split(folder, "hidden")
    return _features[seed]


def _scores(sub, X: np.ndarray, y: np.ndarray) -> tuple[dict | None, str]:
    with trained_model(sub, "your trained nn.Module") as model:
        chunks = []
        for start in range(0, len(X), CHUNK):
            out = model(torch.from_numpy(X[start:start + CHUNK]))
            n = len(X[start:start + CHUNK])
            assert isinstance(out, torch.Tensor) and tuple(out.shape) == (n, 2), (
                f"model(x) must return logits of shape ({n}, 2) for x of shape ({n}, 10000, 16), got "
                f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}"
            )
            chunks.append(out.detach().double())
    logits = torch.cat(chunks).numpy()
    if not np.all(np.isfinite(logits)):
        return None, "your model's logits on the hidden clips are not finite (nan or inf)"
    pred = logits.argmax(axis=1)
    tp = int(((pred == 1) & (y == 1)).sum())
    return {"accuracy": float((pred == y).mean()),
            "precision": tp / int((pred == 1).sum()) if (pred == 1).any() else 0.0,
            "recall": tp / int((y == 1).sum())}, ""  # fmt: skip


def _quality(sub, ref, course, lab_id, constants) -> tuple[dict | None, str]:
    key = id(sub)
    if key not in _results:
        X, y = hidden_clips(ref, course.seed(lab_id) + 4, constants["hidden_clips_per_author"])
        _results[key] = _scores(sub, X, y)
    return _results[key]


@pytest.mark.question(QUALITY)
@pytest.mark.points(2)
@pytest.mark.parametrize("step", range(STEPS))
def test_accuracy_on_hidden_clips(sub, ref, course, lab_id, step):
    within_the_training_budget(sub, course.lab(lab_id).training_budget_s)
    constants = _constants(course, lab_id)
    threshold = constants["thresholds"][step]
    scores, problem = _quality(sub, ref, course, lab_id, constants)
    assert scores is not None, problem
    assert scores["accuracy"] >= threshold, (
        f"your model's accuracy on the {2 * constants['hidden_clips_per_author']} hidden clips (half of "
        f"each author) is {scores['accuracy']:.3f}; this step needs at least {threshold:.2f} (full "
        f"marks at {constants['thresholds'][-1]:.2f}; always answering one author scores 0.50)"
    )


@pytest.mark.question(QUALITY)
@pytest.mark.points(2)
def test_recall_and_precision_of_the_true_author(sub, ref, course, lab_id):
    within_the_training_budget(sub, course.lab(lab_id).training_budget_s)
    constants = _constants(course, lab_id)
    scores, problem = _quality(sub, ref, course, lab_id, constants)
    assert scores is not None, problem
    recall_min, precision_min = constants["quality_recall_min"], constants["quality_precision_min"]
    assert scores["recall"] >= recall_min and scores["precision"] >= precision_min, (
        f"on the hidden clips, your model finds {scores['recall']:.3f} of the true author's clips "
        f"(recall) and is right on {scores['precision']:.3f} of the clips it attributes to the true "
        f"author (precision); both must be at least {recall_min:.2f} and {precision_min:.2f}"
    )
