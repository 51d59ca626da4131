"""Questions 3.1-3.4: SimplePyTorchRNN, its loss and training step, collate_sequences and batch
training."""

import numpy as np
import pytest
import torch
from lab01_helpers import (
    MAX_NORM,
    as_steps,
    binary_sequence,
    exploding_torch_state,
    numpy_rnn,
    torch_rnn,
    torch_state,
)

R, S1, S2 = 2, 4, 1


def _numpy_weights_of(state: dict) -> dict:
    return {
        "IW_11": state["IW_11.weight"].double().numpy(),
        "b_1": state["IW_11.bias"].double().numpy()[:, None],
        "LW_11": state["LW_11.weight"].double().numpy(),
        "LW_21": state["LW_21.weight"].double().numpy(),
        "b_2": state["LW_21.bias"].double().numpy()[:, None],
    }


@pytest.mark.question("3.1 PyTorch forward")
@pytest.mark.points(3)
def test_forward_matches_numpy_reference_with_copied_weights(sub, ref, rng, tol):
    state = torch_state(rng, R, S1, S2)
    batch = np.stack([binary_sequence(rng, T=7, R=R) for _ in range(3)])  # (B=3, T=7, R=2)
    outputs, a1_tot = torch_rnn(sub, state, R, S1, S2)(torch.tensor(batch, dtype=torch.float32))
    reference = numpy_rnn(ref, _numpy_weights_of(state), R, S1, S2)
    for b in range(3):
        expected_outputs, expected_states, _ = reference.forward(batch[b])
        tol.assert_close(outputs[b], as_steps(expected_outputs, 7, S2).astype(np.float32),
                         what=f"outputs[{b}] of forward on a (3, 7, 2) batch")
        tol.assert_close(a1_tot[b], as_steps(expected_states, 8, S1).astype(np.float32),
                         what=f"a1_tot[{b}] of forward on a (3, 7, 2) batch")


@pytest.mark.question("3.1 PyTorch forward")
@pytest.mark.points(1)
def test_forward_keeps_batch_first(sub, ref, rng, tol):
    state = torch_state(rng, 1, 3, 1)
    batch = torch.tensor(np.stack([binary_sequence(rng, T=2) for _ in range(5)]), dtype=torch.float32)
    outputs, a1_tot = torch_rnn(sub, state, 1, 3, 1)(batch)
    expected_outputs, expected_states = torch_rnn(ref, state, 1, 3, 1)(batch)
    tol.assert_close(outputs, expected_outputs, what="outputs for a batch of 5 sequences of 2 steps")
    tol.assert_close(a1_tot, expected_states, what="a1_tot for a batch of 5 sequences of 2 steps")


@pytest.mark.question("3.1 PyTorch forward")
@pytest.mark.points(1)
def test_forward_starts_from_given_state(sub, ref, rng, tol):
    state = torch_state(rng, R, S1, S2)
    batch = torch.tensor(np.stack([binary_sequence(rng, T=4, R=R) for _ in range(2)]), dtype=torch.float32)
    a1_prev = torch.tensor(rng.uniform(-0.9, 0.9, size=(2, S1)), dtype=torch.float32)
    outputs, a1_tot = torch_rnn(sub, state, R, S1, S2)(batch, a1_prev)
    expected_outputs, _ = torch_rnn(ref, state, R, S1, S2)(batch, a1_prev)
    tol.assert_close(a1_tot[:, 0], a1_prev, what="a1_tot[:, 0] with a1_prev given")
    tol.assert_close(outputs, expected_outputs, what="forward(inputs, a1_prev) outputs")


@pytest.mark.question("3.2 loss and training step")
@pytest.mark.points(1)
def test_loss_of_equal_length_batch_is_plain_bce(sub, rng, tol):
    outputs = torch.tensor(rng.uniform(0.05, 0.95, size=(3, 4, 2)), dtype=torch.float32)
    targets = torch.tensor(rng.random((3, 4, 2)) < 0.5, dtype=torch.float32)
    model = sub.SimplePyTorchRNN(1, 2, 2)
    tol.assert_close(model.compute_loss(outputs, targets), torch.nn.BCELoss()(outputs, targets),
                     what="compute_loss on a batch without padding (2 output units)")


def _ragged(rng, lengths, R_in=1):
    sequences = [binary_sequence(rng, T=length, R=R_in) for length in lengths]
    targets = [(rng.random((length, 1)) < 0.5).astype(float) for length in lengths]
    return sequences, targets


