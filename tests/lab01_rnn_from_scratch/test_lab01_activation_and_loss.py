"""Questions 1.1-1.3: sigmoid, binary cross-entropy and its logit gradient."""

import numpy as np
import pytest

from autograder.testing import strict_call

# -log(eps) / 2: the mean loss of two right and two wrong certain predictions, for the smallest
# and the largest epsilon the notebook allows (1e-16 and 1e-8)
MOST_CLIPPED = -np.log(1e-16) / 2
LEAST_CLIPPED = -np.log(1e-8) / 2


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


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(1)
def test_sigmoid_of_a_scalar(sub, tol):
    tol.assert_close(sub.sigmoid(1000.0), 1.0, what="sigmoid(1000.0)", rtol=1e-12)
    tol.assert_close(sub.sigmoid(-2.0), 0.11920292202211755, what="sigmoid(-2.0)")


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_is_the_mean_over_all_entries(sub, ref, rng, tol):
    # Several output units: the mean counts every entry once (a sum over units is 3 times larger)
    a = rng.uniform(0.01, 0.99, size=(6, 3))
    t = (rng.random((6, 3)) < 0.5).astype(float)
    tol.assert_close(sub.binary_crossentropy_loss(a, t), ref.binary_crossentropy_loss(a, t),
                     what="binary_crossentropy_loss(a, t) for 6 steps of 3 output units")  # fmt: skip
    a, t = rng.uniform(0.01, 0.99, size=(7, 1)), (rng.random((7, 1)) < 0.5).astype(float)
    tol.assert_close(sub.binary_crossentropy_loss(a, t), ref.binary_crossentropy_loss(a, t),
                     what="binary_crossentropy_loss(a, t) on 7 random probabilities")  # fmt: skip


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_keeps_probabilities_zero_and_one_finite(sub, tol):
    a = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    result = float(strict_call(sub.binary_crossentropy_loss, a, t))
    assert LEAST_CLIPPED - 1e-6 <= result <= MOST_CLIPPED + 1e-6, (
        f"binary_crossentropy_loss([0, 1, 0, 1], [0, 1, 1, 0]) = {result:.6g}; with an epsilon "
        f"between 1e-16 and 1e-8 it lies between {LEAST_CLIPPED:.4g} and {MOST_CLIPPED:.4g}"
    )
    right = strict_call(sub.binary_crossentropy_loss, a[:2], t[:2])
    tol.assert_close(right, 0.0, what="binary_crossentropy_loss([0, 1], [0, 1])", atol=1e-7)


@pytest.mark.question("1.3 logit gradient")
@pytest.mark.points(1)
def test_logit_gradient_matches_reference(sub, ref, rng, tol):
    n = rng.normal(scale=3.0, size=(4, 2))
    t = (rng.random((4, 2)) < 0.5).astype(float)
    tol.assert_close(sub.binary_crossentropy_logit_gradient(n, t),
                     ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient(n, t) for n of shape (4, 2)")


@pytest.mark.question("1.3 logit gradient")
@pytest.mark.points(2)
def test_logit_gradient_at_saturation(sub, ref, tol):
    n = np.array([-40.0, -40.0, 40.0, 40.0])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    result = strict_call(sub.binary_crossentropy_logit_gradient, n, t)
    tol.assert_close(result, ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient([-40, -40, 40, 40], [0, 1, 0, 1])",
                     rtol=1e-9, atol=1e-30)
