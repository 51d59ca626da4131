"""Plots for the lab notebooks: labelled axes and legends, for people rather than graders."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_losses(losses: dict[str, Sequence[float]], title: str = "Training loss") -> Figure:
    """One line per named loss curve (for example {"NumPy": [...], "PyTorch": [...]})."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in losses.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean binary cross-entropy")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_sequence_prediction(
    inputs: np.ndarray, targets: np.ndarray, outputs: np.ndarray, title: str = "Test sequence"
) -> Figure:
    """Inputs as stems, targets and network outputs as steps, over the time steps."""
    steps = np.arange(len(inputs))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.stem(steps, np.ravel(inputs), linefmt="C7-", markerfmt="C7o", basefmt=" ", label="input")
    ax.step(steps, np.ravel(targets), where="mid", color="C0", label="target")
    ax.plot(steps, np.ravel(outputs), "C3.-", label="network output")
    ax.axhline(0.5, color="k", lw=0.5, ls=":")
    ax.set_xlabel("time step t")
    ax.set_ylabel("value")
    ax.set_ylim(-0.1, 1.1)
    ax.set_title(title)
    ax.legend(loc="center right")
    fig.tight_layout()
    return fig
