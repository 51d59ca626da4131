"""Part 2.3-2.4: brier_score, per_class_brier, ranking_metrics, train_classifier, predict_proba."""

import math

import numpy as np
import pytest
import torch
from lab04_helpers import QUESTIONS, generator_pair, linear_pair, seed_of, sines, state_of

METRICS = QUESTIONS["metrics"]
TRAINING = QUESTIONS["training"]


def _float(value, what: str) -> float:
    assert isinstance(value, float | int | np.floating) and not isinstance(value, bool), (
        f"{what} must return a float, got {type(value).__name__}"
    )
    return float(value)


def _dirichlet(rng, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, k, size=n), rng.dirichlet(np.ones(k), size=n)


@pytest.mark.question(METRICS)
@pytest.mark.points(2)
def test_brier_score_is_the_multiclass_sum(sub, rng, tol):
    for k in (2, 3, 5):
        y, proba = _dirichlet(rng, 40, k)
        expected = float(((proba - np.eye(k)[y]) ** 2).sum(axis=1).mean())
        tol.assert_close(_float(sub.brier_score(y, proba), "brier_score"), expected, rtol=1e-9, atol=1e-12,
                         what=f"brier_score on {k} classes: the mean over examples of the SUM over "
                              "classes of (proba[i, k] - [y_i == k])**2")


@pytest.mark.question(METRICS)
@pytest.mark.points(1)
def test_brier_score_edges_and_absent_classes(sub, tol):
    cases = [
        ("perfect and certain", [0, 2, 1], np.eye(3)[[0, 2, 1]], 0.0),
        ("uniform guessing on 4 classes", [0, 1, 3], np.full((3, 4), 0.25), 0.75),
        ("certain and wrong", [0, 1], np.eye(3)[[1, 2]], 2.0),
        # Classes 2 and 3 never occur in y_true: K still comes from proba.
        ("only classes 0 and 1 in y_true, K = 4 from proba", [0, 1, 1],
         np.array([[0.5, 0.1, 0.2, 0.2], [0.1, 0.6, 0.3, 0.0], [0.0, 0.7, 0.0, 0.3]]),
         (0.25 + 0.01 + 0.04 + 0.04 + 0.01 + 0.16 + 0.09 + 0.09 + 0.09) / 3),
        ("one example of class 0 with 3 columns", [0], np.array([[0.2, 0.3, 0.5]]), 0.64 + 0.09 + 0.25),
    ]
    for label, y, proba, expected in cases:
        tol.assert_close(_float(sub.brier_score(np.array(y), proba), "brier_score"), expected,
                         rtol=1e-9, atol=1e-12, what=f"brier_score: {label}")


@pytest.mark.question(METRICS)
@pytest.mark.points(1)
def test_per_class_brier_is_the_sources_table(sub, rng, tol):
    y, proba = _dirichlet(rng, 50, 3)
    table = sub.per_class_brier(y, proba)
    table = np.asarray(table.detach() if hasattr(table, "detach") else table, dtype=np.float64)
    assert table.shape == (3,), f"per_class_brier must return an array of shape (K,) = (3,), got {table.shape}"
    tol.assert_close(table, ((proba - np.eye(3)[y]) ** 2).mean(axis=0), rtol=1e-9, atol=1e-12,
                     what="per_class_brier: the binary Brier score of each column")
    tol.assert_close(table.sum(), _float(sub.brier_score(y, proba), "brier_score"), rtol=1e-9, atol=1e-12,
                     what="per_class_brier(...).sum() == brier_score(...)")


def _ranking(sub, y, proba) -> dict:
    result = sub.ranking_metrics(y, proba)
    assert isinstance(result, dict) and {"coverage_error", "lrap", "ranking_loss"} <= set(result), (
        "ranking_metrics must return a dict with coverage_error, lrap and ranking_loss"
    )
    return {key: _float(result[key], f"ranking_metrics()[{key!r}]")
            for key in ("coverage_error", "lrap", "ranking_loss")}  # fmt: skip


