"""courselib's device choice, seeding and the counting-ones data of Lab 1."""

import numpy as np
import pytest
import torch

from courselib import DEVICE_ENV, get_device, seed_everything
from courselib.counting_ones import TEST_INPUT, counting_ones_targets, generate_counting_ones_data


def test_device_defaults_to_cpu_without_cuda(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_grader_choice_overrides_the_device(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_asking_for_missing_cuda_is_an_error(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="has no CUDA device"):
        get_device()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_grader_can_choose_cuda(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert get_device().type == "cuda"


def test_seed_everything_repeats_numpy_and_torch():
    rng = seed_everything(3)
    first = (np.random.rand(2), torch.rand(2), rng.random(2))
    rng = seed_everything(3)
    second = (np.random.rand(2), torch.rand(2), rng.random(2))
    assert np.array_equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert np.array_equal(first[2], second[2])
    assert torch.backends.cudnn.deterministic and not torch.backends.cuda.matmul.allow_tf32


def _parity_by_loop(X: np.ndarray, window_size: int) -> np.ndarray:
    """The original lab's definition, step by step."""
    y = np.zeros(X.shape, dtype=np.float32)
    for i in range(X.shape[0]):
        for t in range(X.shape[1]):
            count = np.sum(X[i, max(0, t - window_size + 1) : t + 1])
            y[i, t] = 1 if count % 2 == 0 else 0
    return y


def test_counting_ones_data_has_the_original_shapes_and_parity():
    np.random.seed(4)
    X, y = generate_counting_ones_data(num_samples=50, seq_length=12, window_size=3)
    assert X.shape == y.shape == (50, 12) and X.dtype == y.dtype == np.float32
    assert set(np.unique(X)) == {0.0, 1.0}
    assert np.array_equal(y, _parity_by_loop(X, 3))
    for window_size in (1, 2, 5, 20):
        assert np.array_equal(counting_ones_targets(X, window_size), _parity_by_loop(X, window_size))


def test_counting_ones_data_draws_with_numpy_random():
    # The original draws with np.random.randint: seeding NumPy repeats the data
    np.random.seed(7)
    first = generate_counting_ones_data(20, 10, 3)
    np.random.seed(7)
    again = generate_counting_ones_data(20, 10, 3)
    np.random.seed(7)
    assert np.array_equal(first[0], np.random.randint(0, 2, size=(20, 10)).astype(np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_counting_ones_targets_by_hand():
    # window 3: the windows hold 1, 1, 2, 2, 2, 1, 1 ones; even counts give 1
    inputs = np.array([1, 0, 1, 1, 0, 0, 1])
    assert counting_ones_targets(inputs, 3).tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert TEST_INPUT.shape == (22,) and counting_ones_targets(TEST_INPUT, 3).shape == (22,)
    with pytest.raises(ValueError, match="window_size"):
        counting_ones_targets(inputs, 0)


def test_lab01_plots_are_labelled():
    import matplotlib

    matplotlib.use("Agg")
    from courselib.plots import plot_losses, plot_sequence_prediction

    fig = plot_losses({"NumPy": [0.7, 0.4, 0.2], "PyTorch": [0.7, 0.6, 0.5]})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and len(ax.get_legend().get_texts()) == 2
    targets = counting_ones_targets(TEST_INPUT, 3)
    fig = plot_sequence_prediction(TEST_INPUT, targets, targets * 0.9)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time step t" and ax.get_title() == "Test sequence"
    assert sorted(text.get_text() for text in ax.get_legend().get_texts()) == ["input", "network output", "target"]
