"""Exercise 1: impulse responses, finite responses, and the FIR/IIR answer sets.

The filters handed to the submission's functions are the ones its notebook imports from
courselib.filters (`sub.echo`, ...), the same functions the reference uses here.
"""

import numpy as np
import pytest
from lab02_helpers import FILTER_NAMES, QUESTIONS, random_filter_params


def _as_bool(value, what):
    assert isinstance(value, bool), f"{what} returned {type(value).__name__}, expected a Python bool"
    return value


@pytest.mark.question(QUESTIONS["impulse"])
@pytest.mark.points(3)
def test_impulse_responses_of_the_four_filters(sub, ref, rng, tol):
    for name in FILTER_NAMES:
        params = random_filter_params(rng, name)
        length = int(rng.integers(5, 40))
        described = ", ".join(f"{key}={value:.3g}" for key, value in params.items())
        tol.assert_close(sub.impulse_response(getattr(sub, name), length=length, **params),
                         ref.impulse_response(getattr(ref, name), length=length, **params),
                         what=f"impulse_response({name}, length={length}, {described})")


@pytest.mark.question(QUESTIONS["impulse"])
@pytest.mark.points(1)
def test_impulse_response_defaults_and_type(sub, tol):
    h = sub.impulse_response(sub.echo, delay=4, gain=0.5)
    assert isinstance(h, np.ndarray), f"impulse_response returned {type(h).__name__}, expected a numpy array"
    assert h.dtype == np.float64, f"impulse_response returned dtype {h.dtype}, expected float64"
    expected = np.zeros(12)
    expected[[0, 4, 8]] = [1.0, 0.5, 0.25]
    tol.assert_close(h, expected, what="impulse_response(echo, delay=4, gain=0.5) (default length 12)")


@pytest.mark.question(QUESTIONS["impulse"])
@pytest.mark.points(1)
def test_impulse_response_closed_forms(sub, rng, tol):
    r, k = float(rng.uniform(0.2, 0.9)), float(rng.uniform(0.5, 2.0))
    n = np.arange(1, 30)
    expected = np.r_[k, k * (r - 1) * r ** (n - 1)]
    tol.assert_close(sub.impulse_response(sub.change_detector_recursive, length=30, r=r, k=k), expected,
                     what=f"impulse_response(change_detector_recursive, length=30, r={r:.3g}, k={k:.3g})")
    tol.assert_close(sub.impulse_response(sub.running_sum_decay, length=1, r=r), [1.0],
                     what="impulse_response(running_sum_decay, length=1)")
    s = float(rng.uniform(0.1, 0.9))
    tol.assert_close(sub.impulse_response(sub.smoothing, length=25, s=s), s * (1 - s) ** np.arange(25),
                     what=f"impulse_response(smoothing, length=25, s={s:.3g}) (h[n] = s (1 - s)^n)")
    # Any function with the filters' calling convention: np.roll(x, shift=3) delays by 3 samples
    tol.assert_close(sub.impulse_response(sub.np.roll, length=10, shift=3), np.eye(10)[3],
                     what="impulse_response(np.roll, length=10, shift=3) (the impulse delayed by 3 samples)")


FINITE_CASES = [
    ("echo, gain=0", "echo", {"delay": 3, "gain": 0.0}),
    ("smoothing, s=1", "smoothing", {"s": 1.0}),  # h = delta
    ("smoothing, s=0", "smoothing", {"s": 0.0}),  # h = 0
    ("change detector, r=0, k=1.7", "change_detector_recursive", {"r": 0.0, "k": 1.7}),
    ("change detector, r=1, k=0.8", "change_detector_recursive", {"r": 1.0, "k": 0.8}),  # [k, 0, ...]
    ("running sum, r=0", "running_sum_decay", {"r": 0.0}),
    # Odd lengths with a non-zero middle sample: only the last length // 2 samples count.
    ("change detector, r=0, k=1.3, length=3 (h = [k, -k, 0])", "change_detector_recursive",
     {"r": 0.0, "k": 1.3, "length": 3}),
    ("echo, delay=2, gain=0, length=5 (h = [1, 0, 0, 0, 0])", "echo", {"delay": 2, "gain": 0.0, "length": 5}),
    ("change detector, r=0, k=1, length=5", "change_detector_recursive", {"r": 0.0, "k": 1.0, "length": 5}),
    # An even length: the last non-zero sample sits just before the inspected half
    ("change detector, r=0, k=2, length=4 (h = [k, -k, 0, 0])", "change_detector_recursive",
     {"r": 0.0, "k": 2.0, "length": 4}),
]
INFINITE_CASES = [
    ("echo, delay=5, gain=0.6", "echo", {"delay": 5, "gain": 0.6}),  # samples 61..63 are zero
    ("echo, delay=4, gain=-0.7", "echo", {"delay": 4, "gain": -0.7}),
    ("smoothing, s=0.5", "smoothing", {"s": 0.5}),  # last sample about 5e-20: tiny, not zero
    ("change detector, r=0.6, k=1", "change_detector_recursive", {"r": 0.6, "k": 1.0}),
    ("running sum, r=1", "running_sum_decay", {"r": 1.0}),
    ("running sum, r=-0.5", "running_sum_decay", {"r": -0.5}),
    ("echo, delay=2, gain=1.1", "echo", {"delay": 2, "gain": 1.1}),
    ("smoothing, s=2 (h = 2(-1)^n)", "smoothing", {"s": 2.0}),
    # Odd lengths: the last sample of the first half is not inspected, the first of the rest is.
    ("echo, delay=3, gain=0.5, length=7", "echo", {"delay": 3, "gain": 0.5, "length": 7}),
    ("echo, delay=4, gain=0.5, length=9", "echo", {"delay": 4, "gain": 0.5, "length": 9}),
    # An even length whose only non-zero sample of the second half is its first, index length // 2
    ("echo, delay=10, gain=0.5, length=20 (h[10] = 0.5 is in the last 10 samples)", "echo",
     {"delay": 10, "gain": 0.5, "length": 20}),
]