@pytest.mark.question(METRICS)
@pytest.mark.points(2)
def test_ranking_metrics_on_untied_scores(sub, ref, rng, tol):
    y, proba = _dirichlet(rng, 60, 4)
    got, expected = _ranking(sub, y, proba), ref.ranking_metrics(y, proba)
    for key in expected:
        tol.assert_close(got[key], expected[key], rtol=1e-9, atol=1e-12,
                         what=f"ranking_metrics: {key} (rank of the true class, 1 = top)")


@pytest.mark.question(METRICS)
@pytest.mark.points(1)
def test_ties_count_against_the_true_class(sub, tol):
    cases = [
        ("all four classes tied", [2], np.full((1, 4), 0.25), 4),
        ("the true class tied with one other at the top", [1], np.array([[0.4, 0.4, 0.2]]), 2),
        ("the true class tied with one other at the bottom", [2], np.array([[0.5, 0.1, 0.1, 0.3]]), 4),
    ]
    for label, y, proba, rank in cases:
        got = _ranking(sub, np.array(y), proba)
        k = proba.shape[1]
        for key, expected in (("coverage_error", rank), ("lrap", 1 / rank), ("ranking_loss", (rank - 1) / (k - 1))):
            tol.assert_close(got[key], expected, rtol=1e-9, atol=1e-12,
                             what=f"ranking_metrics, {label}: {key} (a class scored as high as the "
                                  f"true one ranks above it, so the true class has rank {rank})")


# ------------------------------------------------------------------------------- training


def _history(value, what: str) -> list:
    assert isinstance(value, list) and all(isinstance(item, dict) for item in value), (
        f"{what} must return a list of dicts, one per epoch"
    )
    for item in value:
        assert {"epoch", "loss", "batches", "cpu_s"} <= set(item), (
            f"{what}: each epoch's dict needs epoch, loss, batches and cpu_s"
        )
        assert isinstance(item["loss"], float) and math.isfinite(item["loss"]), (
            f"{what}: the loss must be a finite Python float"
        )
    return value


