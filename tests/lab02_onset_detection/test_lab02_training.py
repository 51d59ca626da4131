"""Exercises 3.2 and 3.3: the training loop train_SimpleTanhRNN_PRF and the detector it trains.

Datasets and loaders are built inside the submission (same seeds as the reference's), the
generators are seeded there with seed_everything (with a seed drawn per test, never 0), and the
submission's losses and weights are compared with a reference run of the same recipe.
"""

import math

import numpy as np
import pytest
import torch
from lab02_helpers import (
    QUESTIONS,
    column,
    local_copy,
    novelty,
    run_training,
    training_seed,
    weights_of,
    with_a_dense_last_sequence,
)

TRAINING = QUESTIONS["training"]
QUALITY = QUESTIONS["quality"]
PRF_KEYS = ("train_P", "train_R", "train_F", "val_P", "val_R", "val_F")
KEYS = ("epoch", "train_loss", "val_loss", *PRF_KEYS)
# Losses of two runs of the same recipe agree to float32 round-off; 1e-3 leaves room for
# harmless differences (the order of a sum, the device) but not for a changed recipe (another
# loss weight, accumulated gradients, other training data, other seeding, batch losses averaged
# without their sizes).
LOSS_RTOL = 1e-3


def _small_data(sub, rng):
    return novelty(sub, rng, n_samples=64, seq_len=64), novelty(sub, rng, n_samples=32, seq_len=64)


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_history_has_one_record_per_epoch_with_the_default_settings(sub, ref, rng, tol):
    # Every setting left at its default (hidden_size=8, bidirectional=False, lr=0.01, epochs=20,
    # clip=1.0, weight_balance=True, tolerance=2, height=0.4, distance=None), on a small set
    (train_ds, local_train), (val_ds, local_val) = (novelty(sub, rng, n_samples=16, seq_len=32),
                                                     novelty(sub, rng, n_samples=8, seq_len=32))
    seed = training_seed(rng)
    _, history = run_training(sub, train_ds, val_ds, batch_size=16, seed=seed)
    assert isinstance(history, list) and len(history) == 20, (
        "history must hold one record per epoch (the default: 20 epochs)"
    )
    for key in KEYS:
        column(history, key)
    assert column(history, "epoch") == list(range(1, 21)), "history[i]['epoch'] must count the epochs from 1"
    _, expected = run_training(ref, local_train, local_val, batch_size=16, seed=seed)
    for key in KEYS[1:]:
        tol.assert_close(column(history, key), column(expected, key), rtol=LOSS_RTOL, atol=1e-6,
                         what=f"history[...]['{key}'] per epoch with the default settings")
    for key in ("train_loss", "val_loss"):
        values = column(history, key)
        assert all(isinstance(v, float) and math.isfinite(v) for v in values), f"{key} must be finite floats"
    for key in PRF_KEYS:
        values = column(history, key)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), f"{key} must be floats in [0, 1]"


def _both_runs(sub, ref, rng, ragged: bool = False, **settings):
    """The submission's and the reference's run on the same data with the same (non-zero) seed;
    `ragged`: each set ends with a batch of one dense sequence (see with_a_dense_last_sequence)."""
    if ragged:
        (remote_train, train_ds), (remote_val, val_ds) = (with_a_dense_last_sequence(sub, rng, 64),
                                                          with_a_dense_last_sequence(sub, rng, 32))
    else:
        (remote_train, train_ds), (remote_val, val_ds) = _small_data(sub, rng)
    seed = training_seed(rng)
    model, history = run_training(sub, remote_train, remote_val, batch_size=16, seed=seed, **settings)
    expected_model, expected = run_training(ref, train_ds, val_ds, batch_size=16, seed=seed, **settings)
    return (model, history), (expected_model, expected)


def _compare_losses(sub, ref, tol, rng, label, ragged: bool = False, **settings):
    (_, history), (_, expected) = _both_runs(sub, ref, rng, ragged, **settings)
    for key in ("train_loss", "val_loss"):
        tol.assert_close(column(history, key), column(expected, key), rtol=LOSS_RTOL, atol=1e-6,
                         what=f"history[...]['{key}'] per epoch ({label})")