@pytest.mark.question(QUESTIONS["finite"])
@pytest.mark.points(2)
def test_finite_responses_are_recognised(sub):
    for label, name, params in FINITE_CASES:
        result = _as_bool(sub.has_finite_response(getattr(sub, name), **params),
                          f"has_finite_response({label})")
        assert result is True, f"has_finite_response({label}) returned False, but its response is finite"


@pytest.mark.question(QUESTIONS["finite"])
@pytest.mark.points(2)
def test_infinite_responses_are_recognised(sub):
    for label, name, params in INFINITE_CASES:
        result = _as_bool(sub.has_finite_response(getattr(sub, name), **params),
                          f"has_finite_response({label})")
        assert result is False, (
            f"has_finite_response({label}) returned True, but its response is not exactly zero "
            "in the last length // 2 samples"
        )


@pytest.mark.question(QUESTIONS["finite"])
@pytest.mark.points(1)
def test_window_length_is_honoured(sub):
    cases = [
        (dict(delay=12, gain=0.5, length=20), False),  # the echo at n=12 is in the last 10 samples
        (dict(delay=70, gain=0.5, length=200), False),
        (dict(delay=70, gain=0.5, length=64), True),  # the echo comes after the window
        (dict(delay=3, gain=0.0, length=9), True),
    ]
    for kwargs, expected in cases:
        label = ", ".join(f"{key}={value}" for key, value in kwargs.items())
        result = _as_bool(sub.has_finite_response(sub.echo, **kwargs), f"has_finite_response(echo, {label})")
        assert result is expected, f"has_finite_response(echo, {label}) returned {result}, expected {expected}"
    # Any function with the filters' calling convention: np.roll(x, shift=d) delays the impulse by
    # d samples (a FIR filter, h = delta[n - d]); only the window decides whether it is seen
    delays = [(dict(shift=40, length=100), True), (dict(shift=40, length=64), False),
              (dict(shift=10, length=20), False), (dict(shift=9, length=20), True)]  # fmt: skip
    for kwargs, expected in delays:
        label = ", ".join(f"{key}={value}" for key, value in kwargs.items())
        result = _as_bool(sub.has_finite_response(sub.np.roll, **kwargs), f"has_finite_response(np.roll, {label})")
        assert result is expected, (
            f"has_finite_response(np.roll, {label}) (the impulse delayed by {kwargs['shift']} samples) "
            f"returned {result}, expected {expected}"
        )


def _check_answer(answer, expected, name, names):
    """Compare a set of names without revealing it; `answer` may live in the submission."""
    if isinstance(answer, list | tuple):
        answer = set(answer)
    try:
        known = answer.issubset(sorted(names))
        complete = answer.issuperset(sorted(expected))
        exact = answer.issubset(sorted(expected))
    except AttributeError:
        raise AssertionError(f"{name} must be a set of names (keys of LESSON_FILTERS)") from None
    assert known, f"{name} contains names that are not keys of LESSON_FILTERS"
    assert complete, f"{name} is not right: some names are missing"
    assert exact, f"{name} is not right: it contains names that do not belong"


@pytest.mark.question(QUESTIONS["fir_iir"])
@pytest.mark.points(2)
def test_finite_response_set(sub, ref):
    _check_answer(sub.FINITE_RESPONSE, set(ref.FINITE_RESPONSE), "FINITE_RESPONSE", set(ref.LESSON_FILTERS))


@pytest.mark.question(QUESTIONS["fir_iir"])
@pytest.mark.points(2)
def test_decays_never_zero_set(sub, ref):
    _check_answer(sub.DECAYS_NEVER_ZERO, set(ref.DECAYS_NEVER_ZERO), "DECAYS_NEVER_ZERO",
                  set(ref.LESSON_FILTERS))