@pytest.mark.question("3.2 loss and training step")
@pytest.mark.points(1)
def test_loss_leaves_out_padded_steps(sub, ref, rng, tol):
    sequences, targets = _ragged(rng, [2, 6, 4])
    state = torch_state(rng, 1, 3, 1)
    X, Y = ref.collate_sequences(sequences, targets)
    outputs, _ = torch_rnn(ref, state, 1, 3, 1)(X)
    loss = sub.SimplePyTorchRNN(1, 3, 1).compute_loss(outputs, Y)
    real = torch.cat([outputs[i, : len(t)] for i, t in enumerate(targets)])
    real_targets = torch.tensor(np.concatenate(targets), dtype=torch.float32)
    tol.assert_close(loss, torch.nn.BCELoss()(real, real_targets),
                     what="compute_loss on a padded batch (padded steps must not count)")


@pytest.mark.question("3.2 loss and training step")
@pytest.mark.points(1)
def test_train_step_zeroes_gradients(sub, ref, rng, tol):
    state = torch_state(rng, R, S1, S2)
    batch = torch.tensor(np.stack([binary_sequence(rng, T=5, R=R) for _ in range(4)]), dtype=torch.float32)
    targets = torch.tensor(rng.random((4, 5, 1)) < 0.5, dtype=torch.float32)
    model = torch_rnn(sub, state, R, S1, S2, learning_rate=0.0)  # weights stay put
    reference = torch_rnn(ref, state, R, S1, S2, learning_rate=0.0)
    for _ in range(2):
        model.train_step(batch, targets)
    reference.train_step(batch, targets)
    for name in state:
        layer, kind = name.split(".")
        tol.assert_close(getattr(getattr(model, layer), kind).grad,
                         getattr(getattr(reference, layer), kind).grad,
                         what=f"{name}.grad after two identical train_steps with learning rate 0 "
                              f"(the gradient of one step: gradients must not accumulate)")  # fmt: skip


@pytest.mark.question("3.2 loss and training step")
@pytest.mark.points(2)
def test_train_step_is_one_sgd_step(sub, ref, rng, tol):
    state = torch_state(rng, R, S1, S2)
    batch = torch.tensor(np.stack([binary_sequence(rng, T=6, R=R) for _ in range(3)]), dtype=torch.float32)
    targets = torch.tensor(rng.random((3, 6, 1)) < 0.5, dtype=torch.float32)
    model, reference = torch_rnn(sub, state, R, S1, S2, 0.3), torch_rnn(ref, state, R, S1, S2, 0.3)
    loss = model.train_step(batch, targets)
    expected_loss = reference.train_step(batch, targets)
    assert isinstance(loss, float), f"train_step returned a {type(loss).__name__}, not a float"
    tol.assert_close(loss, expected_loss, what="the loss returned by train_step")
    for name, value in reference.state_dict().items():
        tol.assert_close(model.state_dict()[name], value, what=f"{name} after one train_step (lr 0.3)")
    # A padded batch: the step's loss is compute_loss's, which leaves the padded steps out
    sequences, ragged_targets = _ragged(rng, [2, 6, 4], R_in=R)
    X, Y = ref.collate_sequences(sequences, ragged_targets)
    loss = model.train_step(X, Y)
    expected_loss = reference.train_step(X, Y)
    tol.assert_close(loss, expected_loss, what="the loss returned by train_step on a padded batch (compute_loss: "
                                               "padded steps do not count)")
    for name, value in reference.state_dict().items():
        tol.assert_close(model.state_dict()[name], value,
                         what=f"{name} after a train_step on a padded batch (lr 0.3)")


@pytest.mark.question("3.2 loss and training step")
@pytest.mark.points(1)
def test_train_step_clips_before_the_step(sub, ref, rng, tol):
    # Gradients of total norm far above 5 for every draw (see exploding_torch_state): the step
    # itself, (weights before - weights after) / learning rate, must have norm 5
    state = exploding_torch_state(rng)
    batch, targets = torch.ones(2, 3, 1), torch.ones(2, 3, 1)
    model, reference = torch_rnn(sub, state, 1, 3, 1, 0.1), torch_rnn(ref, state, 1, 3, 1, 0.1)
    model.train_step(batch, targets)
    reference.train_step(batch, targets)
    after = {name: torch.as_tensor(value).double() for name, value in model.state_dict().items()}
    step = torch.sqrt(sum(((state[name].double() - after[name]) / 0.1).pow(2).sum() for name in state))
    assert float(step) <= MAX_NORM * (1 + 1e-4), (
        f"one train_step moved the weights by learning rate x {float(step):.4g}: the gradients were "
        f"not clipped to total norm 5 before optimizer.step()"
    )
    for name, value in reference.state_dict().items():
        tol.assert_close(model.state_dict()[name], value,
                         what=f"{name} after one train_step whose gradients exceed norm 5")  # fmt: skip


