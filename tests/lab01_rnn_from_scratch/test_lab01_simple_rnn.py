"""Part 2: the NumPy SimpleRNN: forward, BPTT, clipping, update and training."""

import numpy as np
import pytest
from lab01_helpers import GRADIENTS, PARAMETERS, binary_sequence, numpy_rnn, random_weights

R, S1, S2 = 2, 3, 1


def _states(value, T):
    """a1_states as a (T+1, S1) array, whether returned as an array or a list of columns."""
    return np.asarray(value, dtype=np.float64).reshape(T + 1, S1)


@pytest.mark.question("2.1 forward")
@pytest.mark.points(3)
def test_forward_matches_reference(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=9, R=R)
    outputs, states, _ = numpy_rnn(sub, weights, R, S1, S2).forward(inputs)
    expected_outputs, expected_states, _ = numpy_rnn(ref, weights, R, S1, S2).forward(inputs)
    tol.assert_close(outputs, expected_outputs, what="forward(inputs)[0] (outputs, T=9)")
    tol.assert_close(_states(states, 9), expected_states, what="forward(inputs)[1] (a1_states)")


@pytest.mark.question("2.1 forward")
@pytest.mark.points(1)
def test_forward_starts_from_given_state(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=5, R=R)
    a1_prev = rng.uniform(-0.9, 0.9, size=(S1, 1))
    outputs, states, _ = numpy_rnn(sub, weights, R, S1, S2).forward(inputs, a1_prev)
    expected_outputs, _, _ = numpy_rnn(ref, weights, R, S1, S2).forward(inputs, a1_prev)
    tol.assert_close(_states(states, 5)[0], a1_prev[:, 0], what="a1_states[0] with a1_prev given")
    tol.assert_close(outputs, expected_outputs, what="forward(inputs, a1_prev)[0]")


@pytest.mark.question("2.1 forward")
@pytest.mark.points(1)
def test_forward_cache_holds_logits(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=6, R=R)
    _, _, cache = numpy_rnn(sub, weights, R, S1, S2).forward(inputs)
    _, _, expected = numpy_rnn(ref, weights, R, S1, S2).forward(inputs)
    for key in ("inputs", "a1_states", "n2_tot"):
        assert key in cache, f"the cache returned by forward has no key {key!r}"
    tol.assert_close(np.reshape(cache["n2_tot"], (6, S2)), expected["n2_tot"], what='cache["n2_tot"]')


def _loss_sum(namespace, rnn, inputs, targets):
    outputs, _, _ = rnn.forward(inputs)
    return namespace.binary_crossentropy_loss(outputs, targets) * targets.size


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(4)
def test_gradients_match_finite_differences(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2, scale=0.3)
    inputs = binary_sequence(rng, T=6, R=R)
    targets = (rng.random((6, S2)) < 0.5).astype(float)
    rnn = numpy_rnn(sub, weights, R, S1, S2)
    outputs, _, cache = rnn.forward(inputs)
    rnn.backward(outputs, targets, cache)
    step = 1e-6
    for name, gradient_name in zip(PARAMETERS, GRADIENTS):
        analytic = np.array(getattr(rnn, gradient_name), dtype=np.float64)
        numeric = np.zeros_like(weights[name])
        for index in np.ndindex(weights[name].shape):
            for sign in (1.0, -1.0):
                shifted = {key: value.copy() for key, value in weights.items()}
                shifted[name][index] += sign * step
                probe = numpy_rnn(ref, shifted, R, S1, S2)
                numeric[index] += sign * _loss_sum(ref, probe, inputs, targets) / (2 * step)
        tol.assert_close(analytic, numeric, rtol=1e-4, atol=1e-7,
                         what=f"{gradient_name} (the gradient of the loss summed over time steps)")


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(3)
def test_gradients_match_reference_on_long_sequence(sub, ref, rng, tol):
    weights = random_weights(rng, 1, 5, 1, scale=0.8)
    inputs = binary_sequence(rng, T=25)
    targets = (rng.random((25, 1)) < 0.5).astype(float)
    rnn, reference = numpy_rnn(sub, weights, 1, 5, 1), numpy_rnn(ref, weights, 1, 5, 1)
    outputs, _, cache = rnn.forward(inputs)
    rnn.backward(outputs, targets, cache)
    expected_outputs, _, expected_cache = reference.forward(inputs)
    reference.backward(expected_outputs, targets, expected_cache)
    for name in GRADIENTS:
        tol.assert_close(getattr(rnn, name), getattr(reference, name), what=f"{name} after backward")


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(1)
def test_backward_returns_mean_step_loss(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=8, R=R)
    targets = (rng.random((8, S2)) < 0.5).astype(float)
    rnn = numpy_rnn(sub, weights, R, S1, S2)
    outputs, _, cache = rnn.forward(inputs)
    loss = rnn.backward(outputs, targets, cache)
    expected_outputs, _, _ = numpy_rnn(ref, weights, R, S1, S2).forward(inputs)
    tol.assert_close(loss, ref.binary_crossentropy_loss(expected_outputs, targets),
                     what="the value returned by backward (the mean per-step loss)")


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(2)
def test_backward_starts_from_zero_gradients(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2, scale=0.3)
    first, second = binary_sequence(rng, T=5, R=R), binary_sequence(rng, T=7, R=R)
    first_t, second_t = np.ones((5, S2)), np.zeros((7, S2))
    rnn, reference = numpy_rnn(sub, weights, R, S1, S2), numpy_rnn(ref, weights, R, S1, S2)
    for model in (rnn, reference):
        for inputs, targets in ((first, first_t), (second, second_t)):
            outputs, _, cache = model.forward(inputs)
            model.backward(outputs, targets, cache)
    for name in GRADIENTS:
        tol.assert_close(getattr(rnn, name), getattr(reference, name),
                         what=f"{name} after backward on a second sequence (gradients must restart at zero)")


