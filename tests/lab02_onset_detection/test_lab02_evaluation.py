"""Exercise 3.1: evaluate_model_dataset (peak picking, event P/R/F, macro average).

Models and datasets are built twice with identical weights and seeds: inside the submission for
its function, here for the reference.
"""

import pytest
from lab02_helpers import QUESTIONS, detector_model, novelty, random_tanh_rnn


def _compare(sub, ref, tol, models, datasets, label, **kwargs):
    (remote_model, model), (remote_ds, ds) = models, datasets
    what = f"evaluate_model_dataset({label})"
    got = sub.evaluate_model_dataset(remote_model, remote_ds, **kwargs)
    assert isinstance(got, tuple | list) and len(got) == 3, (
        f"{what} must return (P_mean, R_mean, F_mean), got {type(got).__name__}"
    )
    expected = ref.evaluate_model_dataset(model, ds, **kwargs)
    for name, value, reference in zip(("P_mean", "R_mean", "F_mean"), got, expected, strict=True):
        assert isinstance(value, float), f"{name} of {what} must be a Python float, got {type(value).__name__}"
        tol.assert_close(value, reference, what=f"{name} of {what}")


@pytest.mark.question(QUESTIONS["evaluation"])
@pytest.mark.points(2)
def test_default_arguments(sub, ref, rng, tol, device):
    data = novelty(sub, rng, n_samples=24, seq_len=96)
    remote_model, model = detector_model(sub, rng)
    remote_model.to(device)  # a model on the grading device: the data must follow it there
    _compare(sub, ref, tol, (remote_model, model), data, "change-detector model, 24 sequences, defaults")
    binary = novelty(sub, rng, n_samples=16, seq_len=96, sigma_target=None)
    _compare(sub, ref, tol, detector_model(sub, rng), binary, "change-detector model, binary targets, defaults")
    _compare(sub, ref, tol, random_tanh_rnn(sub, ref, rng), data, "untrained SimpleTanhRNN, defaults")
    # Events exactly 2 * tolerance = 4 steps apart: the default distance 2 * tolerance + 1 = 5 keeps
    # one of two such target peaks, a distance of 4 would keep both
    dense = novelty(sub, rng, n_samples=16, seq_len=96, sigma_target=None, min_gap=4, n_peaks_range=(10, 14))
    _compare(sub, ref, tol, detector_model(sub, rng), dense,
             "binary targets on a grid of 4 steps, defaults (distance None: 2 * tolerance + 1)")


@pytest.mark.question(QUESTIONS["evaluation"])
@pytest.mark.points(2)
def test_tolerance_and_height(sub, ref, rng, tol):
    data = novelty(sub, rng, n_samples=24, seq_len=96)
    models = detector_model(sub, rng)
    for tolerance, height in ((0, 0.4), (1, 0.6), (3, 0.3)):
        _compare(sub, ref, tol, models, data, f"tolerance={tolerance}, height={height}",
                 tolerance=tolerance, height=height)


@pytest.mark.question(QUESTIONS["evaluation"])
@pytest.mark.points(2)
def test_distance_is_honoured(sub, ref, rng, tol):
    data = novelty(sub, rng, n_samples=24, seq_len=96)
    models = detector_model(sub, rng)
    for tolerance, distance in ((2, 12), (2, 1), (1, 8)):
        _compare(sub, ref, tol, models, data, f"tolerance={tolerance}, distance={distance}",
                 tolerance=tolerance, distance=distance)


@pytest.mark.question(QUESTIONS["evaluation"])
@pytest.mark.points(2)
def test_model_is_evaluated_in_eval_mode(sub, ref, rng, tol):
    data = novelty(sub, rng, n_samples=24, seq_len=96)
    remote_model, model = detector_model(sub, rng, dropout=0.5)
    remote_model.train()
    model.train()
    _compare(sub, ref, tol, (remote_model, model), data,
             "a model with dropout, in training mode (evaluate in eval mode, without dropout)")
