"""Questions 2.1-2.5: the NumPy SimpleRNN: forward, BPTT, clipping, update and training."""

import numpy as np
import pytest
from lab01_helpers import (
    GRADIENTS,
    MAX_NORM,
    PARAMETERS,
    as_steps,
    assert_within_bands,
    bce_band,
    binary_sequence,
    clip_each,
    exploding_case,
    numpy_rnn,
    random_weights,
)

R, S1, S2 = 2, 3, 1


@pytest.mark.question("2.1 forward")
@pytest.mark.points(3)
def test_forward_matches_reference(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=9, R=R)
    outputs, states, _ = numpy_rnn(sub, weights, R, S1, S2).forward(inputs)
    expected_outputs, expected_states, _ = numpy_rnn(ref, weights, R, S1, S2).forward(inputs)
    tol.assert_close(as_steps(outputs, 9, S2), as_steps(expected_outputs, 9, S2),
                     what="the outputs of forward(inputs) (T=9)")  # fmt: skip
    tol.assert_close(as_steps(states, 10, S1), as_steps(expected_states, 10, S1),
                     what="the a1_states of forward(inputs) (T+1 = 10 states)")  # fmt: skip
    # The same steps as a list of vectors, and, with one input, as a flat array (T,)
    listed, _, _ = numpy_rnn(sub, weights, R, S1, S2).forward([row for row in inputs])
    tol.assert_close(as_steps(listed, 9, S2), as_steps(expected_outputs, 9, S2),
                     what="the outputs of forward on a list of 9 input vectors")  # fmt: skip
    single = {**weights, "IW_11": weights["IW_11"][:, :1]}
    flat, _, _ = numpy_rnn(sub, single, 1, S1, S2).forward(inputs[:, 0])
    expected_flat, _, _ = numpy_rnn(ref, single, 1, S1, S2).forward(inputs[:, :1])
    tol.assert_close(as_steps(flat, 9, S2), as_steps(expected_flat, 9, S2),
                     what="the outputs of forward on a flat array of 9 inputs (R = 1)")  # fmt: skip


@pytest.mark.question("2.1 forward")
@pytest.mark.points(1)
def test_forward_starts_from_given_state(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, S2)
    inputs = binary_sequence(rng, T=5, R=R)
    a1_prev = rng.uniform(-0.9, 0.9, size=(S1, 1))
    outputs, states, _ = numpy_rnn(sub, weights, R, S1, S2).forward(inputs, a1_prev)
    expected_outputs, _, _ = numpy_rnn(ref, weights, R, S1, S2).forward(inputs, a1_prev)
    tol.assert_close(as_steps(states, 6, S1)[0], a1_prev[:, 0], what="a1_states[0] with a1_prev given")
    tol.assert_close(as_steps(outputs, 5, S2), as_steps(expected_outputs, 5, S2),
                     what="the outputs of forward(inputs, a1_prev)")  # fmt: skip
    # The initial state may also be a flat vector (S1,)
    flat_outputs, flat_states, _ = numpy_rnn(sub, weights, R, S1, S2).forward(inputs, a1_prev[:, 0])
    tol.assert_close(as_steps(flat_states, 6, S1)[0], a1_prev[:, 0], what="a1_states[0] with a1_prev of shape (S1,)")
    tol.assert_close(as_steps(flat_outputs, 5, S2), as_steps(expected_outputs, 5, S2),
                     what="the outputs of forward(inputs, a1_prev) with a1_prev of shape (S1,)")  # fmt: skip


@pytest.mark.question("2.1 forward")
@pytest.mark.points(1)
def test_forward_cache_holds_logits(sub, ref, rng, tol):
    weights = random_weights(rng, R, S1, 2)
    inputs = binary_sequence(rng, T=6, R=R)
    _, _, cache = numpy_rnn(sub, weights, R, S1, 2).forward(inputs)
    _, _, expected = numpy_rnn(ref, weights, R, S1, 2).forward(inputs)
    for key in ("inputs", "a1_states", "n2_tot"):
        assert key in cache, f"the cache returned by forward has no key {key!r}"
    tol.assert_close(as_steps(cache["n2_tot"], 6, 2), as_steps(expected["n2_tot"], 6, 2),
                     what='cache["n2_tot"] (the net inputs of the output layer, S2 = 2)')  # fmt: skip


