"""Parts 3.1-3.3: make_cosine_batch, CosineGenerator.forward and generate."""

import functools

import numpy as np
import pytest
import torch
from lab03_helpers import (
    QUESTIONS,
    assert_no_random_draws,
    cosines,
    generator_pair,
    model_pair,
    one_call,
    partial_in,
    seed_of,
    triple,
)

DATASET = QUESTIONS["dataset"]
FLOAT32_STEP = 2.0**-23  # the largest relative spacing of float32 numbers: one rounding step
FORWARD = QUESTIONS["forward"]
GENERATE = QUESTIONS["generate"]


@pytest.mark.question(DATASET)
@pytest.mark.points(1)
def test_dataset_shapes_and_dtypes(sub, rng):
    for n, length in ((7, 33), (1, 1), (3, 250)):
        remote_rng, _ = generator_pair(sub, seed_of(rng))
        x, amp, phase = triple(sub.make_cosine_batch(n, length, remote_rng),
                               f"make_cosine_batch({n}, {length}, rng)")
        assert tuple(x.shape) == (n, length), (
            f"make_cosine_batch({n}, {length}, rng): x has shape {tuple(x.shape)}, expected {(n, length)}"
        )
        assert tuple(amp.shape) == (n,) and tuple(phase.shape) == (n,), (
            f"make_cosine_batch({n}, {length}, rng): amp and phase must have shape ({n},)"
        )
        for name, value in (("x", x), ("amp", amp), ("phase", phase)):
            assert value.dtype == torch.float32, f"make_cosine_batch: {name} must be float32, got {value.dtype}"


@pytest.mark.question(DATASET)
@pytest.mark.points(2)
def test_dataset_values_follow_the_rng(sub, rng, tol):
    for amp_range in ((0.5, 1.5), (2.0, 3.0)):
        remote_rng, local_rng = generator_pair(sub, seed_of(rng))
        x, amp, phase = triple(sub.make_cosine_batch(6, 130, remote_rng, amp_range=amp_range),
                               "make_cosine_batch")
        expected_amp = local_rng.uniform(amp_range[0], amp_range[1], size=6)
        expected_phase = local_rng.uniform(0.0, 2.0 * np.pi, size=6)
        label = f"make_cosine_batch(6, 130, rng, amp_range={amp_range})"
        tol.assert_close(amp, expected_amp.astype(np.float32),
                         what=f"amp of {label} (drawn first, with rng.uniform)")
        tol.assert_close(phase, expected_phase.astype(np.float32),
                         what=f"phase of {label} (drawn after amp, with rng.uniform on [0, 2 pi))")
        t = np.arange(130) * 0.1
        expected_x = expected_amp[:, None] * np.cos(t[None, :] + expected_phase[:, None])
        # Computed in float64, then rounded to float32: within one float32 rounding step (and
        # float64 noise near zero); time steps computed in float32 are off by about 1e-6
        tol.assert_close(x, expected_x.astype(np.float32), rtol=FLOAT32_STEP, atol=1e-12,
                         what=f"x of {label} (amp * cos(ANGULAR_STEP * t + phase), computed in "
                              "float64, then converted to float32)")


@pytest.mark.question(DATASET)
@pytest.mark.points(1)
def test_dataset_ranges_and_spread(sub, rng, tol):
    remote_rng, _ = generator_pair(sub, seed_of(rng))
    x, amp, phase = triple(sub.make_cosine_batch(4000, 64, remote_rng), "make_cosine_batch")
    amp, phase = amp.double().numpy(), phase.double().numpy()
    assert amp.min() >= 0.5 and amp.max() < 1.5, "amplitudes must lie in [0.5, 1.5)"
    assert amp.min() < 0.52 and amp.max() > 1.48, (
        "over 4000 draws the amplitudes should cover [0.5, 1.5): use amp_range"
    )
    assert abs(amp.std() - 1 / np.sqrt(12)) < 0.02, "amplitudes should be uniform on [0.5, 1.5)"
    assert phase.min() >= 0.0 and phase.max() <= 2 * np.pi + 1e-6, "phases must lie in [0, 2 pi)"
    assert phase.min() < 0.05 and phase.max() > 2 * np.pi - 0.05, (
        "over 4000 draws the phases should cover [0, 2 pi)"
    )
    assert abs(phase.std() - 2 * np.pi / np.sqrt(12)) < 0.07, "phases should be uniform on [0, 2 pi)"
    # 64 samples cover a full period, so the largest |x| of each sequence is its amplitude.
    tol.assert_close(x.abs().amax(dim=1).double().numpy(), amp, rtol=2e-3, atol=1e-6,
                     what="max |x| of each 64-sample cosine (should be its amplitude)")
    remote_rng, _ = generator_pair(sub, seed_of(rng))
    _, wide, _ = triple(sub.make_cosine_batch(500, 5, remote_rng, amp_range=(2.0, 3.0)),
                        "make_cosine_batch")
    assert wide.min() >= 2.0 and wide.max() < 3.0 and wide.std() > 0.2, (
        "make_cosine_batch(..., amp_range=(2.0, 3.0)) must draw amplitudes in [2, 3)"
    )


