"""Synthetic novelty curves for Lab 2 (onset detection) and the lesson's change-detector RNN.

The generator follows the specification ``novelty_curves.md`` exactly (parameters, defaults and the
order of the random draws), so that the figures printed in the PCPT Unit 9 notebook (positive
fraction of the targets, losses of the hand-made change-detector RNN) are reproduced.

Each sample is an input sequence ``x`` (a sum of decaying "note" envelopes with a short attack
ramp, blurred, noisy and scaled to a maximum of ``x_max``) and a target sequence ``y`` marking the
event (onset) positions, either as binary impulses or as unit-peak Gaussian bumps.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

__all__ = ["ChangeDetectorRNN", "NoveltyCurveDataset", "change_detector_rnn"]


def _check_range(name: str, rng_: tuple[float, float], *, positive: bool = False) -> None:
    """Raise ValueError unless ``rng_`` is a pair (lo, hi) with lo <= hi (and lo > 0 if asked)."""
    if len(rng_) != 2:
        raise ValueError(f"{name} must be a pair (lo, hi), got {rng_!r}")
    lo, hi = rng_
    if lo > hi:
        raise ValueError(f"{name} must satisfy lo <= hi, got {rng_!r}")
    if positive and lo <= 0:
        raise ValueError(f"{name} must be positive, got {rng_!r}")


class NoveltyCurveDataset(Dataset):
    """Synthetic novelty curves (inputs) with event targets, as in PCPT Unit 9.

    Parameters (defaults of the specification):
        n_samples: number of sequences N (>= 1).
        seq_len: length T of each sequence (>= 1).
        x_max: each input is finally scaled so that its maximum equals ``x_max`` (> 0).
        min_gap: spacing of the grid that event positions are drawn from (>= 1).
        amp_range: event amplitude A, uniform on (lo, hi).
        tau_range: decay time constant tau, log-uniform on (lo, hi); decay ratio r = exp(-1/tau).
        sigma_target: None for binary targets (1 at each event); > 0 for unit-peak Gaussian bumps
            of that standard deviation (in samples).
        noise_std: standard deviation of additive Gaussian noise on the input (>= 0).
        n_peaks_range: number of events K, integer, both ends inclusive (surplus events that do
            not fit on the grid are dropped silently).
        combine: how target bumps are combined, "max" or "sum".
        rise_len_rng: length L of the attack ramp, integer, both ends inclusive.
        rise_jitter_std: multiplicative jitter on the ramp (>= 0).
        smooth_sigma_range: std of a Gaussian blur of the input, uniform; None disables the blur.
        smooth_radius: blur kernel radius (2*radius+1 taps, normalised to sum 1).
        seed: seed of the single ``numpy.random.default_rng(seed)`` driving every draw.

    Attributes:
        X, Y: float32 tensors of shape (N, T, 1) (inputs and targets).

    ``ds[i]`` returns ``(X[i], Y[i])``, each of shape (T, 1); ``len(ds)`` is N.
    """

    def __init__(
        self,
        n_samples: int = 800,
        seq_len: int = 128,
        x_max: float = 2.0,
        min_gap: int = 10,
        amp_range: tuple[float, float] = (0.6, 1.6),
        tau_range: tuple[float, float] = (2.0, 5.0),
        sigma_target: float | None = None,
        noise_std: float = 0.02,
        n_peaks_range: tuple[int, int] = (2, 6),
        combine: str = "max",
        rise_len_rng: tuple[int, int] = (2, 6),
        rise_jitter_std: float = 0.05,
        smooth_sigma_range: tuple[float, float] | None = (0.5, 2.0),
        smooth_radius: int = 4,
        seed: int = 0,
    ) -> None:
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        if int(seq_len) < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not x_max > 0:
            raise ValueError(f"x_max must be > 0, got {x_max}")
        if int(min_gap) < 1:
            raise ValueError(f"min_gap must be >= 1, got {min_gap}")
        _check_range("amp_range", amp_range)
        _check_range("tau_range", tau_range, positive=True)
        if sigma_target is not None and not sigma_target > 0:
            raise ValueError(f"sigma_target must be None or > 0, got {sigma_target}")
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        _check_range("n_peaks_range", n_peaks_range)
        if n_peaks_range[0] < 0:
            raise ValueError(f"n_peaks_range must be non-negative, got {n_peaks_range!r}")
        if combine not in ("max", "sum"):
            raise ValueError(f"combine must be 'max' or 'sum', got {combine!r}")
        _check_range("rise_len_rng", rise_len_rng)
        if rise_len_rng[0] < 1:
            raise ValueError(f"rise_len_rng must be >= 1, got {rise_len_rng!r}")
        if rise_jitter_std < 0:
            raise ValueError(f"rise_jitter_std must be >= 0, got {rise_jitter_std}")
        if smooth_sigma_range is not None:
            _check_range("smooth_sigma_range", smooth_sigma_range, positive=True)
        if int(smooth_radius) < 0:
            raise ValueError(f"smooth_radius must be >= 0, got {smooth_radius}")

        self.n_samples = int(n_samples)
        self.seq_len = int(seq_len)
        self.x_max = float(x_max)
        self.min_gap = int(min_gap)
        self.amp_range = tuple(amp_range)
        self.tau_range = tuple(tau_range)
        self.sigma_target = sigma_target
        self.noise_std = float(noise_std)
        self.n_peaks_range = tuple(n_peaks_range)
        self.combine = combine
        self.rise_len_rng = tuple(rise_len_rng)
        self.rise_jitter_std = float(rise_jitter_std)
        self.smooth_sigma_range = None if smooth_sigma_range is None else tuple(smooth_sigma_range)
        self.smooth_radius = int(smooth_radius)
        self.seed = seed

        rng = np.random.default_rng(seed)
        xs = np.zeros((self.n_samples, self.seq_len), dtype=np.float32)
        ys = np.zeros((self.n_samples, self.seq_len), dtype=np.float32)
        for i in range(self.n_samples):
            xs[i], ys[i] = self._make_sample(rng)
        self.X = torch.from_numpy(xs).unsqueeze(-1)
        self.Y = torch.from_numpy(ys).unsqueeze(-1)

    def _event_positions(self, rng: np.random.Generator) -> np.ndarray:
        """Steps 1-2: number of events K and their sorted positions on a shifted grid."""
        k_lo, k_hi = self.n_peaks_range
        n_events = int(rng.integers(k_lo, k_hi + 1))
        offset = int(rng.integers(0, self.min_gap))
        candidates = np.arange(offset, self.seq_len, self.min_gap)
        k = min(n_events, len(candidates))
        return np.sort(rng.choice(candidates, size=k, replace=False))

    def _target(self, events: np.ndarray) -> np.ndarray:
        """Step 3: binary impulses or Gaussian bumps (combined by max or sum); no draws."""
        T = self.seq_len
        y = np.zeros(T)
        if self.sigma_target is None:
            y[events] = 1.0
            return y
        n = np.arange(T)
        for c in events:
            bump = np.exp(-0.5 * ((n - c) / self.sigma_target) ** 2)
            y = np.maximum(y, bump) if self.combine == "max" else y + bump
        return y

    def _input(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Steps 4-7: decaying envelopes with a jittered attack ramp, blur, noise, scaling."""
        T = self.seq_len
        x = np.zeros(T)
        amp_lo, amp_hi = self.amp_range
        tau_lo, tau_hi = self.tau_range
        rise_lo, rise_hi = self.rise_len_rng
        for c in events:
            A = rng.uniform(amp_lo, amp_hi)
            tau = math.exp(rng.uniform(math.log(tau_lo), math.log(tau_hi)))
            r = math.exp(-1.0 / tau)
            tail = A * r ** np.arange(T - c)
            L = int(rng.integers(rise_lo, rise_hi + 1))
            L = min(max(L, 1), T - c)
            k = np.arange(L)
            ramp = np.minimum(1.0, (k + 1) / L)
            jitter = 1.0 + self.rise_jitter_std * rng.standard_normal(L)
            tail[:L] *= ramp * jitter
            x[c:] += tail
        if self.smooth_sigma_range is not None:
            s = rng.uniform(*self.smooth_sigma_range)
            m = np.arange(-self.smooth_radius, self.smooth_radius + 1)
            kernel = np.exp(-0.5 * (m / s) ** 2)
            kernel /= kernel.sum()
            # Same as numpy.convolve(x, kernel, mode="same") when T >= 2*radius+1, and still
            # of length T for shorter sequences.
            R = self.smooth_radius
            x = np.convolve(x, kernel, mode="full")[R : R + T]
        if self.noise_std > 0:
            x = x + self.noise_std * rng.standard_normal(T)
        peak = x.max()
        return (self.x_max / peak) * x if peak > 0 else np.zeros(T)

    def _make_sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (x, y) pair, drawing from ``rng`` in the order of the specification."""
        events = self._event_positions(rng)
        y = self._target(events)
        x = self._input(events, rng)
        return x.astype(np.float32), y.astype(np.float32)

    def __len__(self) -> int:
        return self.n_samples

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[idx], self.Y[idx]


class ChangeDetectorRNN(nn.Module):
    """The lesson's hand-made change detector as an Elman RNN (tanh), hidden state [y_t, x_t].

    With the hidden state scaled by ``alpha`` so that tanh stays near-linear,
    h_t = tanh(W_ih x_t + W_hh h_{t-1}) with biases that start at zero (trainable, as in the
    lesson) and

        W_ih = [[alpha*k], [alpha]],    W_hh = [[r, -k], [0, 0]],

    i.e. h1_t = tanh(alpha*k*x_t + r*h1_{t-1} - k*h2_{t-1}) and h2_t = tanh(alpha*x_t).
    Since h2_{t-1} ~ alpha*x_{t-1}, h1_t ~ alpha*y_t with y_t = r*y_{t-1} + k*(x_t - x_{t-1})
    (initial rest), the recursive change detector whose impulse response starts with k
    (``courselib.filters.change_detector_recursive``). The linear readout [1/alpha, 0] returns
    ~y_t.

    Input (B, T, 1), output (B, T, 1) (raw values, used like logits/regression outputs).
    """

    def __init__(self, alpha: float = 0.1, r: float = 0.6, k: float = 1.0) -> None:
        super().__init__()
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha, self.r, self.k = float(alpha), float(r), float(k)
        self.rnn = nn.RNN(1, 2, batch_first=True, bias=True)
        self.readout = nn.Linear(2, 1, bias=True)
        with torch.no_grad():
            self.rnn.weight_ih_l0.copy_(torch.tensor([[alpha * k], [alpha]]))
            self.rnn.weight_hh_l0.copy_(torch.tensor([[r, -k], [0.0, 0.0]]))
            self.readout.weight.copy_(torch.tensor([[1.0 / alpha, 0.0]]))
            # Zero biases: the untrained model is the recursive filter; training may move them
            # (the lesson's MSE training does, and its printed losses need them)
            self.rnn.bias_ih_l0.zero_()
            self.rnn.bias_hh_l0.zero_()
            self.readout.bias.zero_()

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Map inputs (B, T, 1) to outputs (B, T, 1), from the hidden state h0 (1, B, 2) or, when
        None, a zero one (initial rest)."""
        h, _ = self.rnn(x, h0)
        return self.readout(h)


def change_detector_rnn(alpha: float = 0.1, r: float = 0.6, k: float = 1.0) -> ChangeDetectorRNN:
    """Build the lesson's change-detector RNN (see ``ChangeDetectorRNN``); weights fixed by hand."""
    return ChangeDetectorRNN(alpha=alpha, r=r, k=k)
