"""Parts 3.4-3.6: teacher_forcing_schedule, train_generator and evaluate_generation."""

import math

import numpy as np
import pytest
import torch
from lab03_helpers import (
    QUESTIONS,
    assert_no_random_draws,
    cosines,
    generator_pair,
    model_pair,
    seed_of,
)

SCHEDULE = QUESTIONS["schedule"]
TRAINING = QUESTIONS["training"]
EVALUATION = QUESTIONS["evaluation"]


@pytest.mark.question(SCHEDULE)
@pytest.mark.points(2)
def test_teacher_forcing_schedule_matches_reference(sub, ref, tol):
    cases = [(step, 90, 1.0, 0.0, 2 / 3) for step in (0, 1, 30, 59, 60, 61, 89)]
    cases += [(step, 10, 0.8, 0.2, 1.0) for step in (0, 3, 5, 9)]
    cases += [(step, 7, 0.0, 1.0, 0.5) for step in (0, 1, 2, 3, 6)]
    cases += [(0, 1, 1.0, 0.0, 0.1), (2, 3, 1.0, 0.0, 0.01)]
    for step, steps, start, end, frac in cases:
        value = sub.teacher_forcing_schedule(step, steps, tf_start=start, tf_end=end, anneal_frac=frac)
        assert isinstance(value, float), f"teacher_forcing_schedule must return a float, got {type(value).__name__}"
        tol.assert_close(value, ref.teacher_forcing_schedule(step, steps, start, end, frac),
                         rtol=1e-9, atol=1e-12,
                         what=f"teacher_forcing_schedule({step}, {steps}, tf_start={start}, "
                              f"tf_end={end}, anneal_frac={frac:g})")
    for step in (0, 20, 40, 59, 60, 89):  # the defaults: from 1.0 to 0.0 over 2/3 of the steps
        tol.assert_close(sub.teacher_forcing_schedule(step, 90), ref.teacher_forcing_schedule(step, 90),
                         rtol=1e-9, atol=1e-12, what=f"teacher_forcing_schedule({step}, 90) (the defaults)")


def _losses(value, steps: int) -> list:
    assert isinstance(value, list) and len(value) == steps, (
        f"train_generator must return a list of {steps} losses, one per step"
    )
    assert all(isinstance(v, float) and math.isfinite(v) for v in value), (
        "train_generator must return finite Python floats"
    )
    return value


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_first_loss_is_next_step_mse_after_warmup(sub, ref, rng, tol):
    remote, local = model_pair(sub, ref, rng, 8, 1)
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    losses = _losses(sub.train_generator(remote, steps=1, batch_size=6, rng=remote_rng, length=50,
                                         warmup=10, tf_start=1.0, tf_end=1.0), 1)
    x = cosines(local_rng, 6, 50)
    with torch.no_grad():
        out = local(x, teacher_forcing=1.0, warmup=10)
        expected = torch.nn.functional.mse_loss(out[:, 10:], x[:, 11:]).item()
    tol.assert_close(losses[0], expected, rtol=1e-4, atol=1e-7,
                     what="the first loss of train_generator (batch 6, length 50, warm-up 10: the MSE "
                          "of out[:, 10:] against x[:, 11:] on the batch drawn from rng)")


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_losses_and_weights_match_reference(sub, ref, rng, tol):
    settings = [
        {"steps": 3, "batch_size": 5, "length": 40, "lr": 0.01, "warmup": 8, "tf_start": 1.0,
         "tf_end": 0.0, "anneal_frac": 0.34, "clip": 0.5},
        {"steps": 2, "batch_size": 4, "length": 30, "lr": 0.02, "warmup": 5, "tf_start": 0.0,
         "tf_end": 0.0, "clip": None, "amp_range": (0.9, 1.1)},
    ]
    for setting in settings:
        remote, local = model_pair(sub, ref, rng, 8, 1)
        remote_rng, local_rng = generator_pair(sub, seed_of(rng))
        losses = _losses(sub.train_generator(remote, rng=remote_rng, **setting), setting["steps"])
        expected = ref.train_generator(local, rng=local_rng, **setting)
        label = ", ".join(f"{key}={value}" for key, value in setting.items())
        tol.assert_close(losses, expected, rtol=1e-4, atol=1e-7,
                         what=f"train_generator losses ({label})")
        trained = remote.state_dict()
        for name, value in local.state_dict().items():
            tol.assert_close(trained[name], value, rtol=1e-4, atol=1e-6,
                             what=f"{name} after train_generator ({label})")
    # Every optional setting at its default (length 200, lr 5e-3, warm-up 20, teacher forcing
    # from 1 to 0 over 2/3 of the steps, clip 1.0, amplitudes in [0.5, 1.5)), and verbose
    for verbose in (False, True):
        remote, local = model_pair(sub, ref, rng, 6, 1)
        remote_rng, local_rng = generator_pair(sub, seed_of(rng))
        label = f"train_generator(model, steps=3, batch_size=3, rng{', verbose=True' if verbose else ''}) (defaults)"
        coins = seed_of(rng)  # step 1 tosses teacher-forcing coins: the same torch seed on both sides
        sub.torch.manual_seed(coins)
        losses = _losses(sub.train_generator(remote, 3, 3, remote_rng, verbose=verbose), 3)
        torch.manual_seed(coins)
        tol.assert_close(losses, ref.train_generator(local, 3, 3, local_rng), rtol=1e-4, atol=1e-7,
                         what=f"the losses of {label}")