@pytest.mark.question("3.3 collating sequences")
@pytest.mark.points(2)
def test_collate_pads_at_the_end(sub, ref, rng, tol):
    sequences, targets = _ragged(rng, [3, 7, 5], R_in=2)
    X, Y = sub.collate_sequences(sequences, targets)
    expected_X, expected_Y = ref.collate_sequences(sequences, targets)
    for name, value in (("X", X), ("Y", Y)):
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32, (
            f"collate_sequences must return {name} as a float32 tensor, got "
            f"{getattr(value, 'dtype', type(value).__name__)}"
        )
    tol.assert_close(X, expected_X, what="X from collate_sequences (lengths 3, 7, 5; R=2)")
    tol.assert_close(Y, expected_Y, what="Y from collate_sequences (padded with PAD_TARGET)")
    # One input per step given as 1-D arrays (T_i,), targets too
    flat = [sequence[:, 0] for sequence in _ragged(rng, [4, 2], R_in=1)[0]]
    flat_targets = [(rng.random(len(sequence)) < 0.5).astype(float) for sequence in flat]
    X, Y = sub.collate_sequences(flat, flat_targets)
    expected_X, expected_Y = ref.collate_sequences(flat, flat_targets)
    tol.assert_close(X, expected_X, what="X from collate_sequences of 1-D sequences (lengths 4, 2)")
    tol.assert_close(Y, expected_Y, what="Y from collate_sequences of 1-D targets (lengths 4, 2)")


def _batch_training_data(rng, as_arrays=False):
    """Ten sequences, ragged (lists) or of one length (arrays (10, T, 1)); the first batch of 4
    is all ones with targets all ones, so its gradients exceed norm 5 for every draw."""
    lengths = [7] * 10 if as_arrays else rng.integers(3, 10, size=10).tolist()
    sequences, targets = _ragged(rng, lengths)
    for index in range(4):
        sequences[index], targets[index] = np.ones_like(sequences[index]), np.ones_like(targets[index])
    if as_arrays:
        sequences, targets = np.stack(sequences), np.stack(targets)
    return exploding_torch_state(rng, low=3.0, high=4.0, b_2=-4.0), sequences, targets


@pytest.mark.question("3.4 batch training")
@pytest.mark.points(1)
def test_train_pytorch_rnn_losses_match_reference(sub, ref, rng, tol, reference_answer):
    state, sequences, targets = _batch_training_data(rng)
    losses = sub.train_pytorch_rnn(torch_rnn(sub, state, 1, 3, 1, 0.5), sequences, targets, epochs=3, batch_size=4)
    expected = reference_answer("losses", lambda: ref.train_pytorch_rnn(
        torch_rnn(ref, state, 1, 3, 1, 0.5), sequences, targets, epochs=3, batch_size=4))
    tol.assert_close(np.asarray(losses, dtype=np.float64), expected, rtol=1e-4,
                     what="train_pytorch_rnn per-epoch losses (3 epochs, batches of 4)")  # fmt: skip


@pytest.mark.question("3.4 batch training")
@pytest.mark.points(1)
def test_train_pytorch_rnn_trains_the_network(sub, ref, rng, tol, device, reference_answer):
    # Sequences of one length given as arrays (10, 7, 1), as the notebook's test run does, and
    # the network on the grading device: the batches must follow it there
    state, sequences, targets = _batch_training_data(rng, as_arrays=True)
    model = torch_rnn(sub, state, 1, 3, 1, 0.5)
    model.to(device)
    sub.train_pytorch_rnn(model, sequences, targets, epochs=2, batch_size=4)
    model.cpu()

    def trained_reference() -> dict:
        reference = torch_rnn(ref, state, 1, 3, 1, 0.5)
        ref.train_pytorch_rnn(reference, sequences, targets, epochs=2, batch_size=4)
        return reference.state_dict()

    for name, value in reference_answer("state", trained_reference).items():
        tol.assert_close(model.state_dict()[name], value, rtol=1e-4,
                         what=f"{name} after train_pytorch_rnn(..., epochs=2, batch_size=4)")  # fmt: skip
    # The signature's defaults: batches of 32 (33 sequences make a batch of 32 and one of 1) ...
    state = torch_state(rng, 1, 2, 1)
    few, few_targets = _ragged(rng, [3] * 33)
    model, reference = torch_rnn(sub, state, 1, 2, 1, 0.1), torch_rnn(ref, state, 1, 2, 1, 0.1)
    sub.train_pytorch_rnn(model, few, few_targets, epochs=1)
    ref.train_pytorch_rnn(reference, few, few_targets, epochs=1)
    for name, value in reference.state_dict().items():
        tol.assert_close(model.state_dict()[name], value, rtol=1e-4,
                         what=f"{name} after train_pytorch_rnn(rnn, 33 sequences, targets, epochs=1) (the "
                              "default batch_size=32)")
    # ... and 100 epochs
    losses = sub.train_pytorch_rnn(torch_rnn(sub, state, 1, 2, 1, 0.1), few[:4], few_targets[:4])
    assert isinstance(losses, list) and len(losses) == 100, (
        "train_pytorch_rnn(rnn, sequences, targets) without epochs must train for the default 100 "
        "epochs and return 100 losses"
    )
