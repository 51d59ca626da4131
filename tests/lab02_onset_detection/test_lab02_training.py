"""Exercise 3 (continued): the training loop train_SimpleTanhRNN_PRF and the detector it trains."""

import math
import time

import numpy as np
import pytest
import torch
from lab02_helpers import (
    column,
    novelty,
    one_thread,  # noqa: F401
    run_training,
)

from courselib.novelty import NoveltyCurveDataset

pytestmark = pytest.mark.usefixtures("one_thread")

KEYS = ("epoch", "train_loss", "val_loss", "P", "R", "F")
# Losses of two runs of the same recipe agree to float32 round-off; 1e-3 leaves room for
# harmless differences (how the batch losses are averaged, the device) but not for a changed
# recipe (another loss weight, accumulated gradients, other training data).
LOSS_RTOL = 1e-3


def _small_data(rng):
    return novelty(rng, n_samples=64, seq_len=64), novelty(rng, n_samples=32, seq_len=64)


def _result(result):
    assert isinstance(result, tuple | list) and len(result) == 2, (
        "train_SimpleTanhRNN_PRF must return (model, history)"
    )
    return result


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(2)
def test_history_has_one_record_per_epoch(sub, rng):
    train_ds, val_ds = _small_data(rng)
    _, history = _result(run_training(sub, train_ds, val_ds, batch_size=16, hidden_size=4, epochs=3))
    assert isinstance(history, list) and len(history) == 3, "history must hold one record per epoch (3 epochs)"
    for key in KEYS:
        column(history, key)
    assert column(history, "epoch") == [1, 2, 3], "history[i]['epoch'] must count the epochs from 1"
    for key in ("train_loss", "val_loss"):
        values = column(history, key)
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), f"{key} must be finite floats"
    for key in "PRF":
        values = column(history, key)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), f"{key} must be floats in [0, 1]"


def _compare_losses(sub, ref, tol, train_ds, val_ds, label, **settings):
    _, history = _result(run_training(sub, train_ds, val_ds, batch_size=16, **settings))
    _, expected = run_training(ref, train_ds, val_ds, batch_size=16, **settings)
    for key in ("train_loss", "val_loss"):
        tol.assert_close(column(history, key), column(expected, key), rtol=LOSS_RTOL, atol=1e-6,
                         what=f"history[...]['{key}'] per epoch ({label})")


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(4)
def test_losses_match_reference(sub, ref, rng, tol):
    train_ds, val_ds = _small_data(rng)
    _compare_losses(sub, ref, tol, train_ds, val_ds,
                    "bidirectional, hidden 5, lr 0.02, clip 0.5, 3 epochs, seeded like the reference",
                    hidden_size=5, bidirectional=True, lr=0.02, clip=0.5, epochs=3)


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(2)
def test_unweighted_loss_without_clipping(sub, ref, rng, tol):
    train_ds, val_ds = _small_data(rng)
    _compare_losses(sub, ref, tol, train_ds, val_ds,
                    "weight_balance=False, clip=None, hidden 6, lr 0.05, 3 epochs",
                    hidden_size=6, lr=0.05, clip=None, weight_balance=False, epochs=3)


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(2)
def test_history_scores_are_validation_scores(sub, ref, rng, tol):
    train_ds, val_ds = _small_data(rng)
    settings = {"tolerance": 1, "height": 0.5, "distance": 6}
    model, history = _result(run_training(sub, train_ds, val_ds, batch_size=16, hidden_size=6,
                                          bidirectional=True, lr=0.03, epochs=3, **settings))
    expected = ref.evaluate_model_dataset(model, val_ds, **settings)
    for key, value in zip("PRF", expected, strict=True):
        tol.assert_close(column(history, key)[-1], value,
                         what=f"history[-1]['{key}'] (validation scores of the final model, "
                              "tolerance=1, height=0.5, distance=6)")


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(1)
def test_validation_data_does_not_change_the_model(sub, rng):
    train_ds, val_a = _small_data(rng)
    val_b = novelty(rng, n_samples=32, seq_len=64, sigma_target=2.0)
    settings = {"hidden_size": 4, "lr": 0.05, "epochs": 2}
    model_a, _ = _result(run_training(sub, train_ds, val_a, batch_size=16, **settings))
    model_b, _ = _result(run_training(sub, train_ds, val_b, batch_size=16, **settings))
    state_b = model_b.state_dict()
    for name, value in model_a.state_dict().items():
        assert torch.equal(value, state_b[name]), (
            f"the trained weights ({name}) depend on the validation data: train on train_loader "
            "only, with pos_weight from train_ds"
        )


@pytest.mark.question("3.2 training loop")
@pytest.mark.points(1)
def test_model_is_returned_in_eval_mode(sub, rng):
    train_ds, val_ds = _small_data(rng)
    model, _ = _result(run_training(sub, train_ds, val_ds, batch_size=16, hidden_size=4, epochs=1))
    assert isinstance(model, torch.nn.Module), f"the model returned is a {type(model).__name__}"
    assert not model.training, "train_SimpleTanhRNN_PRF must return the model in eval mode (model.eval())"


CPU_LIMIT_S = 60.0


@pytest.mark.question("3.3 onset detection quality")
@pytest.mark.points(6)
def test_standard_settings_reach_f_085(sub, ref):
    """The lesson's standard run must reach a validation F_mean of at least 0.85.

    Data as in the lesson: 800 training and 200 validation sequences of 128 samples with
    sigma_target=1.0 (seeds 0 and 1), batches of 32 (training shuffled), seed_everything(0);
    hidden 8, bidirectional, lr 0.01, 15 epochs, clip 1.0, weighted loss, tolerance 2, height 0.4.
    F_mean is measured on the returned model with the reference evaluate_model_dataset.
    Time limit: 60 s of CPU time (torch on one thread); the reference needs about 13 s.
    """
    train_ds = NoveltyCurveDataset(n_samples=800, seq_len=128, sigma_target=1.0, seed=0)
    val_ds = NoveltyCurveDataset(n_samples=200, seq_len=128, sigma_target=1.0, seed=1)
    start = time.process_time()
    model, _ = _result(run_training(sub, train_ds, val_ds, batch_size=32, shuffle=True, seed=0,
                                    hidden_size=8, bidirectional=True, lr=0.01, epochs=15, clip=1.0))
    cpu_s = time.process_time() - start
    assert cpu_s <= CPU_LIMIT_S, (
        f"the standard training run took {cpu_s:.0f} s of CPU time, more than {CPU_LIMIT_S:.0f} s"
    )
    _, _, F = ref.evaluate_model_dataset(model, val_ds)
    assert np.isfinite(F) and F >= 0.85, (
        f"the trained detector reaches a validation F_mean of {F:.3f}; the standard settings "
        "should give at least 0.85"
    )
