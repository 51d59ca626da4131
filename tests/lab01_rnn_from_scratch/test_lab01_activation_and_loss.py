"""Part 1: sigmoid, binary cross-entropy and its logit gradient."""

import numpy as np
import pytest

from autograder.testing import strict_call


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(2)
def test_sigmoid_is_stable_at_extremes(sub, tol):
    n = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 709.0, 1000.0])
    result = strict_call(sub.sigmoid, n)
    tol.assert_close(result, [0.0, 0.0, 4.248354255291589e-18, 0.5, 1.0, 1.0, 1.0],
                     what="sigmoid([-1000, -745, -40, 0, 40, 709, 1000])", rtol=1e-12, atol=1e-300)


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(2)
def test_sigmoid_matches_reference_on_random_inputs(sub, ref, rng, tol):
    n = rng.normal(scale=30.0, size=(5, 3))
    tol.assert_close(strict_call(sub.sigmoid, n), ref.sigmoid(n), what="sigmoid(n) for n of shape (5, 3)")


@pytest.mark.question("1.1 sigmoid")
@pytest.mark.points(1)
def test_sigmoid_of_a_scalar(sub, tol):
    tol.assert_close(sub.sigmoid(1000.0), 1.0, what="sigmoid(1000.0)", rtol=1e-12)
    tol.assert_close(sub.sigmoid(-2.0), 0.11920292202211755, what="sigmoid(-2.0)")


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_matches_reference(sub, ref, rng, tol):
    a = rng.uniform(0.01, 0.99, size=(7, 1))
    t = (rng.random((7, 1)) < 0.5).astype(float)
    tol.assert_close(sub.binary_crossentropy_loss(a, t), ref.binary_crossentropy_loss(a, t),
                     what="binary_crossentropy_loss(a, t) on 7 random probabilities")


@pytest.mark.question("1.2 binary cross-entropy")
@pytest.mark.points(2)
def test_bce_clips_probabilities_zero_and_one(sub, ref, tol):
    a = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    result = strict_call(sub.binary_crossentropy_loss, a, t)
    tol.assert_close(result, ref.binary_crossentropy_loss(a, t),
                     what="binary_crossentropy_loss([0, 1, 0, 1], [0, 1, 1, 0]) (eps = 1e-12)")
    right = strict_call(sub.binary_crossentropy_loss, a[:2], t[:2])
    tol.assert_close(right, 0.0, what="binary_crossentropy_loss([0, 1], [0, 1])", atol=1e-9)


@pytest.mark.question("1.2 logit gradient")
@pytest.mark.points(1)
def test_logit_gradient_matches_reference(sub, ref, rng, tol):
    n = rng.normal(scale=3.0, size=(4, 2))
    t = (rng.random((4, 2)) < 0.5).astype(float)
    tol.assert_close(sub.binary_crossentropy_logit_gradient(n, t),
                     ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient(n, t) for n of shape (4, 2)")


@pytest.mark.question("1.2 logit gradient")
@pytest.mark.points(2)
def test_logit_gradient_at_saturation(sub, ref, tol):
    n = np.array([-40.0, -40.0, 40.0, 40.0])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    result = strict_call(sub.binary_crossentropy_logit_gradient, n, t)
    tol.assert_close(result, ref.binary_crossentropy_logit_gradient(n, t),
                     what="binary_crossentropy_logit_gradient([-40, -40, 40, 40], [0, 1, 0, 1])",
                     rtol=1e-9, atol=1e-30)
