"""Part 2.1-2.2: make_sine_dataset and SequenceClassifier.forward."""

import numpy as np
import pytest
import torch
from lab04_helpers import QUESTIONS, generator_pair, model_pair, pair, seed_of, sines

DATASET = QUESTIONS["dataset"]
CLASSIFIER = QUESTIONS["classifier"]


@pytest.mark.question(DATASET)
@pytest.mark.points(1)
def test_dataset_shapes_dtypes_and_class_major_labels(sub, rng):
    for n, n_points in ((5, 100), (1, 7), (40, 33)):
        remote_rng, _ = generator_pair(sub, seed_of(rng))
        label = f"make_sine_dataset({n}, rng, n_points={n_points})"
        X, y = pair(sub.make_sine_dataset(n, remote_rng, n_points=n_points), label)
        assert X.shape == (3 * n, n_points), f"{label}: X has shape {X.shape}, expected {(3 * n, n_points)}"
        assert X.dtype == np.float32, f"{label}: X must be float32, got {X.dtype}"
        assert y.dtype == np.int64, f"{label}: y must be int64, got {y.dtype}"
        assert y.tolist() == np.repeat([0, 1, 2], n).tolist(), (
            f"{label}: y must be class-major, rows [k*n, (k+1)*n) have label k"
        )


@pytest.mark.question(DATASET)
@pytest.mark.points(2)
def test_dataset_values_follow_the_draws(sub, rng, tol):
    for random_phase in (True, False):
        for noise_std in (0.02, 0.5):
            remote_rng, local_rng = generator_pair(sub, seed_of(rng))
            label = (f"make_sine_dataset(4, rng, n_points=64, noise_std={noise_std}, "
                     f"random_phase={random_phase})")
            X, _ = pair(sub.make_sine_dataset(4, remote_rng, n_points=64, noise_std=noise_std,
                                              random_phase=random_phase), label)  # fmt: skip
            expected, _ = sines(local_rng, 4, 64, noise_std, random_phase)
            tol.assert_close(X, expected, atol=1e-5,
                             what=f"X of {label} (phases drawn first with rng.uniform(0, 2 pi), "
                                  "only if random_phase, then the noise with rng.normal(0, noise_std); "
                                  "t = np.linspace(0, 1, n_points))")
    # The defaults: n_points=100, noise_std=0.02, random_phase=True
    remote_rng, local_rng = generator_pair(sub, seed_of(rng))
    X, _ = pair(sub.make_sine_dataset(4, remote_rng), "make_sine_dataset(4, rng)")
    tol.assert_close(X, sines(local_rng, 4)[0], atol=1e-5,
                     what="X of make_sine_dataset(4, rng) (the defaults: 100 points, noise_std 0.02, random phases)")


@pytest.mark.question(DATASET)
@pytest.mark.points(1)
def test_noise_std_is_a_standard_deviation_and_data_follow_the_rng(sub, rng):
    seed = seed_of(rng)
    remote_rng, local_rng = generator_pair(sub, seed)
    X, _ = pair(sub.make_sine_dataset(100, remote_rng, n_points=100, noise_std=0.5), "make_sine_dataset")
    clean, _ = sines(local_rng, 100, 100, noise_std=0.0)
    residual_std = float((X.astype(np.float64) - clean).std())
    assert abs(residual_std - 0.5) < 0.03 * 0.5, (
        f"make_sine_dataset(..., noise_std=0.5): the noise has standard deviation {residual_std:.3f} "
        "over 300 x 100 samples, expected 0.5 (noise_std is a standard deviation, not a variance: "
        "rng.normal's second argument is the standard deviation)"
    )
    again, _ = pair(sub.make_sine_dataset(100, sub.np.random.default_rng(seed), noise_std=0.5),
                    "make_sine_dataset")  # fmt: skip
    assert np.array_equal(again, X), "the same rng seed must give the same data"
    other, _ = pair(sub.make_sine_dataset(100, remote_rng, noise_std=0.5), "make_sine_dataset")
    assert not np.array_equal(other, X), "two calls on one rng must give different data (use rng)"


