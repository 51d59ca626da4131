"""Part 2.3-2.4: brier_score, per_class_brier, ranking_metrics, train_classifier, predict_proba."""

import math

import numpy as np
import pytest
import torch
from lab04_helpers import (
    QUESTIONS,
    generator_pair,
    linear_pair,
    pooled_conv_pair,
    seed_of,
    sines,
    state_of,
)

METRICS = QUESTIONS["metrics"]
TRAINING = QUESTIONS["training"]


def _float(value, what: str) -> float:
    assert isinstance(value, float), f"{what} must return a Python float, got {type(value).__name__}"
    return value


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
    # float32 probabilities: computed in float64 all the same
    proba = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]], dtype=np.float32)
    y = np.array([2, 0, 0])
    exact = float(((proba.astype(np.float64) - np.eye(3)[y]) ** 2).sum(axis=1).mean())
    tol.assert_close(_float(sub.brier_score(y, proba), "brier_score"), exact, rtol=1e-12, atol=1e-15,
                     what="brier_score of float32 probabilities (computed in float64)")


@pytest.mark.question(METRICS)
@pytest.mark.points(1)
def test_per_class_brier_is_the_sources_table(sub, rng, tol):
    y, proba = _dirichlet(rng, 50, 3)
    table = sub.per_class_brier(y, proba)
    assert isinstance(table, np.ndarray) and table.dtype == np.float64, (
        f"per_class_brier must return a float64 NumPy array, got {type(table).__name__} "
        f"{getattr(table, 'dtype', '')}"
    )
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
        # The true class first among the tied ones: an order by index (argsort) would rank it higher
        ("the true class, of the lower index, tied with one other at the top", [0], np.array([[0.4, 0.4, 0.2]]), 2),
        ("the true class, of the lower index, tied at the bottom", [1], np.array([[0.5, 0.1, 0.1, 0.3]]), 4),
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
def test_zero_budget_runs_one_batch_and_the_clock_starts_once(sub, ref, rng, tol):
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
    # The clock starts once, before the first epoch, and cpu_s counts from there. An epoch of 3
    # batches of a linear model costs milliseconds: a budget of 0.05 s stops the loop long before
    # 2000 epochs, which a clock restarted every epoch would all run
    budget, epochs = 0.05, 2000
    remote, _ = linear_pair(sub, rng, 12, 3)
    what = f"train_classifier(linear model, X (24, 6, 2), epochs={epochs}, batch_size=8, time_budget_s={budget})"
    history = _history(sub.train_classifier(remote, X[:24], y[:24], epochs=epochs, rng=generator_pair(sub, 1)[0],
                                            batch_size=8, lr=0.01, time_budget_s=budget), what)  # fmt: skip
    cpu = [float(h["cpu_s"]) for h in history]
    assert len(history) < epochs and cpu[-1] >= budget, (
        f"{what} ran {len(history)} epochs and reported cpu_s = {cpu[-1]:.3f} at the end: the budget "
        "counts the CPU time since one start, taken before the first epoch (not one per epoch)"
    )
    assert all(later >= earlier for earlier, later in zip(cpu, cpu[1:])), (
        f"{what}: cpu_s must be the CPU seconds since the start of training, so it never decreases"
    )


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
    remote.eval()  # train_classifier puts the model in train mode first
    history = _history(sub.train_classifier(remote, X, y, rng=remote_rng, **settings), what)
    expected = ref.train_classifier(local, X, y, rng=local_rng, **settings)
    assert [(h["epoch"], h["batches"]) for h in history] == [(1, 5), (2, 5)], (
        f"{what}: expected epochs 1 and 2 of 5 batches each, got {[(h['epoch'], h['batches']) for h in history]}"
    )
    tol.assert_close([h["loss"] for h in history], [h["loss"] for h in expected], rtol=1e-4, atol=1e-6,
                     what=f"per-epoch losses of {what} (batch losses weighted by batch size)")
    _assert_same_weights(remote, local, tol, what)
    assert remote.training, "train_classifier must call model.train() first and leave the model in train mode"
    # Tensors as well as arrays, no clipping (clip=None), and the defaults batch_size=16, lr=1e-3
    remote, local = linear_pair(sub, rng, 10, 3)
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    what = "train_classifier(model, X and y as torch tensors (N=37), epochs=2, rng, clip=None)"
    history = _history(sub.train_classifier(remote, torch.tensor(X), torch.tensor(y), 2, remote_rng, clip=None), what)
    expected = ref.train_classifier(local, X, y, 2, local_rng, clip=None)
    assert [(h["epoch"], h["batches"]) for h in history] == [(1, 3), (2, 3)], (
        f"{what}: expected epochs 1 and 2 of 3 batches each (the default batch_size=16), "
        f"got {[(h['epoch'], h['batches']) for h in history]}"
    )
    tol.assert_close([h["loss"] for h in history], [h["loss"] for h in expected], rtol=1e-4, atol=1e-6,
                     what=f"per-epoch losses of {what}")
    _assert_same_weights(remote, local, tol, f"{what} (the default lr=1e-3, no clipping)")


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_predict_proba_is_a_float64_softmax_and_restores_the_mode(sub, rng, tol):
    X = rng.normal(size=(70, 4, 3)).astype(np.float32)
    # With dropout: in eval() mode it drops nothing, in train mode it would
    remote, local = linear_pair(sub, rng, 12, 5, dropout=0.5)
    with torch.no_grad():
        expected = torch.softmax(local.eval()(torch.tensor(X)).double(), dim=1).numpy()
    # The logits are float32, and so may be the softmax: the config's float32 tolerances
    rtol, atol = tol.for_dtype(np.float32)
    for mode, batch_size in ((True, 32), (False, 32), (True, None)):
        remote.train(mode)
        label = f"predict_proba(model, X (70, 4, 3){'' if batch_size is None else f', batch_size={batch_size}'})"
        if batch_size is None:
            proba = sub.predict_proba(remote, X)  # the default batch_size
        else:
            proba = sub.predict_proba(remote, X, batch_size=batch_size)
        proba = proba.detach().numpy() if isinstance(proba, torch.Tensor) else proba
        assert isinstance(proba, np.ndarray) and proba.dtype == np.float64 and proba.shape == (70, 5), (
            f"{label} must return a float64 NumPy array (70, 5)"
        )
        tol.assert_close(proba.sum(axis=1), np.ones(70), rtol=rtol, atol=atol,
                         what=f"the rows of {label} (probabilities sum to 1, to float32 precision)")
        tol.assert_close(proba, expected, rtol=rtol, atol=atol,
                         what=f"{label} on a model with dropout in {'train' if mode else 'eval'} mode: the "
                              "softmax of the logits computed in eval() mode (dropout off), batch after batch")
        assert remote.training == mode, (
            f"{label} must leave the model in the mode it found it in ({'train' if mode else 'eval'})"
        )


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_train_classifier_teaches_a_pooled_model_random_phase_sines(sub, course, lab_id, rng):
    """The thresholds are the config's, stated in the notebook's question 2.4; the reference
    reaches an accuracy of 1.000 and a Brier score of at most 0.003 (checked on 46 draws)."""
    constants = course.lab(lab_id).constants
    X, y = sines(rng, 100)
    X_test, y_test = sines(rng, 200)
    remote, _ = pooled_conv_pair(sub, rng)
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
    what = ("a small pooled convolutional classifier (built from torch.nn layers) trained by your "
            "train_classifier (15 epochs, batch 32, lr 0.01) on 300 random-phase sines")
    assert accuracy >= constants["sine_accuracy_min"], (
        f"{what} reaches accuracy {accuracy:.3f} on 600 fresh ones; at least "
        f"{constants['sine_accuracy_min']} expected (the reference reaches 1.000)"
    )
    assert brier <= constants["sine_brier_max"], (
        f"{what} has a Brier score of {brier:.3f} on 600 fresh ones; at most "
        f"{constants['sine_brier_max']} expected"
    )