def _assert_same_weights(remote, local, tol, what: str) -> None:
    trained = state_of(remote)
    for name, value in state_of(local).items():
        tol.assert_close(trained[name], value, rtol=1e-4, atol=1e-6, what=f"{name} after {what}")


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_zero_budget_runs_exactly_one_batch(sub, ref, rng, tol):
    X = rng.normal(size=(30, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    remote, local = linear_pair(sub, rng, 12, 3)
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    what = "train_classifier(model, X (30, 6, 2), y, epochs=4, rng, batch_size=8, lr=0.05, time_budget_s=0.0)"
    history = _history(sub.train_classifier(remote, X, y, epochs=4, rng=remote_rng, batch_size=8, lr=0.05,
                                            time_budget_s=0.0), what)  # fmt: skip
    assert len(history) == 1 and history[0]["batches"] == 1 and history[0]["epoch"] == 1, (
        f"{what}: a zero budget must run exactly one batch (the budget is checked after each batch: "
        f"once the CPU time used reaches it, the loop stops); got {[(h['epoch'], h['batches']) for h in history]}"
    )
    # The same step written out: Adam on the first batch of the first epoch's permutation.
    index = torch.as_tensor(local_rng.permutation(30)[:8])
    optimiser = torch.optim.Adam(local.parameters(), lr=0.05)
    loss = torch.nn.functional.cross_entropy(local(torch.tensor(X)[index]), torch.tensor(y)[index])
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(local.parameters(), 1.0)
    optimiser.step()
    tol.assert_close(history[0]["loss"], loss.item(), rtol=1e-5, atol=1e-7,
                     what=f"the loss of the one batch of {what} (batch order[:8] of rng.permutation(30))")
    _assert_same_weights(remote, local, tol, f"{what} (one Adam step, gradients clipped at 1.0)")


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_losses_and_weights_match_the_reference(sub, ref, rng, tol):
    X = rng.normal(size=(37, 10)).astype(np.float32)
    y = rng.integers(0, 3, size=37)
    remote, local = linear_pair(sub, rng, 10, 3)
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    settings = dict(epochs=2, batch_size=8, lr=0.05, lr_min=0.005, clip=0.5, class_weight=(1.0, 2.0, 0.5))
    what = ("train_classifier(N=37, epochs=2, batch_size=8 (last batch 5), lr=0.05, lr_min=0.005, "
            "clip=0.5, class_weight=(1, 2, 0.5))")
    history = _history(sub.train_classifier(remote, X, y, rng=remote_rng, **settings), what)
    expected = ref.train_classifier(local, X, y, rng=local_rng, **settings)
    assert [(h["epoch"], h["batches"]) for h in history] == [(1, 5), (2, 5)], (
        f"{what}: expected epochs 1 and 2 of 5 batches each, got {[(h['epoch'], h['batches']) for h in history]}"
    )
    tol.assert_close([h["loss"] for h in history], [h["loss"] for h in expected], rtol=1e-4, atol=1e-6,
                     what=f"per-epoch losses of {what} (batch losses weighted by batch size)")
    _assert_same_weights(remote, local, tol, what)
    assert remote.training, "train_classifier must leave the model in train mode"


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_predict_proba_is_a_float64_softmax_and_restores_the_mode(sub, rng, tol):
    X = rng.normal(size=(70, 4, 3)).astype(np.float32)
    remote, local = linear_pair(sub, rng, 12, 5)
    with torch.no_grad():
        expected = torch.softmax(local(torch.tensor(X)).double(), dim=1).numpy()
    for mode in (True, False):
        remote.train(mode)
        proba = sub.predict_proba(remote, X, batch_size=32)
        proba = proba.detach().numpy() if isinstance(proba, torch.Tensor) else proba
        assert isinstance(proba, np.ndarray) and proba.dtype == np.float64 and proba.shape == (70, 5), (
            "predict_proba(model, X (70, 4, 3), batch_size=32) must return a float64 NumPy array (70, 5)"
        )
        tol.assert_close(proba.sum(axis=1), np.ones(70), rtol=1e-9, atol=1e-9,
                         what="the rows of predict_proba (probabilities sum to 1)")
        tol.assert_close(proba, expected, rtol=1e-5, atol=1e-7,
                         what="predict_proba: the softmax of the model's logits, batch after batch")
        assert remote.training == mode, (
            f"predict_proba must leave the model in the mode it found it in ({'train' if mode else 'eval'})"
        )


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_a_pooled_gru_learns_random_phase_sines(sub, course, lab_id, rng):
    constants = course.lab(lab_id).constants
    X, y = sines(rng, 100)
    X_test, y_test = sines(rng, 200)
    sub.torch.manual_seed(seed_of(rng))
    remote = sub.SequenceClassifier(hidden_size=16, cell="gru", pooling="meanmax")
    remote_rng, _ = generator_pair(sub, seed_of(rng))
    _history(sub.train_classifier(remote, X, y, epochs=15, rng=remote_rng, batch_size=32, lr=1e-2),
             "train_classifier")  # fmt: skip
    remote.eval()
    sub.torch.set_grad_enabled(False)
    try:
        logits = remote(torch.tensor(X_test))
    finally:
        sub.torch.set_grad_enabled(True)
    proba = torch.softmax(logits.detach().double(), dim=1).numpy()
    accuracy = float((proba.argmax(1) == y_test).mean())
    brier = float(((proba - np.eye(3)[y_test]) ** 2).sum(axis=1).mean())
    what = ('a SequenceClassifier(hidden_size=16, cell="gru", pooling="meanmax") trained by your '
            "train_classifier (15 epochs, batch 32, lr 0.01) on 300 random-phase sines")
    assert accuracy >= constants["sine_accuracy_min"], (
        f"{what} reaches accuracy {accuracy:.3f} on 600 fresh ones; at least "
        f"{constants['sine_accuracy_min']} expected (the reference reaches 1.000)"
    )
    assert brier <= constants["sine_brier_max"], (
        f"{what} has a Brier score of {brier:.3f} on 600 fresh ones; at most "
        f"{constants['sine_brier_max']} expected"
    )