def _summed_loss(namespace, rnn, inputs, targets):
    """The loss F summed over steps and output units (the mean loss times the entries)."""
    outputs, _, _ = rnn.forward(inputs)
    return namespace.binary_crossentropy_loss(outputs, targets) * targets.size


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(3)
def test_gradients_match_finite_differences(sub, ref, rng, tol):
    # Two output units: the gradient is of the loss summed over steps and units
    R2, S12, S22 = 2, 3, 2
    weights = random_weights(rng, R2, S12, S22, scale=0.3)
    inputs = binary_sequence(rng, T=6, R=R2)
    targets = (rng.random((6, S22)) < 0.5).astype(float)
    rnn = numpy_rnn(sub, weights, R2, S12, S22)
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
                probe = numpy_rnn(ref, shifted, R2, S12, S22)
                numeric[index] += sign * _summed_loss(ref, probe, inputs, targets) / (2 * step)
        # backward clips as its last step: compare with the clipped finite differences
        tol.assert_close(analytic, clip_each(numeric), rtol=1e-4, atol=1e-7,
                         what=f"{gradient_name} (the gradient of the loss summed over time steps "
                              f"and output units)")  # fmt: skip


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
def test_backward_returns_mean_step_loss(sub, ref, rng):
    weights = random_weights(rng, R, S1, 2)
    inputs = binary_sequence(rng, T=8, R=R)
    targets = (rng.random((8, 2)) < 0.5).astype(float)
    rnn = numpy_rnn(sub, weights, R, S1, 2)
    outputs, _, cache = rnn.forward(inputs)
    loss = rnn.backward(outputs, targets, cache)
    expected_outputs, _, _ = numpy_rnn(ref, weights, R, S1, 2).forward(inputs)
    assert_within_bands(loss, bce_band(np.asarray(expected_outputs), targets),
                        "the value returned by backward (the average loss over the sequence)")


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(1)
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


@pytest.mark.question("2.2 backpropagation through time")
@pytest.mark.points(2)
def test_backward_clips_each_gradient(sub, ref, rng, tol):
    # Built so that four gradients exceed max_norm 5 for every draw (see exploding_case)
    weights, inputs, targets = exploding_case(rng)
    rnn, reference = numpy_rnn(sub, weights, 2, 2, 2), numpy_rnn(ref, weights, 2, 2, 2)
    outputs, _, cache = rnn.forward(inputs)
    rnn.backward(outputs, targets, cache)
    expected_outputs, _, expected_cache = reference.forward(inputs)
    reference.backward(expected_outputs, targets, expected_cache)
    for name in GRADIENTS:
        gradient = np.asarray(getattr(rnn, name), dtype=np.float64)
        assert np.linalg.norm(gradient) <= MAX_NORM * (1 + 1e-9), (
            f"{name} has norm {np.linalg.norm(gradient):.4g} after backward: backward must end by "
            f"clipping each gradient to norm 5 with clip_gradients()"
        )
        tol.assert_close(gradient, getattr(reference, name),
                         what=f"{name} after backward on a sequence whose gradients exceed norm 5")


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
    # Frobenius norm 6 but largest singular value 4.8: the Frobenius norm decides
    rnn.dLW_11 = np.diag([4.8, 3.6, 0.0])
    rnn.clip_gradients()  # the default max_norm, 5.0
    tol.assert_close(rnn.dIW_11, small, what="a gradient of norm exactly 5 (must not change)")
    tol.assert_close(rnn.dLW_21, [[0.0, 3.0, 4.0]], what="dLW_21 of norm 50 clipped by clip_gradients() "
                     "(its default max_norm is 5.0)")
    tol.assert_close(rnn.dLW_11, np.diag([4.0, 3.0, 0.0]),
                     what="dLW_11 = diag(4.8, 3.6, 0) (Frobenius norm 6) clipped to norm 5")


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
        tol.assert_close(getattr(rnn, name), clip_each(value, 1.0),
                         what=f"{name} after clip_gradients(max_norm=1.0)")


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


