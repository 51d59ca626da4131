"""courselib.author_music: the synthetic author-music set of Lab 4 (deterministic .wav files)."""

import csv
import hashlib
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile
from scipy.signal import lfilter, resample_poly

from courselib.author_music import COUNTS, STYLES, author_clip_plan, pluck, write_author_dataset

SMALL = {"train": {0: 3, 1: 2}, "val": {0: 1, 1: 2}}


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(tmp_path):
    first = write_author_dataset(tmp_path / "a", seed=3, counts=SMALL)
    write_author_dataset(tmp_path / "b", seed=3, counts=SMALL)
    write_author_dataset(tmp_path / "c", seed=4, counts=SMALL)
    a, b, c = (_digests(tmp_path / name) for name in "abc")
    assert a == b
    assert len(a) == 8 + 1  # 8 clips and the manifest
    wavs = [name for name in a if name.endswith(".wav")]
    assert all(a[name] != c[name] for name in wavs), "another seed must render other audio"
    assert first == author_clip_plan(3, SMALL)


def test_manifest_follows_the_plan_and_counts(tmp_path):
    plan = write_author_dataset(tmp_path, seed=5, counts=SMALL)
    with open(tmp_path / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["file"], int(r["label"]), r["split"]) for r in rows] == [
        (p["file"], p["label"], p["split"]) for p in plan
    ]
    for split, per_label in SMALL.items():
        for label, count in per_label.items():
            assert sum(p["split"] == split and p["label"] == label for p in plan) == count
    assert [p["file"] for p in plan] == [f"clip_{i:04d}.wav" for i in range(8)]
    # The order is shuffled (seeded), not split by split.
    full = author_clip_plan(0)
    assert len(full) == 256 and {p["split"] for p in full[:40]} == {"train", "val"}
    assert sum(p["split"] == "train" for p in full) == 171
    assert sum(p["label"] == 1 and p["split"] == "train" for p in full) == COUNTS["train"][1] == 71


def test_files_are_one_second_44k1_stereo_int16(tmp_path):
    plan = write_author_dataset(tmp_path, seed=1, counts={"train": {0: 1, 1: 1}})
    for entry in plan:
        path = tmp_path / entry["file"]
        assert path.read_bytes()[:4] == b"RIFF" and path.read_bytes()[8:12] == b"WAVE"
        rate, data = wavfile.read(path)
        assert rate == 44100 and data.dtype == np.int16 and data.shape == (44100, 2)
        left, right = data[:, 0].astype(float), data[:, 1].astype(float)
        assert np.abs(left).max() > 20000, "clips are peak-normalised before the limiter"
        assert np.corrcoef(left, right)[0, 1] > 0.99, "the right channel is 0.9 x the left plus hiss"


def test_pluck_equals_the_karplus_strong_filter():
    sr, f0, t60, brightness, n = 44100, 196.0, 0.8, 0.6, 6000
    note = pluck(f0, n, t60, brightness, np.random.default_rng(7), sr)
    period = round(sr / f0)
    burst = np.random.default_rng(7).uniform(-1.0, 1.0, size=period)
    excitation = lfilter([brightness], [1.0, brightness - 1.0], burst)
    gain = 10.0 ** (-3.0 / (t60 * sr / period)) / np.cos(np.pi / period)
    loop = np.zeros(period + 2)
    loop[0], loop[period], loop[period + 1] = 1.0, -gain / 2, -gain / 2
    expected = lfilter([1.0], loop, np.concatenate([excitation, np.zeros(n - period)]))
    np.testing.assert_allclose(note, expected, atol=1e-12)
    # The fundamental (period + 1/2 samples: the two-tap average delays by half a sample) decays
    # by 60 dB in t60: its amplitude over 8 periods at the start and t60 later.
    long = pluck(f0, int(1.2 * sr), t60, 1.0, np.random.default_rng(8), sr)
    window = np.arange(8 * (period + 0.5)).astype(int)
    tone = np.exp(-2j * np.pi * window / (period + 0.5))

    def fundamental(start: int) -> float:
        return abs(np.dot(long[start + window], tone))

    drop_db = 20 * np.log10(fundamental(period) / fundamental(period + int(t60 * sr)))
    assert 57 < drop_db < 63, f"the fundamental drops {drop_db:.1f} dB in t60"


def _levels(path: Path) -> np.ndarray:
    """The lab's pipeline: mono, 10 kHz, min-max, 16 uniform levels."""
    sr, data = wavfile.read(path)
    x = (data.astype(np.float64) / 32768).mean(axis=1)
    g = gcd(sr, 10000)
    x = resample_poly(x, 10000 // g, sr // g)
    x = (x - x.min()) / (x.max() - x.min())
    return np.minimum(np.floor(16 * x), 15).astype(np.int64)


def test_a_level_histogram_alone_does_not_solve_the_task(tmp_path):
    """The difficulty guard: a logistic regression on the 16-level histogram of each clip must
    beat the majority class clearly and yet stay well below perfect (a retune of the styles that
    made the task trivial or impossible fails here)."""
    plan = write_author_dataset(tmp_path, seed=0)
    features = {"train": [], "val": []}
    labels = {"train": [], "val": []}
    for entry in plan:
        levels = _levels(tmp_path / entry["file"])
        features[entry["split"]].append(np.bincount(levels, minlength=16) / len(levels))
        labels[entry["split"]].append(entry["label"])
    train, val = np.array(features["train"]), np.array(features["val"])
    mean, std = train.mean(0), train.std(0) + 1e-9
    x_train = torch.tensor((train - mean) / std, dtype=torch.float32)
    x_val = torch.tensor((val - mean) / std, dtype=torch.float32)
    y_train = torch.tensor(labels["train"])
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 2)
    optimiser = torch.optim.LBFGS(model.parameters(), max_iter=200)

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_train), y_train) + 1e-3 * (model.weight ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    accuracy = float((model(x_val).argmax(1).numpy() == np.array(labels["val"])).mean())
    majority = COUNTS["val"][0] / sum(COUNTS["val"].values())
    assert majority + 0.05 < accuracy < 0.95, f"histogram cue: validation accuracy {accuracy:.3f}"


@pytest.mark.parametrize("style", STYLES, ids=lambda s: s.name)
def test_styles_overlap_in_register(style):
    other = STYLES[1 - style.label]
    assert style.midi[0] <= other.midi[1] and other.midi[0] <= style.midi[1]
