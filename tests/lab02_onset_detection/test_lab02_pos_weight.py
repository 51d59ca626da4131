"""Exercises 2.1 and 2.2: the positive-class weight and the weighted BCE loss."""

import numpy as np
import pytest
import torch
from lab02_helpers import QUESTIONS, novelty

RTOL = 1e-6


def _pair(result, what):
    assert isinstance(result, tuple | list) and len(result) == 2, (
        f"{what} must return a pair (pos_frac, pos_weight), got {type(result).__name__}"
    )
    assert all(isinstance(value, float) for value in result), (
        f"{what} must return two Python floats, got {', '.join(type(value).__name__ for value in result)}"
    )
    return result


@pytest.mark.question(QUESTIONS["pos_weight"])
@pytest.mark.points(2)
def test_binary_targets_match_reference(sub, ref, rng, tol):
    Y = torch.tensor(rng.random((12, 50, 1)) < rng.uniform(0.05, 0.3), dtype=torch.float32)
    what = "pos_weight_from_targets(Y) for random binary targets of shape (12, 50, 1)"
    frac, weight = _pair(sub.pos_weight_from_targets(Y), what)
    expected_frac, expected_weight = ref.pos_weight_from_targets(Y)
    tol.assert_close(frac, expected_frac, what=f"pos_frac of {what}", rtol=RTOL)
    tol.assert_close(weight, expected_weight, what=f"pos_weight of {what}", rtol=RTOL)


@pytest.mark.question(QUESTIONS["pos_weight"])
@pytest.mark.points(2)
def test_edge_cases_no_positives_and_all_positive(sub, tol):
    frac, weight = _pair(sub.pos_weight_from_targets(torch.zeros(4, 30, 1)), "pos_weight_from_targets")
    tol.assert_close(frac, 0.0, what="pos_frac for all-zero targets", rtol=RTOL)
    tol.assert_close(weight, 1e5, what="pos_weight for all-zero targets (eps = 1e-5)", rtol=RTOL)
    frac, weight = _pair(sub.pos_weight_from_targets(np.ones((3, 7))), "pos_weight_from_targets")
    tol.assert_close(frac, 1.0, what="pos_frac for all-one targets", rtol=RTOL)
    tol.assert_close(weight, 0.0, what="pos_weight for all-one targets", rtol=RTOL, atol=1e-12)
    frac, weight = _pair(sub.pos_weight_from_targets(torch.zeros(5), eps=0.5), "pos_weight_from_targets")
    tol.assert_close(weight, 2.0, what="pos_weight for all-zero targets with eps=0.5", rtol=RTOL)


@pytest.mark.question(QUESTIONS["pos_weight"])
@pytest.mark.points(2)
def test_soft_targets_thresholds_and_eps(sub, ref, rng, tol):
    _, ds = novelty(None, rng, n_samples=30, seq_len=80, sigma_target=float(rng.uniform(1.0, 2.5)))
    cases = [
        ("ds.Y (Gaussian bumps), defaults", (ds.Y,), {}),
        ("ds.Y.numpy(), threshold=0.3", (ds.Y.numpy(),), {"threshold": 0.3}),
        ("ds.Y, threshold=0.8, eps=0.01", (ds.Y,), {"threshold": 0.8, "eps": 0.01}),
        ("[0.2, 0.5, 0.5, 0.9] (0.5 is not above 0.5)", (np.array([0.2, 0.5, 0.5, 0.9]),), {}),
    ]
    for label, args, kwargs in cases:
        frac, weight = _pair(sub.pos_weight_from_targets(*args, **kwargs), "pos_weight_from_targets")
        expected_frac, expected_weight = ref.pos_weight_from_targets(*args, **kwargs)
        tol.assert_close(frac, expected_frac, what=f"pos_frac for {label}", rtol=RTOL)
        tol.assert_close(weight, expected_weight, what=f"pos_weight for {label}", rtol=RTOL)


def _loss(sub, ds):
    loss = sub.make_bce_loss_from_dataset(ds)
    kind = loss._get_name() if hasattr(loss, "_get_name") else type(loss).__name__
    assert kind == "BCEWithLogitsLoss", (
        f"make_bce_loss_from_dataset must return nn.BCEWithLogitsLoss, got {kind}"
    )
    assert loss.pos_weight is not None, "make_bce_loss_from_dataset: the loss has no pos_weight"
    return loss


@pytest.mark.question(QUESTIONS["weighted_loss"])
@pytest.mark.points(2)
def test_loss_carries_the_datasets_pos_weight(sub, ref, rng, tol):
    for sigma in (None, 1.0):
        remote_ds, ds = novelty(sub, rng, n_samples=40, seq_len=64, sigma_target=sigma)
        loss = _loss(sub, remote_ds)
        expected = ref.make_bce_loss_from_dataset(ds).pos_weight
        assert tuple(loss.pos_weight.shape) == (1,), (
            f"pos_weight must be a tensor of shape (1,), got shape {tuple(loss.pos_weight.shape)}"
        )
        assert loss.pos_weight.dtype == torch.float32, f"pos_weight must be float32, got {loss.pos_weight.dtype}"
        tol.assert_close(loss.pos_weight, expected, rtol=RTOL,
                         what=f"pos_weight of the loss (targets with sigma_target={sigma})")


@pytest.mark.question(QUESTIONS["weighted_loss"])
@pytest.mark.points(2)
def test_loss_value_matches_reference(sub, ref, rng, tol):
    remote_ds, ds = novelty(sub, rng, n_samples=24, seq_len=64)
    logits = torch.tensor(rng.normal(scale=2.0, size=(6, 64, 1)), dtype=torch.float32)
    targets = ds.Y[:6].clone()
    tol.assert_close(_loss(sub, remote_ds)(logits, targets), ref.make_bce_loss_from_dataset(ds)(logits, targets),
                     what="the loss of make_bce_loss_from_dataset(ds) on random logits")
