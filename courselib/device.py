"""Which device a notebook computes on."""

from __future__ import annotations

import os

import torch

# The autograder sets this to the device it grades on; students normally leave it unset.
DEVICE_ENV = "COURSELIB_DEVICE"


def get_device() -> torch.device:
    """The device to compute on: $COURSELIB_DEVICE when set, else CUDA when available, else CPU.

    A request for CUDA on a machine without it is an error rather than a silent fall-back, so a
    grader never believes it graded on a GPU when it did not.
    """
    requested = os.environ.get(DEVICE_ENV, "").strip().lower()
    if requested in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)  # raises on names torch does not know
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={requested} but this machine has no CUDA device")
    return device
