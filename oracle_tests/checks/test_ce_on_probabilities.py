"""Cross-entropy on probabilities (after a Softmax layer): F.nll_loss(torch.log(prob),
labels) in both dtype tiers on probabilities well above 0, and against finite
differences; tiny probabilities at the label, and p = 0 (torch: an infinite loss and a
-inf gradient), in their own checks, one per dtype."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import expect
from ._heads import compare_loss, run_loss

LAYER = "CEOnProbs"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])


def nll_of_log(p, labels):
    return F.nll_loss(torch.log(p), labels)


def batch(rng: np.random.Generator, N: int, K: int, dtype):
    """Softmax rows of N(0, 0.5^2) logits (every p > 0.02 for K <= 20) and labels."""
    e = np.exp(0.5 * rng.standard_normal((N, K)))
    return (e / e.sum(axis=1, keepdims=True)).astype(dtype), rng.integers(0, K, N)


def compare_with_torch(impl, p, labels, where: str = ""):
    loss_fn = impl.cross_entropy_from_probabilities(p.dtype)
    return compare_loss(LAYER, loss_fn, nll_of_log, p, labels, "dprob", where)


@check("loss, dprob")
@DTYPE
def test_ce_on_probabilities_matches_torch_on_a_seed_batch(impl, dtype):
    rng = np.random.default_rng(1)
    compare_with_torch(impl, *batch(rng, 32, 10, dtype))


@check("loss, dprob")
@DTYPE
@settings(max_examples=40)
@given(N=st.integers(1, 32), K=st.integers(2, 20), seed=seeds)
def test_ce_on_probabilities_matches_torch_for_any_batch(impl, N, K, dtype, seed):
    compare_with_torch(impl, *batch(np.random.default_rng(seed), N, K, dtype))


@check("loss, dprob at tiny p")
@DTYPE
def test_ce_on_probabilities_matches_torch_at_tiny_probabilities(impl, dtype):
    # A confident wrong answer: p[label] of 1e-30 .. 1e-10, a loss of up to 69 and a
    # gradient of up to 1e30 / N, both finite in torch. A p clipped to 1e-7 or 1e-12
    # (common in course code), or a log of p + eps, changes both.
    rng = np.random.default_rng(4)
    p, labels = batch(rng, 6, 5, dtype)
    tiny = np.array([1e-30, 1e-20, 1e-15, 1e-10, 1e-25, 1e-12])
    p[np.arange(6), labels] = tiny.astype(dtype)
    compare_with_torch(impl, p, labels, " at tiny p")


@check("loss, dprob at p = 0")
@DTYPE
def test_ce_on_probabilities_at_p_0_is_infinite_like_torch(impl, dtype):
    # p[label] = 0 exactly: torch's loss is inf and its gradient -inf at that entry (and
    # finite elsewhere). A clipped log gives a finite loss instead.
    rng = np.random.default_rng(5)
    p, labels = batch(rng, 4, 5, dtype)
    p[0, labels[0]] = 0.0
    loss, _ = run_loss(impl.cross_entropy_from_probabilities(dtype), p, labels)
    expect(
        loss == np.inf,
        f"{LAYER} with p[label] = 0 in row 0: the loss is {loss:.6g}; torch's is inf "
        "(-log 0): is p clipped, or eps added inside the log?",
    )
    with np.errstate(invalid="ignore"):  # inf - inf where both are -inf: compared as equal
        compare_with_torch(impl, p, labels, " at p = 0")


@check("dprob (finite differences)")
@settings(max_examples=15)
@given(N=st.integers(1, 8), K=st.integers(2, 12), seed=seeds)
def test_ce_on_probabilities_dprob_matches_finite_differences(impl, N, K, seed):
    rng = np.random.default_rng(seed)
    p, labels = batch(rng, N, K, np.float64)
    _, d = run_loss(impl.cross_entropy_from_probabilities(np.float64), p, labels)
    c = rng.standard_normal()

    def f(p_):
        return np.float64(impl.cross_entropy_from_probabilities(p_.dtype).forward(p_, labels))

    check_vjp(f, p, c, c * d, layer=LAYER, quantity="dprob")