@pytest.mark.question(TRAINING)
@pytest.mark.points(2)
def test_gradients_are_clipped_before_each_step(sub, ref, rng, tol):
    """With clip far below Adam's eps (1e-8), a step with the clipped gradient moves each weight by
    at most about lr/100, one with the raw gradient by about lr: the weights after two steps show
    which gradient the optimizer used, for every draw."""
    setting = {"steps": 2, "batch_size": 4, "length": 30, "lr": 0.01, "warmup": 5, "clip": 1e-10}
    remote, local = model_pair(sub, ref, rng, 8, 1)
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    _losses(sub.train_generator(remote, rng=remote_rng, **setting), setting["steps"])
    ref.train_generator(local, rng=local_rng, **setting)
    trained = remote.state_dict()
    for name, value in local.state_dict().items():
        tol.assert_close(trained[name], value, rtol=1e-4, atol=1e-6,
                         what=f"{name} after train_generator with clip=1e-10 (clip the gradient "
                              "between backward and optimizer.step())")


@pytest.mark.question(TRAINING)
@pytest.mark.points(1)
def test_model_is_put_in_training_mode(sub, ref, rng):
    remote, _ = model_pair(sub, ref, rng, 6, 1)
    remote.eval()
    remote_rng, _ = generator_pair(sub, seed_of(rng))
    _losses(sub.train_generator(remote, steps=1, batch_size=2, rng=remote_rng, length=20, warmup=4), 1)
    assert remote.training is True, "train_generator must call model.train() before training"


# ----------------------------------------------------------------------------- evaluation


def _evaluation(value, n: int):
    assert isinstance(value, tuple | list) and len(value) == 2, (
        "evaluate_generation must return (mse, per_sequence_mse)"
    )
    mse, per_sequence = value
    assert isinstance(mse, float), "evaluate_generation: mse must be a Python float"
    per_sequence = np.asarray(per_sequence.detach().cpu() if hasattr(per_sequence, "detach") else per_sequence)
    assert per_sequence.shape == (n,), f"evaluate_generation: per_sequence_mse must have shape ({n},)"
    return mse, per_sequence