def _logits(remote, x: torch.Tensor, what: str) -> torch.Tensor:
    out = remote(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32, (
        f"{what} must return a float32 tensor of logits"
    )
    return out.detach()


@pytest.mark.question(CLASSIFIER)
@pytest.mark.points(2)
def test_last_pooling_equals_the_last_output(sub, ref, rng, tol):
    for cell in ("rnn", "gru", "lstm"):
        for num_layers in (1, 2):
            for input_size in (1, 3):
                remote, local = model_pair(sub, ref, rng, input_size=input_size, hidden_size=6,
                                           n_classes=4, cell=cell, num_layers=num_layers)  # fmt: skip
                shape = (5, 11) if input_size == 1 else (5, 11, 3)
                x = torch.tensor(rng.normal(size=shape), dtype=torch.float32)
                label = (f'SequenceClassifier(input_size={input_size}, cell="{cell}", '
                         f'num_layers={num_layers}, pooling="last") on x of shape {shape}')
                out = _logits(remote, x, label)
                with torch.no_grad():
                    steps = x if input_size > 1 else x[:, :, None]
                    expected = local.head(local.rnn(steps)[0][:, -1])
                assert tuple(out.shape) == (5, 4), f"{label}: logits of shape {tuple(out.shape)}, expected (5, 4)"
                tol.assert_close(out, expected, rtol=1e-5, atol=1e-6,
                                 what=f"{label}: head(rnn(x)[0][:, -1]) (the top layer's last output)")


@pytest.mark.question(CLASSIFIER)
@pytest.mark.points(2)
def test_mean_and_meanmax_pooling(sub, ref, rng, tol):
    for pooling in ("mean", "meanmax"):
        for cell in ("gru", "lstm"):
            remote, local = model_pair(sub, ref, rng, input_size=2, hidden_size=5, n_classes=3,
                                       cell=cell, pooling=pooling)  # fmt: skip
            x = torch.tensor(rng.normal(size=(4, 13, 2)), dtype=torch.float32)
            label = f'SequenceClassifier(input_size=2, cell="{cell}", pooling="{pooling}")'
            with torch.no_grad():
                expected = local(x)
            tol.assert_close(_logits(remote, x, label), expected, rtol=1e-5, atol=1e-6,
                             what=f"{label}: logits (mean over time; meanmax = cat([mean, max]), mean first)")


@pytest.mark.question(CLASSIFIER)
@pytest.mark.points(2)
def test_frames_are_sample_major_and_drop_the_tail(sub, ref, rng, tol):
    cases = [(dict(input_size=2, frame=5), (3, 23, 2)), (dict(input_size=1, frame=5), (3, 23)),
             (dict(input_size=3, frame=1), (2, 9, 3)), (dict(input_size=4, frame=4), (2, 16, 4))]
    for kwargs, shape in cases:
        for pooling in ("last", "meanmax"):
            remote, local = model_pair(sub, ref, rng, hidden_size=5, n_classes=2, cell="gru",
                                       pooling=pooling, **kwargs)  # fmt: skip
            x = torch.tensor(rng.normal(size=shape), dtype=torch.float32)
            frame, features = kwargs["frame"], kwargs["input_size"]
            steps = shape[1] // frame
            with torch.no_grad():
                frames = x.reshape(shape[0], shape[1], features)[:, :steps * frame]
                out, _ = local.rnn(frames.reshape(shape[0], steps, frame * features))
                pooled = out[:, -1] if pooling == "last" else torch.cat([out.mean(1), out.amax(1)], 1)
                expected = local.head(pooled)
            label = f"SequenceClassifier(frame={frame}, input_size={features}, pooling={pooling!r}) on {shape}"
            out = _logits(remote, x, label)
            assert tuple(out.shape) == (shape[0], 2), f"{label}: logits of shape {tuple(out.shape)}"
            tol.assert_close(out, expected, rtol=1e-5, atol=1e-6,
                             what=f"{label}: step s reads samples s*frame ... s*frame+frame-1 "
                                  "concatenated sample-major; the last T % frame samples are dropped")