def _training_data(rng, as_arrays=False):
    """Twelve sequences of 2 inputs and 2 targets, ragged (lists) or of one length (arrays
    (12, T, 2)); the first one's gradients are certain to be clipped, so that training depends
    on clipping being right for every draw."""
    weights, first_inputs, first_targets = exploding_case(rng)
    sequences, targets = [first_inputs], [first_targets]
    for length in [len(first_inputs)] * 11 if as_arrays else rng.integers(4, 10, size=11):
        sequences.append(binary_sequence(rng, T=int(length), R=2))
        targets.append((rng.random((int(length), 2)) < 0.5).astype(float))
    weights = {name: value + rng.normal(scale=0.05, size=value.shape) for name, value in weights.items()}
    if as_arrays:
        return weights, np.stack(sequences), np.stack(targets)
    return weights, sequences, targets


def _loss_bands(ref, weights, sequences, targets, epochs: int) -> np.ndarray:
    """The reference's training run, step by step as the notebook describes it (forward, backward,
    update_parameters for each sequence in order), with the range of each epoch's mean loss that
    the allowed epsilons give: the weights do not depend on the epsilon, only the losses do.
    (epochs, 2) lows and highs."""
    rnn = numpy_rnn(ref, weights, 2, 2, 2, 0.05)
    bands = []
    for _ in range(epochs):
        per_sequence = []
        for inputs, target in zip(sequences, targets, strict=True):
            outputs, _, cache = rnn.forward(inputs)
            rnn.backward(outputs, target, cache)
            per_sequence.append(bce_band(np.asarray(outputs), target))
            rnn.update_parameters()
        bands.append(np.mean(per_sequence, axis=0))
    return np.array(bands)


@pytest.mark.question("2.5 training")
@pytest.mark.points(2)
def test_train_rnn_losses_match_reference(sub, ref, rng, reference_answer):
    weights, sequences, targets = _training_data(rng)
    losses = sub.train_rnn(numpy_rnn(sub, weights, 2, 2, 2, 0.05), sequences, targets, epochs=3)
    assert isinstance(losses, list) and len(losses) == 3, "train_rnn(..., epochs=3) must return a list of 3 losses"
    bands = reference_answer("loss bands", lambda: _loss_bands(ref, weights, sequences, targets, epochs=3))
    assert_within_bands(losses, bands, "train_rnn(...) per-epoch losses (3 epochs, 12 sequences)")


@pytest.mark.question("2.5 training")
@pytest.mark.points(1)
def test_train_rnn_trains_the_network(sub, ref, rng, tol, reference_answer):
    # The network itself, not only the losses reported, must have been trained as specified
    # Sequences of one length given as arrays (12, T, 2), as the notebook's test run does
    weights, sequences, targets = _training_data(rng, as_arrays=True)
    rnn = numpy_rnn(sub, weights, 2, 2, 2, 0.05)
    sub.train_rnn(rnn, sequences, targets, epochs=2)

    def trained_reference() -> dict:
        reference = numpy_rnn(ref, weights, 2, 2, 2, 0.05)
        ref.train_rnn(reference, sequences, targets, epochs=2)
        return {name: getattr(reference, name) for name in PARAMETERS}

    expected = reference_answer("weights", trained_reference)
    for name in PARAMETERS:
        tol.assert_close(getattr(rnn, name), expected[name],
                         what=f"{name} after train_rnn(..., epochs=2)")  # fmt: skip
    # Without `epochs`, the signature's default: 100 passes over the data
    few = ([binary_sequence(rng, T=4, R=2) for _ in range(2)], [np.ones((4, 2)), np.zeros((4, 2))])
    small = numpy_rnn(sub, weights, 2, 2, 2, 0.05)
    losses = sub.train_rnn(small, *few)
    assert isinstance(losses, list) and len(losses) == 100, (
        "train_rnn(rnn, sequences, targets) without epochs must train for the default 100 epochs "
        "and return 100 losses"
    )
    reference = numpy_rnn(ref, weights, 2, 2, 2, 0.05)
    ref.train_rnn(reference, *few)
    for name in PARAMETERS:
        tol.assert_close(getattr(small, name), getattr(reference, name),
                         what=f"{name} after train_rnn(rnn, sequences, targets) (default epochs=100)")
