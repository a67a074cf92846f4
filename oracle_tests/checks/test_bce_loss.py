"""BCELoss: F.binary_cross_entropy(prob, target) (the mean; soft targets in [0, 1]) in
both dtype tiers on probabilities in [0.05, 0.95], and against finite differences;
p = 0 and p = 1 exactly (torch clamps each log at -100 and its backward's denominator
at 1e-12) in their own check, one per dtype."""

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import expect
from ._heads import compare_loss, run_loss

LAYER = "BCELoss"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])


def pair(rng: np.random.Generator, N: int, K: int, dtype):
    """Probabilities in [0.05, 0.95] and soft targets in [0, 1], (N, K)."""
    p = rng.uniform(0.05, 0.95, (N, K)).astype(dtype)
    return p, rng.uniform(0, 1, (N, K)).astype(dtype)


def compare_with_torch(impl, p, t, where: str = ""):
    return compare_loss(LAYER, impl.bce_loss(p.dtype), F.binary_cross_entropy, p, t, "dprob", where)


@check("loss, dprob")
@DTYPE
def test_bce_loss_matches_torch_on_a_seed_batch(impl, dtype):
    rng = np.random.default_rng(1)
    compare_with_torch(impl, *pair(rng, 32, 10, dtype))


@check("loss, dprob")
@DTYPE
@settings(max_examples=40)
@given(N=st.integers(1, 32), K=st.integers(1, 20), seed=seeds)
def test_bce_loss_matches_torch_for_any_batch(impl, N, K, dtype, seed):
    compare_with_torch(impl, *pair(np.random.default_rng(seed), N, K, dtype))


@check("loss, dprob at p = 0 and 1")
@DTYPE
def test_bce_loss_is_finite_and_matches_torch_at_p_0_and_1(impl, dtype):
    # Saturated probabilities, as a sigmoid gives at large logits: torch clamps log(p)
    # and log(1 - p) at -100, so the loss is finite (100 per wrong certain entry, 0 per
    # right one), and divides the gradient by max(p (1 - p), 1e-12).
    p = np.array([[0.0, 1.0, 0.0, 1.0, 0.3], [1.0, 0.0, 0.5, 0.0, 1.0]], dtype=dtype)
    t = np.array([[0.0, 1.0, 1.0, 0.0, 0.3], [0.5, 0.5, 1.0, 0.0, 1.0]], dtype=dtype)
    loss, d = run_loss(impl.bce_loss(dtype), p, t)
    expect(
        np.isfinite(loss) and np.isfinite(d).all(),
        f"{LAYER} at p = 0 and 1: loss {loss:.6g}, dprob {d.ravel().tolist()}; torch's are "
        "finite: clamp each log at -100 (np.maximum(np.log(p), -100)), so 0 * log(0) "
        "cannot make NaN, and divide by max(p (1 - p), 1e-12)",
    )
    compare_with_torch(impl, p, t, " at p = 0 and 1")


@check("dprob (finite differences)")
@settings(max_examples=15)
@given(N=st.integers(1, 8), K=st.integers(1, 12), seed=seeds)
def test_bce_loss_dprob_matches_finite_differences(impl, N, K, seed):
    rng = np.random.default_rng(seed)
    p, t = pair(rng, N, K, np.float64)
    _, d = run_loss(impl.bce_loss(np.float64), p, t)
    c = rng.standard_normal()

    def f(p_):
        return np.float64(impl.bce_loss(p_.dtype).forward(p_, t))

    check_vjp(f, p, c, c * d, layer=LAYER, quantity="dprob")
