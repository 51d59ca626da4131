"""Part 3.1-3.3: the audio pipeline, precision_recall_accuracy and evaluate_classifier.

The .wav files the pipeline reads are written by the submission's side with `sub.wavfile.write`
or `sub.write_author_dataset` into a folder of /tmp (the sandbox's own, private /tmp when grading)
and removed afterwards; the same data are written here for the reference.
"""

import numpy as np
import pytest
import torch
from lab04_helpers import QUESTIONS, as_array, linear_pair, pair, seed_of
from scipy.signal import resample_poly

from autograder.testing import strict_call
from courselib.author_music import write_author_dataset

AUDIO = QUESTIONS["audio"]
PRF = QUESTIONS["prf"]
EVALUATE = QUESTIONS["evaluate"]


def _read(sub, path: str, what: str) -> tuple[int, np.ndarray]:
    result = sub.read_wav_mono(path)
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"read_wav_mono({what}) must return (sample_rate, x)"
    )
    rate, x = result
    assert isinstance(rate, int | np.integer) and not isinstance(rate, bool), (
        f"read_wav_mono({what}): the sample rate must be an int"
    )
    x = as_array(x, "read_wav_mono")
    assert x.dtype == np.float64 and x.ndim == 1, (
        f"read_wav_mono({what}) must return a 1-D float64 array, got {x.dtype} of shape {x.shape}"
    )
    return int(rate), x


@pytest.mark.question(AUDIO)
@pytest.mark.points(2)
def test_read_wav_mono(sub, rng, tol):
    stereo = rng.integers(-32768, 32768, size=(50, 2)).astype(np.int16)
    stereo[:4] = [[-32768, -32768], [32767, 32767], [-32768, 32767], [32767, -32768]]
    mono16 = rng.integers(-32768, 32768, size=40).astype(np.int16)
    mono32 = rng.uniform(-1, 1, size=30).astype(np.float32)
    stereo64 = rng.uniform(-1, 1, size=(20, 2))
    cases = [("stereo int16 at 44100 Hz", "stereo16.wav", 44100, stereo,
              stereo.astype(np.float64).mean(axis=1) / 32768),
             ("mono int16 at 22050 Hz", "mono16.wav", 22050, mono16, mono16 / 32768.0),
             ("mono float32 at 8000 Hz", "mono32.wav", 8000, mono32, mono32.astype(np.float64)),
             ("stereo float64 at 16000 Hz", "stereo64.wav", 16000, stereo64, stereo64.mean(axis=1))]
    folder = f"/tmp/lab04_wav_{seed_of(rng)}"
    sub.os.makedirs(folder, exist_ok=True)
    for what, name, rate, data, expected in cases:
        path = f"{folder}/{name}"
        sub.wavfile.write(path, rate, data)
        got_rate, x = _read(sub, path, f"a {what} file")
        sub.os.remove(path)
        assert got_rate == rate, f"read_wav_mono(a {what} file): sample rate {got_rate}, expected {rate}"
        tol.assert_close(x, expected, rtol=1e-12, atol=1e-12,
                         what=f"read_wav_mono(a {what} file) (int16 / 32768, converted to float "
                              "before the channels are averaged)")
    # Any other sample type is refused with ValueError
    path = f"{folder}/int32.wav"
    sub.wavfile.write(path, 8000, rng.integers(-2**31, 2**31, size=10).astype(np.int32))
    try:
        with pytest.raises(ValueError):
            sub.read_wav_mono(path)
    except pytest.fail.Exception:
        raise AssertionError("read_wav_mono(an int32 file) must raise ValueError (only int16, float32 and "
                             "float64 samples are read)") from None
    finally:
        sub.os.remove(path)
    sub.os.rmdir(folder)