@pytest.mark.question("2.3 gradient clipping")
@pytest.mark.points(2)
def test_clipping_is_per_matrix(sub, tol):
    rnn = sub.SimpleRNN(4, 3, 1)
    big = np.zeros((3, 4))
    big[0, :2] = [6.0, 8.0]  # norm 10: rescaled to norm 5
    small = np.zeros((3, 4))
    small[1, 2:] = [3.0, 4.0]  # norm 5: left alone
    rnn.dIW_11, rnn.dLW_11 = big, np.zeros((3, 3))
    rnn.dLW_21, rnn.db_1, rnn.db_2 = np.zeros((1, 3)), np.zeros((3, 1)), np.zeros((1, 1))
    rnn.clip_gradients(max_norm=5.0)
    expected = np.zeros((3, 4))
    expected[0, :2] = [3.0, 4.0]
    tol.assert_close(rnn.dIW_11, expected, what="a (6, 8) gradient clipped with max_norm=5")
    rnn.dIW_11 = small
    rnn.dLW_21 = np.array([[0.0, 30.0, 40.0]])
    rnn.clip_gradients(max_norm=5.0)
    tol.assert_close(rnn.dIW_11, small, what="a gradient of norm exactly 5 (must not change)")
    tol.assert_close(rnn.dLW_21, [[0.0, 3.0, 4.0]], what="dLW_21 of norm 50 clipped to norm 5")


@pytest.mark.question("2.3 gradient clipping")
@pytest.mark.points(1)
def test_clipping_respects_max_norm_argument(sub, rng, tol):
    rnn = sub.SimpleRNN(2, 2, 1)
    gradients = {"dIW_11": rng.normal(size=(2, 2)) * 10, "dLW_11": rng.normal(size=(2, 2)) * 0.01,
                 "dLW_21": rng.normal(size=(1, 2)) * 10, "db_1": rng.normal(size=(2, 1)) * 10,
                 "db_2": np.array([[0.5]])}
    for name, value in gradients.items():
        setattr(rnn, name, value.copy())
    rnn.clip_gradients(max_norm=1.0)
    for name, value in gradients.items():
        norm = np.linalg.norm(value)
        expected = value * (1.0 / norm) if norm > 1.0 else value
        tol.assert_close(getattr(rnn, name), expected, what=f"{name} after clip_gradients(max_norm=1.0)")


@pytest.mark.question("2.4 parameter update")
@pytest.mark.points(2)
def test_update_is_steepest_descent(sub, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    gradients = random_weights(rng, R, S1, S2)
    rnn = numpy_rnn(sub, weights, R, S1, S2, learning_rate=0.25)
    for name, gradient_name in zip(PARAMETERS, GRADIENTS):
        setattr(rnn, gradient_name, gradients[name].copy())
    rnn.update_parameters()
    for name in PARAMETERS:
        tol.assert_close(getattr(rnn, name), weights[name] - 0.25 * gradients[name],
                         what=f"{name} after update_parameters() with learning_rate=0.25")


@pytest.mark.question("2.5 training")
@pytest.mark.points(2)
def test_train_rnn_losses_match_reference(sub, ref, rng, tol):
    from courselib.counting_ones import counting_ones_data

    sequences, targets = counting_ones_data(n_sequences=12, min_len=4, max_len=9, seed=int(rng.integers(1000)))
    weights = random_weights(rng, 1, 3, 1)
    losses = sub.train_rnn(numpy_rnn(sub, weights, 1, 3, 1, 0.05), sequences, targets, epochs=3)
    expected = ref.train_rnn(numpy_rnn(ref, weights, 1, 3, 1, 0.05), sequences, targets, epochs=3)
    tol.assert_close(losses, expected, what="train_rnn(...) per-epoch losses (3 epochs, 12 sequences)")


@pytest.mark.question("2.5 training")
@pytest.mark.points(1)
def test_train_rnn_lowers_the_loss(sub, rng):
    from courselib.counting_ones import counting_ones_data

    sequences, targets = counting_ones_data(n_sequences=100, seed=int(rng.integers(1000)))
    rnn = numpy_rnn(sub, random_weights(rng, 1, 4, 1), 1, 4, 1, learning_rate=0.05)
    losses = [float(value) for value in sub.train_rnn(rnn, sequences, targets, epochs=6)]
    assert len(losses) == 6, f"train_rnn(..., epochs=6) returned {len(losses)} losses, expected 6"
    assert losses[-1] < 0.8 * losses[0], (
        f"training did not lower the loss: first epoch {losses[0]:.3f}, last {losses[-1]:.3f}"
    )
