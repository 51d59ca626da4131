"""Exercise 3: evaluate_model_dataset (peak picking, event P/R/F, macro average)."""

import pytest
from lab02_helpers import (
    detector_model,
    novelty,
    one_thread,  # noqa: F401
    random_tanh_rnn,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _scores(result, what):
    assert isinstance(result, tuple | list) and len(result) == 3, (
        f"{what} must return (P_mean, R_mean, F_mean), got {type(result).__name__}"
    )
    return result


def _compare(sub, ref, tol, model, ds, label, **kwargs):
    what = f"evaluate_model_dataset({label})"
    got = _scores(sub.evaluate_model_dataset(model, ds, **kwargs), what)
    expected = ref.evaluate_model_dataset(model, ds, **kwargs)
    for name, value, reference in zip(("P_mean", "R_mean", "F_mean"), got, expected, strict=True):
        tol.assert_close(value, reference, what=f"{name} of {what}")


@pytest.mark.question("3.1 event evaluation")
@pytest.mark.points(2)
def test_default_arguments(sub, ref, rng, tol):
    ds = novelty(rng, n_samples=24, seq_len=96)
    _compare(sub, ref, tol, detector_model(rng), ds, "change-detector model, 24 sequences, defaults")
    binary = novelty(rng, n_samples=16, seq_len=96, sigma_target=None)
    _compare(sub, ref, tol, detector_model(rng), binary, "change-detector model, binary targets, defaults")
    _compare(sub, ref, tol, random_tanh_rnn(ref, rng), ds, "untrained SimpleTanhRNN, defaults")


@pytest.mark.question("3.1 event evaluation")
@pytest.mark.points(2)
def test_tolerance_and_height(sub, ref, rng, tol):
    ds = novelty(rng, n_samples=24, seq_len=96)
    model = detector_model(rng)
    for tolerance, height in ((0, 0.4), (1, 0.6), (3, 0.3)):
        _compare(sub, ref, tol, model, ds, f"tolerance={tolerance}, height={height}",
                 tolerance=tolerance, height=height)


@pytest.mark.question("3.1 event evaluation")
@pytest.mark.points(2)
def test_distance_is_honoured(sub, ref, rng, tol):
    ds = novelty(rng, n_samples=24, seq_len=96)
    model = detector_model(rng)
    for tolerance, distance in ((2, 12), (2, 1), (1, 8)):
        _compare(sub, ref, tol, model, ds, f"tolerance={tolerance}, distance={distance}",
                 tolerance=tolerance, distance=distance)


@pytest.mark.question("3.1 event evaluation")
@pytest.mark.points(2)
def test_model_is_evaluated_in_eval_mode(sub, ref, rng, tol):
    ds = novelty(rng, n_samples=24, seq_len=96)
    model = detector_model(rng, dropout=0.5)
    model.train()
    _compare(sub, ref, tol, model, ds, "a model with dropout (evaluate in eval mode, without dropout)")