@pytest.mark.question(DATASET)
@pytest.mark.points(1)
def test_dataset_is_deterministic_for_a_seeded_rng(sub, rng):
    seed = seed_of(rng)
    first = triple(sub.make_cosine_batch(5, 40, generator_pair(sub, seed)[0]), "make_cosine_batch")
    second = triple(sub.make_cosine_batch(5, 40, generator_pair(sub, seed)[0]), "make_cosine_batch")
    for name, a, b in zip(("x", "amp", "phase"), first, second, strict=True):
        assert torch.equal(a, b), (
            f"two calls with np.random.default_rng({seed}) gave different {name}: draw everything "
            "from the rng passed in, not from np.random or torch"
        )
    shared, _ = generator_pair(sub, seed)
    a = triple(sub.make_cosine_batch(5, 40, shared), "make_cosine_batch")[0]
    b = triple(sub.make_cosine_batch(5, 40, shared), "make_cosine_batch")[0]
    assert not torch.equal(a, b), "two calls on the same rng must give different batches (draw from rng)"


# ----------------------------------------------------------------------------- forward


@pytest.mark.question(FORWARD)
@pytest.mark.points(2)
def test_teacher_forced_forward_equals_one_rnn_call(sub, ref, rng, tol):
    for hidden_size, num_layers, warmup in ((8, 1, 20), (6, 2, 5), (5, 1, 0)):
        remote, local = model_pair(sub, ref, rng, hidden_size, num_layers)
        x = cosines(rng, 4, 45)
        out = remote(x, teacher_forcing=1.0, warmup=warmup)
        tol.assert_close(out, one_call(local, x), rtol=1e-4, atol=1e-5,
                         what=f"model(x, teacher_forcing=1.0, warmup={warmup}) for x of shape (4, 45), "
                              f"hidden {hidden_size}, {num_layers} layer(s) (should equal "
                              "readout(rnn(x[:, :-1, None])))")
    # The defaults, teacher_forcing=1.0 and warmup=20
    tol.assert_close(remote(x), one_call(local, x), rtol=1e-4, atol=1e-5,
                     what="model(x) with the default teacher_forcing=1.0 (should equal readout(rnn(x[:, :-1, None])))")


@pytest.mark.question(FORWARD)
@pytest.mark.points(2)
def test_free_running_forward_ignores_the_signal_after_warmup(sub, ref, rng, tol):
    for hidden_size, num_layers, warmup in ((8, 1, 15), (6, 2, 1)):
        remote, local = model_pair(sub, ref, rng, hidden_size, num_layers)
        x = cosines(rng, 5, 60)
        changed = x.clone()
        changed[:, warmup:] = torch.tensor(rng.normal(size=(5, 60 - warmup)), dtype=torch.float32)
        out = remote(x, teacher_forcing=0.0, warmup=warmup)
        out_changed = remote(changed, teacher_forcing=0.0, warmup=warmup)
        tol.assert_close(out_changed, out, rtol=0.0, atol=1e-6,
                         what=f"model(x, teacher_forcing=0.0, warmup={warmup}) after changing "
                              f"x[:, {warmup}:] (must not read the true signal after the warm-up)")
        with torch.no_grad():
            expected = local(x, teacher_forcing=0.0, warmup=warmup)
        tol.assert_close(out, expected, rtol=1e-4, atol=1e-5,
                         what=f"model(x, teacher_forcing=0.0, warmup={warmup}) for x of shape (5, 60) "
                              "(inputs after the warm-up are the previous predictions)")
    # The default warm-up, 20 steps
    with torch.no_grad():
        expected = local(x, teacher_forcing=0.0, warmup=20)
    tol.assert_close(remote(x, teacher_forcing=0.0), expected, rtol=1e-4, atol=1e-5,
                     what="model(x, teacher_forcing=0.0) with the default warmup=20")


