"""MSELoss: F.mse_loss(pred, target) (the mean over ALL elements) in both dtype tiers and
against finite differences; a zero residual in its own check, one per dtype. The loss is
a scalar, so its backward is the full (N, K) matrix d(loss)/d pred, compared element by
element with torch's pred.grad."""

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import EXACT, compare, expect
from ._heads import compare_loss, run_loss

LAYER = "MSELoss"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])


def pair(rng: np.random.Generator, N: int, K: int, dtype):
    """A prediction and a target (N, K), finite, residuals of order 1."""
    return rng.standard_normal((N, K)).astype(dtype), rng.standard_normal((N, K)).astype(dtype)


def compare_with_torch(impl, pred, target, where: str = ""):
    return compare_loss(LAYER, impl.mse_loss(pred.dtype), F.mse_loss, pred, target, "dpred", where)


@check("loss, dpred")
@DTYPE
def test_mse_loss_matches_torch_on_a_seed_batch(impl, dtype):
    rng = np.random.default_rng(1)
    compare_with_torch(impl, *pair(rng, 32, 10, dtype))  # batch 32, 10 outputs


@check("loss, dpred")
@DTYPE
@settings(max_examples=40)
@given(N=st.integers(1, 32), K=st.integers(1, 20), seed=seeds)
def test_mse_loss_matches_torch_for_any_batch(impl, N, K, dtype, seed):
    compare_with_torch(impl, *pair(np.random.default_rng(seed), N, K, dtype))


@check("loss, dpred (a mean over every element)")
@DTYPE
def test_mse_loss_is_a_mean_over_every_element(impl, dtype):
    # Repeating the batch, or the feature axis, leaves torch's mean unchanged and halves
    # every gradient entry; a mean over the batch only (a sum over features / N) doubles
    # when the features are repeated.
    rng = np.random.default_rng(7)
    pred, target = pair(rng, 6, 5, dtype)
    loss, d = run_loss(impl.mse_loss(dtype), pred, target)
    wide = np.concatenate([pred, pred], axis=1), np.concatenate([target, target], axis=1)
    loss2, d2 = run_loss(impl.mse_loss(dtype), *wide)
    expect(
        np.isclose(loss2, loss, rtol=1e-5),
        f"{LAYER} of a batch with its feature axis repeated is {loss2:.6g} against "
        f"{loss:.6g} once; torch's mean over all elements is unchanged (a sum over "
        "features divided by N only grows with the features)",
    )
    expect(
        np.allclose(d2[:, :5], d / 2, rtol=1e-5, atol=0),
        f"{LAYER} dpred with the feature axis repeated is not half of once; torch's is "
        "2 (pred - target) / (N K)",
    )
    compare_with_torch(impl, *wide)


@check("loss, dpred at a zero residual")
@DTYPE
def test_mse_loss_at_a_zero_residual_is_exactly_zero(impl, dtype):
    # pred == target: torch's loss and every gradient entry are exactly 0.
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((8, 4)).astype(dtype)
    loss, d = run_loss(impl.mse_loss(dtype), pred, pred.copy())
    expect(
        loss == 0 and not np.any(d),
        f"{LAYER} at pred == target: loss {loss:.6g}, largest |dpred| "
        f"{float(np.abs(d).max()):.6g}; torch's are exactly 0",
    )
    compare(LAYER, "dpred at a zero residual", d, np.zeros_like(pred), tol=EXACT)


@check("dpred (finite differences)")
@settings(max_examples=15)
@given(N=st.integers(1, 8), K=st.integers(1, 12), seed=seeds)
def test_mse_loss_dpred_matches_finite_differences(impl, N, K, seed):
    rng = np.random.default_rng(seed)
    pred, target = pair(rng, N, K, np.float64)
    _, d = run_loss(impl.mse_loss(np.float64), pred, target)
    c = rng.standard_normal()  # a random upstream scalar: the check is c * dpred

    def f(p):
        return np.float64(impl.mse_loss(p.dtype).forward(p, target))

    check_vjp(f, pred, c, c * d, layer=LAYER, quantity="dpred")