@pytest.mark.question(AUDIO)
@pytest.mark.points(2)
def test_resample_clip_is_polyphase(sub, rng, tol):
    for orig, target, n, length in ((44100, 10000, 44100, 10000), (48000, 10000, 4800, 1000),
                                    (22050, 2000, 22050, 2000), (44100, 44100, 100, 100),
                                    (44100, 10000, 1001, 227)):  # ceil(1001 * 10000 / 44100)
        x = rng.normal(size=n)
        got = as_array(sub.resample_clip(x, orig, target), "resample_clip")
        assert got.shape == (length,) and got.dtype == np.float64, (
            f"resample_clip(x of {n} samples, {orig}, {target}) must return {length} float64 samples, "
            f"got {got.dtype} {got.shape}"
        )
        expected = x if orig == target else resample_poly(x, target, orig)
        tol.assert_close(got, expected, rtol=1e-9, atol=1e-12,
                         what=f"resample_clip({orig} -> {target} Hz): scipy.signal.resample_poly with "
                              "the reduced ratio (a low-pass filter, then decimation)")


@pytest.mark.question(AUDIO)
@pytest.mark.points(1)
def test_normalise_clip(sub, rng, tol):
    for what, x in (("a random signal", rng.normal(size=200)), ("an all-positive signal", rng.uniform(3, 5, 99))):
        got = as_array(sub.normalise_clip(x), "normalise_clip")
        assert got.dtype == np.float64, "normalise_clip must return float64"
        tol.assert_close(got, (x - x.min()) / (x.max() - x.min()), rtol=1e-12, atol=1e-12,
                         what=f"normalise_clip({what}): (x - min) / (max - min)")
    with np.errstate(all="ignore"):
        constant = as_array(sub.normalise_clip(np.full(10, 0.3)), "normalise_clip")
    assert np.all(np.isfinite(constant)) and np.all(constant == 0), (
        "normalise_clip of a constant clip must give zeros (no NaN from 0 / 0)"
    )


def _levels(sub, x, levels=16) -> list:
    got = as_array(sub.digitise(np.asarray(x, dtype=np.float64), levels), "digitise")
    assert got.dtype == np.int64, f"digitise must return int64, got {got.dtype}"
    return got.tolist()


@pytest.mark.question(AUDIO)
@pytest.mark.points(2)
def test_digitise_uses_uniform_bins(sub):
    counts = np.bincount(_levels(sub, np.linspace(0, 1, 1601)), minlength=17)
    assert counts.tolist() == [100] * 15 + [101, 0], (
        "digitise(np.linspace(0, 1, 1601)) must give 100 samples of each of the 16 levels, and 1.0 "
        f"in level 15 (uniform bins of width 1/16); got counts {counts.tolist()}"
    )
    boundaries = [0, 1 / 16 - 1e-12, 1 / 16, 0.5, 15 / 16, 1]
    assert _levels(sub, boundaries) == [0, 0, 1, 8, 15, 15], (
        f"digitise({boundaries}) must be [0, 0, 1, 8, 15, 15] (min(floor(16 x), 15))"
    )
    assert _levels(sub, [0, 0.24, 0.25, 0.5, 0.99, 1], levels=4) == [0, 0, 1, 2, 3, 3], (
        "digitise([0, 0.24, 0.25, 0.5, 0.99, 1], levels=4) must be [0, 0, 1, 2, 3, 3]"
    )
    assert _levels(sub, [-0.1, 1.2]) == [0, 15], "digitise: below 0 gives 0, at or above 1 gives levels - 1"


@pytest.mark.question(AUDIO)
@pytest.mark.points(1)
def test_one_hot_digitise(sub, ref, rng):
    x = rng.uniform(-0.05, 1.05, size=300)
    for levels in (16, 5, None):
        got = as_array(sub.one_hot_digitise(x) if levels is None else sub.one_hot_digitise(x, levels),
                       "one_hot_digitise")
        levels = levels or 16  # the default
        assert got.dtype == np.float32 and got.shape == (300, levels), (
            f"one_hot_digitise(x of 300 values, {levels}) must return float32 (300, {levels}), "
            f"got {got.dtype} {got.shape}"
        )
        expected = np.eye(levels, dtype=np.float32)[ref.digitise(x, levels)]
        assert np.array_equal(got, expected), (
            f"one_hot_digitise(x, {levels}): row t must have a single 1 at column digitise(x, {levels})[t]"
        )


@pytest.mark.question(AUDIO)
@pytest.mark.points(2)
def test_load_author_split(sub, ref, rng, tmp_path):
    seed = seed_of(rng)
    counts = {"train": {0: 2, 1: 2}, "val": {0: 1, 1: 1}}
    folder = f"/tmp/lab04_authors_{seed}"
    sub.write_author_dataset(folder, seed=seed, counts=counts)
    try:
        _compare_splits(sub, ref, folder, tmp_path, seed, counts)
    finally:
        for name in sub.os.listdir(folder):
            sub.os.remove(f"{folder}/{name}")
        sub.os.rmdir(folder)