@pytest.mark.question(FORWARD)
@pytest.mark.points(2)
def test_partial_teacher_forcing_coins_per_step_and_sequence(sub, ref, rng, tol):
    remote, local = model_pair(sub, ref, rng, 8, 1)
    x = cosines(rng, 6, 50)
    seed = seed_of(rng)
    sub.torch.manual_seed(seed)
    out = remote(x, teacher_forcing=0.5, warmup=12)
    torch.manual_seed(seed)
    with torch.no_grad():
        expected = local(x, teacher_forcing=0.5, warmup=12)
    tol.assert_close(out[:, :12], one_call(local, x)[:, :12], rtol=1e-4, atol=1e-5,
                     what="model(x, teacher_forcing=0.5, warmup=12)[:, :12] (the warm-up reads the true signal)")
    tol.assert_close(out, expected, rtol=1e-4, atol=1e-5,
                     what="model(x, teacher_forcing=0.5, warmup=12) after torch.manual_seed (one coin "
                          "torch.rand(B) < teacher_forcing per step after the warm-up)")


@pytest.mark.question(FORWARD)
@pytest.mark.points(1)
def test_no_random_numbers_without_partial_teacher_forcing(sub, ref, rng):
    remote, _ = model_pair(sub, ref, rng, 6, 1)
    x = cosines(rng, 4, 30)
    for teacher_forcing in (1.0, 0.0):
        assert_no_random_draws(sub, lambda tf=teacher_forcing: remote(x, teacher_forcing=tf, warmup=5),
                               f"model(x, teacher_forcing={teacher_forcing}, warmup=5)", seed_of(rng))


@pytest.mark.question(FORWARD)
@pytest.mark.points(2)
def test_free_running_gradients_flow_through_fed_back_predictions(sub, ref, rng, tol):
    """With teacher_forcing=0 every prediction after the warm-up depends on the warm-up inputs
    through the hidden state *and* through the fed-back predictions; a detached feedback loses the
    second path, so the gradient of sum(v * out) with respect to x differs."""
    for hidden_size, num_layers, warmup in ((8, 1, 6), (5, 2, 3)):
        remote, local = model_pair(sub, ref, rng, hidden_size, num_layers)
        x = cosines(rng, 3, 25)
        v = torch.tensor(rng.normal(size=(3, 24)), dtype=torch.float32)
        free_running = partial_in(sub, remote, teacher_forcing=0.0, warmup=warmup)
        result = sub.torch.autograd.functional.vjp(free_running, x, v)
        assert isinstance(result, tuple | list) and len(result) == 2, "vjp of forward failed"
        _, expected = torch.autograd.functional.vjp(
            functools.partial(local, teacher_forcing=0.0, warmup=warmup), x, v)
        tol.assert_close(result[1], expected, rtol=1e-4, atol=1e-6,
                         what=f"the gradient of sum(v * model(x, teacher_forcing=0.0, warmup={warmup})) "
                              f"with respect to x, hidden {hidden_size}, {num_layers} layer(s) (do not "
                              "detach the fed-back predictions)")


# ----------------------------------------------------------------------------- generate


@pytest.mark.question(GENERATE)
@pytest.mark.points(3)
def test_generate_matches_free_running_forward(sub, ref, rng, tol):
    for hidden_size, num_layers, seed_length, n_steps in ((8, 1, 25, 35), (6, 2, 1, 20)):
        remote, local = model_pair(sub, ref, rng, hidden_size, num_layers)
        x = cosines(rng, 3, seed_length + n_steps)
        generated = sub.generate(remote, x[:, :seed_length], n_steps)
        with torch.no_grad():
            expected = local(x, teacher_forcing=0.0, warmup=seed_length)[:, seed_length - 1:]
        tol.assert_close(generated, expected, rtol=1e-4, atol=1e-5,
                         what=f"generate(model, seed of shape (3, {seed_length}), {n_steps}) (element k "
                              f"estimates sample S + k)")


@pytest.mark.question(GENERATE)
@pytest.mark.points(2)
def test_generate_depends_only_on_each_seed(sub, ref, rng, tol):
    remote, _ = model_pair(sub, ref, rng, 8, 1)
    seed = cosines(rng, 4, 30)
    remote.eval()
    sub.generate(remote, seed, 5)
    assert remote.training is False, "generate must leave the model in the mode it found it in (eval mode)"
    remote.train()
    full = sub.generate(remote, seed, 40)
    assert remote.training is True, "generate must leave the model in the mode it found it in (training mode)"
    tol.assert_close(sub.generate(remote, seed, 10), full[:, :10], rtol=1e-5, atol=1e-6,
                     what="generate(model, seed, 10) (must be the first 10 of generate(model, seed, 40))")
    tol.assert_close(sub.generate(remote, seed[2:3], 40), full[2:3], rtol=1e-5, atol=1e-6,
                     what="generate on one sequence of the batch alone (sequences must not interact)")
    empty = sub.generate(remote, seed, 0)
    assert tuple(empty.shape) == (4, 0), "generate(model, seed, 0) must return a (B, 0) tensor"