@pytest.mark.question(EVALUATION)
@pytest.mark.points(3)
def test_evaluation_matches_reference_on_a_trained_model(sub, ref, rng, tol, reference_answer):
    def trained_state() -> dict:
        # The reference's architecture, briefly trained (the grader does not run the reference's
        # graded training, tagged not-in-reference): it already oscillates, as a graded model does.
        torch.manual_seed(0)
        model = ref.CosineGenerator(hidden_size=32)
        ref.train_generator(model, steps=40, batch_size=32, rng=np.random.default_rng(0), length=100,
                            lr=5e-3, warmup=20, tf_start=1.0, tf_end=0.0, anneal_frac=1.0)
        return {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}

    remote, local = model_pair(sub, ref, rng, 32, 1, state=reference_answer("trained", trained_state))
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    mse, per_sequence = _evaluation(
        sub.evaluate_generation(remote, n=150, length=400, warmup=60, rng=remote_rng), 150)
    expected_mse, expected_per_sequence = ref.evaluate_generation(local, n=150, length=400, warmup=60,
                                                                  rng=local_rng)
    label = "evaluate_generation(trained model, n=150, length=400, warmup=60, rng)"
    tol.assert_close(per_sequence, expected_per_sequence, rtol=1e-4, atol=1e-7,
                     what=f"per_sequence_mse of {label} (free running after the warm-up; only "
                          "out[:, warmup:] against x[:, warmup+1:] is scored)")
    tol.assert_close(mse, expected_mse, rtol=1e-4, atol=1e-7, what=f"mse of {label}")


@pytest.mark.question(EVALUATION)
@pytest.mark.points(2)
def test_evaluation_of_a_zero_predictor_excludes_the_warmup(sub, ref, rng, tol):
    zero = ref.CosineGenerator(hidden_size=8)
    with torch.no_grad():
        zero.readout.weight.zero_()
        zero.readout.bias.zero_()
    remote, _ = model_pair(sub, ref, rng, 8, 1, state=zero.state_dict())
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    mse, per_sequence = _evaluation(
        sub.evaluate_generation(remote, n=40, length=150, warmup=35, rng=remote_rng), 40)
    x = cosines(local_rng, 40, 150)
    expected = (x[:, 36:].double() ** 2).mean(dim=1).numpy()
    tol.assert_close(per_sequence, expected, rtol=1e-4, atol=1e-7,
                     what="per_sequence_mse of an always-zero model (n=40, length=150, warmup=35): "
                          "the mean of x[:, 36:] ** 2")
    tol.assert_close(mse, expected.mean(), rtol=1e-4, atol=1e-7, what="mse of an always-zero model")
    mse, _ = _evaluation(sub.evaluate_generation(remote, n=30, length=200, warmup=50), 30)
    x = cosines(np.random.default_rng(12345), 30, 200)
    tol.assert_close(mse, (x[:, 51:].double() ** 2).mean().item(), rtol=1e-4, atol=1e-7,
                     what="evaluate_generation without rng (must use np.random.default_rng(12345))")
    # Every setting at its default: 1000 cosines of 1000 samples, warm-up 100, the fixed rng
    mse, _ = _evaluation(sub.evaluate_generation(remote), 1000)
    x = cosines(np.random.default_rng(12345), 1000, 1000)
    tol.assert_close(mse, (x[:, 101:].double() ** 2).mean().item(), rtol=1e-4, atol=1e-7,
                     what="evaluate_generation(model) with the defaults n=1000, length=1000, warmup=100")


@pytest.mark.question(EVALUATION)
@pytest.mark.points(2)
def test_evaluation_restores_the_mode_and_draws_no_random_numbers(sub, ref, rng):
    remote, _ = model_pair(sub, ref, rng, 6, 1)
    for training in (True, False):
        remote.train(training)
        assert_no_random_draws(
            sub, lambda: sub.evaluate_generation(remote, n=5, length=60, warmup=20,
                                                 rng=generator_pair(sub, seed_of(rng))[0]),
            "evaluate_generation", seed_of(rng))
        assert remote.training is training, (
            f"evaluate_generation must leave the model in the mode it found it in "
            f"({'training' if training else 'eval'} mode)"
        )