def _compare_splits(sub, ref, folder: str, tmp_path, seed: int, counts: dict) -> None:
    write_author_dataset(tmp_path, seed=seed, counts=counts)
    for split, n in (("train", 4), ("val", 2)):
        X, y = pair(sub.load_author_split(folder, split), f'load_author_split(folder, "{split}")')
        expected_X, expected_y = ref.load_author_split(str(tmp_path), split)
        assert X.shape == (n, 10000, 16) and X.dtype == np.float32, (
            f'load_author_split(folder, "{split}") must return X float32 ({n}, 10000, 16), got {X.dtype} {X.shape}'
        )
        _same_features(X, y, expected_X, expected_y, f'load_author_split(folder, "{split}")')
    # Another rate and number of levels, through load_author_split and clip_features
    label = 'load_author_split(folder, "val", target_sr=2000, levels=8)'
    X, y = pair(sub.load_author_split(folder, "val", target_sr=2000, levels=8), label)
    expected_X, expected_y = ref.load_author_split(str(tmp_path), "val", target_sr=2000, levels=8)
    assert X.shape == (2, 2000, 8) and X.dtype == np.float32, f"{label} must return X float32 (2, 2000, 8)"
    _same_features(X, y, expected_X, expected_y, label)
    name = next(row.split(",")[0] for row in (tmp_path / "manifest.csv").read_text().splitlines()[1:])
    for kwargs in ({}, {"target_sr": 4000, "levels": 5}):
        label = f"clip_features(a clip{''.join(f', {key}={value}' for key, value in kwargs.items())})"
        got = as_array(sub.clip_features(f"{folder}/{name}", **kwargs), label)
        expected = ref.clip_features(str(tmp_path / name), **kwargs)
        assert got.dtype == np.float32 and np.array_equal(got, expected), (
            f"{label} differs from the reference features (read mono, resample, min-max, one-hot levels), "
            f"shape {got.shape}, expected {expected.shape}"
        )


def _same_features(X, y, expected_X, expected_y, label: str) -> None:
    assert y.dtype == np.int64 and y.tolist() == expected_y.tolist(), (
        f"{label}: y must be the int64 labels of the manifest rows of that split, in manifest order: "
        f"expected {expected_y.tolist()}, got {y.tolist()}"
    )
    assert np.array_equal(X, expected_X), (
        f"{label}: X differs from the reference features (read mono, resample, min-max, uniform levels, "
        "one-hot, in manifest order)"
    )


# ------------------------------------------------------------------ precision, recall, accuracy


def _prf(sub, y_true, y_pred, positive=None) -> dict:
    """The submission's precision_recall_accuracy; positive=None leaves it at its default."""
    args = (np.asarray(y_true), np.asarray(y_pred)) + (() if positive is None else (positive,))
    result = strict_call(sub.precision_recall_accuracy, *args)
    keys = {"accuracy", "precision", "recall", "tp", "fp", "fn", "tn"}
    assert isinstance(result, dict) and keys <= set(result), (
        f"precision_recall_accuracy must return a dict with {sorted(keys)}"
    )
    return result


