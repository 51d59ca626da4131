"""Questions 1.1-1.3: sigmoid, binary cross-entropy and its logit gradient."""

import numpy as np
import pytest
from lab01_helpers import assert_within_bands, bce_band

from autograder.testing import strict_call


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(2)
def test_sigmoid_is_stable_at_extremes(sub, tol):
    n = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 709.0, 1000.0])
    result = strict_call(sub.sigmoid, n)  # an overflow on the way is an error
    exact = np.array([0.0, 0.0, 4.248354255291589e-18, 0.5, 1.0, 1.0, 1.0])
    tol.assert_close(result, exact, rtol=0.0, atol=1e-16,
                     what="sigmoid([-1000, -745, -40, 0, 40, 709, 1000]) (within 1e-16)")  # fmt: skip
    # Where |n| <= 500, 12 significant digits, also for the tiny value at -40
    tol.assert_close(np.asarray(result, dtype=np.float64)[2:6], exact[2:6], rtol=1e-12, atol=0.0,
                     what="sigmoid([-40, 0, 40, 709]) (12 significant digits)")  # fmt: skip


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(2)
def test_sigmoid_matches_reference_on_random_inputs(sub, ref, rng, tol):
    n = rng.normal(scale=30.0, size=(5, 3))
    tol.assert_close(strict_call(sub.sigmoid, n), ref.sigmoid(n), rtol=1e-12, atol=0.0,
                     what="sigmoid(n) for n of shape (5, 3)")  # fmt: skip
    # Any shape, and a float32 input: the result is float64, to 12 significant digits of the
    # true value at the input's own (float32) numbers, not 7
    n32 = rng.normal(scale=8.0, size=(2, 3, 4)).astype(np.float32)
    result = strict_call(sub.sigmoid, n32)
    dtype = getattr(result, "dtype", None)
    assert dtype == np.float64, (
        f"sigmoid of a float32 array of shape (2, 3, 4) returned dtype {dtype}; it must return "
        "float64 values (compute in float64)"
    )
    tol.assert_close(result, ref.sigmoid(n32.astype(np.float64)), rtol=1e-12, atol=0.0,
                     what="sigmoid(n) for a float32 n of shape (2, 3, 4) (12 significant digits)")


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(1)
def test_sigmoid_of_a_scalar(sub, tol):
    tol.assert_close(sub.sigmoid(1000.0), 1.0, what="sigmoid(1000.0)", rtol=1e-12)
    tol.assert_close(sub.sigmoid(-2.0), 0.11920292202211755, what="sigmoid(-2.0)")


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_is_the_mean_over_all_entries(sub, rng):
    # Several output units: the mean counts every entry once (a sum over units is 3 times larger)
    # The tolerance is the range the allowed epsilons give (bce_band), nothing more
    a = rng.uniform(0.01, 0.99, size=(6, 3))
    t = (rng.random((6, 3)) < 0.5).astype(float)
    loss = sub.binary_crossentropy_loss(a, t)
    assert isinstance(loss, float), (
        f"binary_crossentropy_loss returned a {type(loss).__name__}; it must return a Python float"
    )
    assert_within_bands(loss, bce_band(a, t), "binary_crossentropy_loss(a, t) for 6 steps of 3 output units")
    # a as forward returns it: a list of column vectors, here 7 steps of 2 output units
    a, t = rng.uniform(0.01, 0.99, size=(7, 2, 1)), (rng.random((7, 2)) < 0.5).astype(float)
    assert_within_bands(sub.binary_crossentropy_loss(list(a), t), bce_band(a, t),
                        "binary_crossentropy_loss(a, t) for a list of 7 column vectors (2, 1)")


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_keeps_probabilities_zero_and_one_finite(sub, tol):
    a = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    # Two right and two wrong certain predictions: about -log(eps) / 2, between 9.2 and 18.4
    assert_within_bands(strict_call(sub.binary_crossentropy_loss, a, t), bce_band(a, t),
                        "binary_crossentropy_loss([0, 1, 0, 1], [0, 1, 1, 0])")
    right = strict_call(sub.binary_crossentropy_loss, a[:2], t[:2])
    tol.assert_close(right, 0.0, what="binary_crossentropy_loss([0, 1], [0, 1])", atol=1e-7)


@pytest.mark.question("1.3 logit gradient")
@pytest.mark.points(1)
def test_logit_gradient_matches_reference(sub, ref, rng, tol):
    n = rng.normal(scale=3.0, size=(4, 2))
    t = (rng.random((4, 2)) < 0.5).astype(float)
    gradient = sub.binary_crossentropy_logit_gradient(n, t)
    assert getattr(gradient, "dtype", None) == np.float64, (
        f"binary_crossentropy_logit_gradient returned dtype {getattr(gradient, 'dtype', type(gradient).__name__)}; "
        "it must return a float64 array"
    )
    tol.assert_close(gradient, ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient(n, t) for n of shape (4, 2)")
    # Any shape, a scalar (0-d) included
    tol.assert_close(sub.binary_crossentropy_logit_gradient(0.5, 1.0), ref.binary_crossentropy_logit_gradient(0.5, 1.0),
                     what="binary_crossentropy_logit_gradient(0.5, 1.0) (a scalar n: an array of shape ())")


@pytest.mark.question("1.3 logit gradient")
@pytest.mark.points(2)
def test_logit_gradient_at_saturation(sub, ref, tol):
    n = np.array([-40.0, -40.0, 40.0, 40.0])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    result = strict_call(sub.binary_crossentropy_logit_gradient, n, t)
    tol.assert_close(result, ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient([-40, -40, 40, 40], [0, 1, 0, 1])",
                     rtol=1e-9, atol=1e-30)
