"""Numerical comparisons for hidden tests, with tolerances that know dtype and device.

Failures read as sentences a student can act on ("sigmoid(1000.0) returned nan, expected 1.0
within rtol=1e-07, atol=1e-10"), never as the test's source. Values are turned into plain NumPy
arrays first, so an ndarray subclass or an object with a custom `__eq__` cannot pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.core.config import Lab


class ComparisonFailure(AssertionError):
    """A result that is not close to the expected one; the message is safe to show students."""


def to_plain_array(value: Any, what: str) -> np.ndarray:
    """`value` as a base-class float/int/bool ndarray, or a ComparisonFailure saying why not."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        raise ComparisonFailure(f"{what} returned an ndarray subclass; return a plain numpy array")
    try:
        array = np.array(value, copy=True)
    except Exception:
        raise ComparisonFailure(
            f"{what} returned {type(value).__name__}, expected numbers"
        ) from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise ComparisonFailure(f"{what} returned {type(value).__name__}, expected numbers")
    return array


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return repr(value)


class ToleranceHelper:
    """The `tol` fixture: `tol.assert_close(actual, expected, what="sigmoid(x)")`."""

    def __init__(self, lab: Lab, device: str):
        self.lab = lab
        self.device = device

    def for_dtype(self, dtype: Any) -> tuple[float, float]:
        name = "float64" if np.dtype(dtype) == np.float64 else "float32"
        tolerance = self.lab.tolerance(self.device, name)
        return tolerance.rtol, tolerance.atol

    def assert_close(
        self,
        actual: Any,
        expected: Any,
        what: str = "the result",
        rtol: float | None = None,
        atol: float | None = None,
    ) -> None:
        expected_array = to_plain_array(expected, "the reference")
        actual_array = to_plain_array(actual, what)
        default_rtol, default_atol = self.for_dtype(
            expected_array.dtype if expected_array.dtype.kind == "f" else np.float64
        )
        rtol = default_rtol if rtol is None else rtol
        atol = default_atol if atol is None else atol
        if actual_array.shape != expected_array.shape:
            raise ComparisonFailure(
                f"{what} has shape {actual_array.shape}, expected {expected_array.shape}"
            )
        actual_f = actual_array.astype(np.float64)
        expected_f = expected_array.astype(np.float64)
        within = f"within rtol={rtol:g}, atol={atol:g}"
        bad = ~np.isclose(actual_f, expected_f, rtol=rtol, atol=atol, equal_nan=False)
        if not bad.any():
            return
        if actual_f.ndim == 0:
            raise ComparisonFailure(
                f"{what} returned {_short(actual_f)}, expected {_short(expected_f)} {within}"
            )
        error = np.where(bad, np.abs(actual_f - expected_f), -np.inf)
        error = np.where(np.isnan(error), np.inf, error)
        worst = np.unravel_index(int(np.argmax(error)), error.shape)
        raise ComparisonFailure(
            f"{what}: {int(bad.sum())} of {bad.size} values differ; "
            f"at index {tuple(map(int, worst))} "
            f"got {_short(actual_f[worst])}, expected {_short(expected_f[worst])} {within}"
        )

    def assert_equal(self, actual: Any, expected: Any, what: str = "the result") -> None:
        """Exact comparison of plain values (ints, bools, strings, shapes, sets)."""
        plain = (type(None), bool, int, float, str, tuple, list, set, frozenset, dict)
        if not isinstance(actual, plain):
            raise ComparisonFailure(
                f"{what} returned {type(actual).__name__}, expected {expected!r}"
            )
        if type(actual) is not type(expected) and not (
            isinstance(actual, int | float) and isinstance(expected, int | float)
        ):
            raise ComparisonFailure(
                f"{what} returned a {type(actual).__name__}, expected a {type(expected).__name__}"
            )
        if actual != expected:
            raise ComparisonFailure(f"{what} returned {actual!r}, expected {expected!r}")