def _definition(y_true, y_pred, positive) -> dict:
    actual, predicted = np.asarray(y_true) == positive, np.asarray(y_pred) == positive
    tp, fp = int((actual & predicted).sum()), int((~actual & predicted).sum())
    fn, tn = int((actual & ~predicted).sum()), int((~actual & ~predicted).sum())
    return {"accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}  # fmt: skip


def _assert_prf(got: dict, expected: dict, tol, what: str) -> None:
    for key in ("tp", "fp", "fn", "tn"):
        assert isinstance(got[key], int) and not isinstance(got[key], bool) and got[key] == expected[key], (
            f"{what}: {key} = {got[key]!r}, expected the Python int {expected[key]}"
        )
    for key in ("accuracy", "precision", "recall"):
        value = got[key]
        assert isinstance(value, float) and np.isfinite(value), (
            f"{what}: {key} must be a finite Python float, got {value!r}"
        )
        tol.assert_close(value, expected[key], rtol=1e-12, atol=1e-12, what=f"{what}: {key}")


@pytest.mark.question(PRF)
@pytest.mark.points(2)
def test_prf_matches_the_definition(sub, rng, tol):
    for positive in (1, 0):
        for n in (25, 60):
            y_true, y_pred = rng.integers(0, 2, size=n), rng.integers(0, 2, size=n)
            _assert_prf(_prf(sub, y_true, y_pred, positive), _definition(y_true, y_pred, positive), tol,
                        f"precision_recall_accuracy({n} random labels, positive={positive})")


@pytest.mark.question(PRF)
@pytest.mark.points(1)
def test_zero_over_zero_gives_zero(sub, tol):
    cases = [("never predicts the positive class", [1, 0, 1, 0], [0, 0, 0, 0]),
             ("no positive label in y_true", [0, 0, 0], [1, 0, 1]),
             ("neither", [0, 0], [0, 0])]
    for what, y_true, y_pred in cases:
        _assert_prf(_prf(sub, y_true, y_pred, 1), _definition(y_true, y_pred, 1), tol,
                    f"precision_recall_accuracy when it {what} (0/0 must give 0.0, without NaN, "
                    "warning or exception)")


@pytest.mark.question(PRF)
@pytest.mark.points(1)
def test_the_positive_label_matters(sub, rng, tol):
    y_true, y_pred = rng.integers(0, 2, size=40), rng.integers(0, 2, size=40)
    flipped = _prf(sub, 1 - y_true, 1 - y_pred, 1)
    _assert_prf(_prf(sub, y_true, y_pred, 0), {key: flipped[key] for key in flipped}, tol,
                "precision_recall_accuracy(y, pred, positive=0) against positive=1 on (1 - y, 1 - pred)")
    _assert_prf(_prf(sub, y_true, y_pred, 0), _definition(y_true, y_pred, 0), tol,
                "precision_recall_accuracy(y, pred, positive=0)")
    _assert_prf(_prf(sub, y_true, y_pred), _definition(y_true, y_pred, 1), tol,
                "precision_recall_accuracy(y, pred) (the default positive=1)")


EVALUATE_KEYS = {
    "accuracy": "the share of argmax predictions equal to y",
    "precision": "of the class `positive`, from the argmax predictions",
    "recall": "of the class `positive`, from the argmax predictions",
    "brier": "brier_score of predict_proba: the [0, 2] convention, the sum over the two classes",
}


@pytest.mark.question(EVALUATE)
@pytest.mark.points(2)
def test_evaluate_classifier_matches_the_reference(sub, ref, rng, tol):
    X = np.eye(16, dtype=np.float32)[rng.integers(0, 16, size=(40, 50))]
    y = np.array([0, 1] * 20)
    remote, local = linear_pair(sub, rng, 50 * 16, 2)
    with torch.no_grad():
        local[-1].weight.mul_(8.0)  # confident predictions: the Brier convention shows
    remote.load_state_dict({name: value.clone() for name, value in local.state_dict().items()})
    for positive in (1, 0, None):  # None: the default positive=1 (and batch_size=64)
        remote.train(positive != 0)
        label = "evaluate_classifier(model, X, y)" if positive is None else f"evaluate_classifier(positive={positive})"
        if positive is None:
            result = sub.evaluate_classifier(remote, X, y)
        else:
            result = sub.evaluate_classifier(remote, X, y, positive=positive, batch_size=16)
        assert isinstance(result, dict) and {"accuracy", "precision", "recall", "brier"} <= set(result), (
            "evaluate_classifier must return a dict with accuracy, precision, recall and brier"
        )
        expected = ref.evaluate_classifier(local, X, y, positive=1 if positive is None else positive)
        # predict_proba may compute the softmax in float32: the float32 tolerances of the config
        rtol, atol = tol.for_dtype(np.float32)
        for key, meaning in EVALUATE_KEYS.items():
            assert isinstance(result[key], float), f"{label}['{key}'] must be a Python float"
            tol.assert_close(result[key], expected[key], rtol=rtol, atol=atol, what=f"{label}['{key}'] ({meaning})")
        assert remote.training == (positive != 0), "evaluate_classifier must restore the model's mode"
