"""courselib's device choice, seeding and the counting-ones data of Lab 1."""

import numpy as np
import pytest
import torch

from courselib import DEVICE_ENV, get_device, seed_everything
from courselib.counting_ones import TEST_SEQUENCE, counting_ones_data, counting_ones_targets


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


def test_counting_ones_targets_switch_at_the_third_one():
    inputs = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [1.0]])
    assert counting_ones_targets(inputs).ravel().tolist() == [0, 0, 0, 0, 1, 1]
    test_targets = counting_ones_targets(TEST_SEQUENCE).ravel()
    assert TEST_SEQUENCE.shape == (22, 1) and test_targets.tolist().index(1.0) == 6


def test_counting_ones_data_is_seeded_and_shaped():
    sequences, targets = counting_ones_data(n_sequences=30, min_len=4, max_len=9, seed=5)
    again, _ = counting_ones_data(n_sequences=30, min_len=4, max_len=9, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(sequences, again))
    assert {len(s) for s in sequences} <= set(range(4, 10)) and len({len(s) for s in sequences}) > 1
    for inputs, target in zip(sequences, targets):
        assert inputs.shape == target.shape == (len(inputs), 1)
        assert np.array_equal(target, counting_ones_targets(inputs))


def test_counting_ones_data_rejects_bad_lengths():
    with pytest.raises(ValueError, match="min_len <= max_len"):
        counting_ones_data(min_len=5, max_len=2)


def test_lab01_plots_are_labelled():
    import matplotlib

    matplotlib.use("Agg")
    from courselib.plots import plot_losses, plot_sequence_prediction

    fig = plot_losses({"NumPy": [0.7, 0.4, 0.2], "PyTorch": [0.7, 0.6, 0.5]})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() and len(ax.get_legend().get_texts()) == 2
    targets = counting_ones_targets(TEST_SEQUENCE)
    fig = plot_sequence_prediction(TEST_SEQUENCE, targets, targets * 0.9)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time step t" and ax.get_title() == "Test sequence"
    assert sorted(text.get_text() for text in ax.get_legend().get_texts()) == ["input", "network output", "target"]
