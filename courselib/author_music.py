"""A synthetic, deterministic stand-in for the "author music" data set of Lab 4.

The original lab downloads 1-second guitar clips of two authors from the web. A grader has no
network, so this module renders two "guitarists" with Karplus-Strong plucked strings and writes
them as real 44.1 kHz stereo int16 `.wav` files, the format the original clips had. Everything is
determined by one seed: the same seed gives the same bytes.

The two authors differ in register, note rate, decay and vibrato, with overlapping ranges, so that
no single easy cue solves the task (the kit guards the difficulty in its tests):

| label | author       | MIDI notes | notes/s     | T60 (s)       | vibrato            |
|-------|--------------|------------|-------------|---------------|--------------------|
| 0     | other author | 50-72      | U[4.5, 9]   | U[0.10, 0.45] | none               |
| 1     | true author  | 40-62      | U[1.5, 4.5] | U[0.5, 1.5]   | 20 cents, 5-6.5 Hz |
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
from scipy.io import wavfile
from scipy.signal import lfilter

__all__ = [
    "COUNTS", "SAMPLE_RATE", "STYLES", "Style", "author_clip_plan", "pluck", "render_clip",
    "write_author_dataset",
]  # fmt: skip

SAMPLE_RATE = 44100
CLIP_SECONDS = 1.0
# The source's 171 training clips (100 of the other author, 71 of the true author), and a
# validation split half that size: 256 clips, 45 MB of .wav files.
COUNTS = {"train": {0: 100, 1: 71}, "val": {0: 50, 1: 35}}
MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Style:
    """How one author plays: every range is sampled uniformly per clip (rate) or per note."""

    name: str
    label: int
    midi: tuple[int, int]  # lowest and highest MIDI note, inclusive
    notes_per_s: tuple[float, float]
    t60_s: tuple[float, float]  # time for the fundamental to decay by 60 dB
    vibrato_cents: float = 0.0  # peak deviation of the pitch
    vibrato_hz: tuple[float, float] = (0.0, 0.0)


STYLES = (
    Style("other author", 0, midi=(57, 79), notes_per_s=(4.5, 9.0), t60_s=(0.10, 0.45)),
    Style("true author", 1, midi=(40, 62), notes_per_s=(1.5, 4.5), t60_s=(0.5, 1.5),
          vibrato_cents=20.0, vibrato_hz=(5.0, 6.5)),
)  # fmt: skip


def pluck(f0: float, n_samples: int, t60_s: float, brightness: float, rng: np.random.Generator,
          sr: int = SAMPLE_RATE) -> np.ndarray:  # fmt: skip
    """One Karplus-Strong note: float64 (n_samples,).

    A noise burst of one period N = round(sr / f0), low-passed by the one-pole filter
    b[i] = brightness * u[i] + (1 - brightness) * b[i-1], excites the string loop
    y[i] = b[i] + d/2 (y[i-N] + y[i-N-1]) (b is zero after the burst, y is zero before 0). The loop
    gain d makes the fundamental decay by 60 dB in t60_s whatever the pitch. The loop is run one
    period per NumPy step: a whole period depends only on earlier periods.
    """
    period = max(2, int(round(sr / f0)))
    burst = rng.uniform(-1.0, 1.0, size=period)
    excitation = lfilter([brightness], [1.0, brightness - 1.0], burst)
    # The two-tap average attenuates the fundamental by cos(pi f0 / sr) per period as well.
    gain_per_period = 10.0 ** (-3.0 / (t60_s * sr / period))
    loop_gain = min(0.99999, gain_per_period / np.cos(np.pi / period))
    total = max(n_samples, period)
    blocks = -(-total // period)
    y = np.zeros(blocks * period + 1)  # y[0] stands for y[-1] = 0
    y[1:period + 1] = excitation
    for k in range(1, blocks):
        start = 1 + k * period
        previous = y[start - period - 1:start - 1]  # y[i - N - 1] for the block
        y[start:start + period] = 0.5 * loop_gain * (y[start - period:start] + previous)
    return y[1:n_samples + 1].copy()


def _vibrato(note: np.ndarray, cents: float, rate_hz: float, phase: float, sr: int) -> np.ndarray:
    """`note` read along a sinusoidally warped time axis (a pitch deviation of +-cents)."""
    n = len(note)
    t = np.arange(n) / sr
    speed = 2.0 ** (cents / 1200.0 * np.sin(2.0 * np.pi * rate_hz * t + phase))
    position = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    return np.interp(position, np.arange(n), note, right=0.0)


def render_clip(style: Style, rng: np.random.Generator, sr: int = SAMPLE_RATE,
                seconds: float = CLIP_SECONDS) -> np.ndarray:  # fmt: skip
    """One clip of `style`: int16 (round(seconds * sr), 2), stereo.

    Notes on a jittered grid at the clip's note rate, starting at a random offset before the clip
    (earlier notes ring into it), velocity U[0.3, 1], summed and peak-normalised; then a soft
    limiter tanh(drive x) / tanh(drive) with drive U[2, 4], hiss at -50..-35 dBFS, and a right
    channel 0.9 x the left plus its own hiss.
    """
    n = int(round(seconds * sr))
    rate = rng.uniform(*style.notes_per_s)
    spacing = 1.0 / rate
    t60 = rng.uniform(*style.t60_s)  # the clip's decay: one way of playing (damping) per clip
    onset = -rng.uniform(0.0, 1.0)  # notes begun up to 1 s before the clip ring into it
    mix = np.zeros(n)
    while onset < seconds:
        start = onset + rng.uniform(-0.2, 0.2) * spacing
        midi = rng.integers(style.midi[0], style.midi[1] + 1)
        f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        brightness = rng.uniform(0.3, 0.9)
        velocity = rng.uniform(0.3, 1.0)
        first = int(round(start * sr))
        length = n - first
        if length > 0:
            # Slightly longer than needed: vibrato reads up to 1.2 % ahead.
            note = pluck(f0, length + length // 50 + 2, t60, brightness, rng, sr)
            if style.vibrato_cents:
                note = _vibrato(note, style.vibrato_cents, rng.uniform(*style.vibrato_hz),
                                rng.uniform(0.0, 2.0 * np.pi), sr)  # fmt: skip
            note = velocity * note[:length]
            skip = max(0, -first)
            mix[max(0, first):] += note[skip:]
        onset += spacing
    peak = np.abs(mix).max()
    if peak > 0:
        mix /= peak
    drive = rng.uniform(2.0, 4.0)
    left = np.tanh(drive * mix) / np.tanh(drive)
    hiss = 10.0 ** (rng.uniform(-50.0, -35.0) / 20.0)
    left = 0.95 * left + hiss * rng.standard_normal(n)
    right = 0.9 * left + hiss * rng.standard_normal(n)
    stereo = np.stack([left, right], axis=1)
    return np.clip(np.round(stereo * 32767.0), -32768, 32767).astype(np.int16)


def author_clip_plan(seed: int = 0, counts: dict = COUNTS) -> list[dict]:
    """The clips of a data set in their (seeded, shuffled) file order: one dict per clip with
    `file` ("clip_0000.wav", ...), `label` (int) and `split` (str). The order comes from
    np.random.default_rng([seed, 1])."""
    entries = [(split, label) for split, per_label in counts.items()
               for label, count in per_label.items() for _ in range(count)]  # fmt: skip
    order = np.random.default_rng([seed, 1]).permutation(len(entries))
    return [{"file": f"clip_{index:04d}.wav", "label": int(entries[j][1]), "split": entries[j][0]}
            for index, j in enumerate(order)]  # fmt: skip


def write_author_dataset(folder: str | os.PathLike, seed: int = 0, counts: dict = COUNTS,
                         styles: tuple[Style, ...] = STYLES,
                         sr: int = SAMPLE_RATE) -> list[dict]:  # fmt: skip
    """Render the clips of `author_clip_plan(seed, counts)` into `folder`: one stereo int16 `.wav`
    file of one second per clip and `manifest.csv` (columns file, label, split). The audio comes
    from np.random.default_rng([seed, 2]), clip after clip in file order. Returns the plan."""
    os.makedirs(folder, exist_ok=True)
    by_label = {style.label: style for style in styles}
    plan = author_clip_plan(seed, counts)
    rng = np.random.default_rng([seed, 2])
    for entry in plan:
        clip = render_clip(by_label[entry["label"]], rng, sr)
        wavfile.write(os.path.join(folder, entry["file"]), sr, clip)
    with open(os.path.join(folder, MANIFEST), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "label", "split"])
        writer.writeheader()
        writer.writerows(plan)
    return plan