@pytest.mark.question(TRAINING)
@pytest.mark.points(3)
def test_losses_match_reference(sub, ref, rng, tol):
    _compare_losses(sub, ref, tol, rng,
                    "bidirectional, hidden 5, lr 0.02, clip 0.5, 3 epochs, seeded by the caller "
                    "like the reference",
                    hidden_size=5, bidirectional=True, lr=0.02, clip=0.5, epochs=3)


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_unweighted_loss_without_clipping_and_a_small_last_batch(sub, ref, rng, tol):
    _compare_losses(sub, ref, tol, rng,
                    "weight_balance=False, clip=None, hidden 6, lr 0.05, 3 epochs; 65 training and 33 "
                    "validation sequences in batches of 16, so the last batch of each holds one sequence "
                    "(average over sequences: a batch counts with its size)",
                    ragged=True, hidden_size=6, lr=0.05, clip=None, weight_balance=False, epochs=3)


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_gradients_are_clipped_before_each_step(sub, ref, rng, tol):
    """With clip far below Adam's eps (1e-8), a clipped step moves each weight by at most about
    lr/100, an unclipped one by about lr: the weights show whether the step used the clipped
    gradient, for every draw (clipping after optimizer.step() changes nothing the step used)."""
    (model, _), (expected_model, _) = _both_runs(sub, ref, rng, hidden_size=4, lr=0.05, clip=1e-10, epochs=1)
    expected = weights_of(expected_model)
    for name, value in weights_of(model).items():
        tol.assert_close(value, expected[name], rtol=1e-4, atol=1e-6,
                         what=f"{name} after one epoch with clip=1e-10 (clip the gradients between "
                              "loss.backward() and optimizer.step())")


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_history_scores_are_training_and_validation_scores(sub, ref, rng, tol):
    (remote_train, train_ds), (remote_val, val_ds) = _small_data(sub, rng)
    settings = {"tolerance": 1, "height": 0.5, "distance": 25}
    model, history = run_training(sub, remote_train, remote_val, batch_size=16, seed=training_seed(rng),
                                  hidden_size=6, bidirectional=True, lr=0.03, epochs=3, **settings)
    final = local_copy(ref, model, 6, True)
    for prefix, ds in (("val_", val_ds), ("train_", train_ds)):
        expected = ref.evaluate_model_dataset(final, ds, **settings)
        for key, value in zip("PRF", expected, strict=True):
            tol.assert_close(column(history, prefix + key)[-1], value,
                             what=f"history[-1]['{prefix}{key}'] (scores of the final model on the "
                                  f"{'validation' if prefix == 'val_' else 'training'} set, "
                                  "tolerance=1, height=0.5, distance=25)")


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_validation_data_does_not_change_the_model(sub, rng):
    (train_ds, _), (val_a, _) = _small_data(sub, rng)
    val_b, _ = novelty(sub, rng, n_samples=32, seq_len=64, sigma_target=2.0)
    settings = {"hidden_size": 4, "lr": 0.05, "epochs": 2, "seed": training_seed(rng)}
    model_a, _ = run_training(sub, train_ds, val_a, batch_size=16, **settings)
    model_b, _ = run_training(sub, train_ds, val_b, batch_size=16, **settings)
    weights_b = weights_of(model_b)
    for name, value in weights_of(model_a).items():
        assert torch.equal(value, weights_b[name]), (
            f"the trained weights ({name}) depend on the validation data: train on train_loader "
            "only, with pos_weight from train_ds"
        )


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_model_is_returned_in_eval_mode(sub, rng):
    (train_ds, _), (val_ds, _) = _small_data(sub, rng)
    model, _ = run_training(sub, train_ds, val_ds, batch_size=16, seed=training_seed(rng),
                            hidden_size=4, epochs=1)
    training = model.training
    assert isinstance(training, bool), "the model returned must be a torch module (a SimpleTanhRNN)"
    assert not training, "train_SimpleTanhRNN_PRF must return the model in eval mode (model.eval())"


@pytest.mark.question(QUALITY)
@pytest.mark.points(6)
def test_standard_run_reaches_the_quality_threshold(sub, ref, course, lab_id):
    """The lesson's standard run must reach the validation F_mean of the course config, in time.

    Data as in the lesson (PCPT Unit 9): the config's standard numbers of training and validation
    sequences (200 and 100) of 128 samples with sigma_target=1.0 (seeds 0 and 1), batches of 32
    (training shuffled), seed_everything(0), torch on one thread; hidden 8, bidirectional,
    lr 0.01, 15 epochs, clip 1.0, weighted loss, tolerance 2, height 0.4. F_mean is measured with
    the reference evaluate_model_dataset on a copy of the returned model's weights. Budget: the
    lab's training_budget_s of CPU time for the training call, measured in the submission's own
    process (time.process_time, which the notebook imports), as the grader counts every limit.
    The lab's test_timeout_s is larger, so that the budget, not the test's limit, decides.
    """
    lab = course.lab(lab_id)
    f_min, budget_s = lab.constants["quality_f_min"], lab.training_budget_s
    data = {"seq_len": 128, "sigma_target": 1.0}
    remote_train, _ = novelty(sub, None, seed=0, n_samples=lab.constants["standard_train_sequences"], **data)
    remote_val, val_ds = novelty(sub, None, seed=1, n_samples=lab.constants["standard_val_sequences"], **data)
    start = sub.time.process_time()
    model, _ = run_training(sub, remote_train, remote_val, batch_size=32, shuffle=True, seed=0,
                            hidden_size=8, bidirectional=True, lr=0.01, epochs=15, clip=1.0)
    seconds = sub.time.process_time() - start
    assert seconds <= budget_s, (
        f"the standard training run used {seconds:.0f} s of CPU time, more than the {budget_s:g} s "
        "allowed"
    )
    _, _, F = ref.evaluate_model_dataset(local_copy(ref, model, 8, True), val_ds)
    assert np.isfinite(F) and F >= f_min, (
        f"the trained detector reaches a validation F_mean of {F:.3f}; the standard settings "
        f"should give at least {f_min}"
    )
