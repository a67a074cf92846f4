"""Softmax over axis 1: torch.softmax(x, 1) in both dtype tiers and against finite
differences, always with an arbitrary random upstream gradient (a ones or one-hot dy
hides a backward that keeps only the Jacobian's diagonal, or none of it); logits of
+-1e4 (exp overflows without the row max subtracted) in their own check, one per dtype.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import expect
from ._heads import compare_layer, run_layer

LAYER = "Softmax"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
# Logit scales of the general checks: near-uniform rows and ordinary ones, every
# probability well above 0; +-1e4 has its own check.
SCALES = [1e-2, 1.0, 3.0]


def softmax(t):
    return torch.softmax(t, 1)


def logits_and_dy(rng: np.random.Generator, N: int, K: int, scale: float, dtype):
    """(N, K) logits of the given scale and an arbitrary random upstream gradient."""
    x = (scale * rng.standard_normal((N, K))).astype(dtype)
    return x, rng.standard_normal((N, K)).astype(dtype)


@check("y, dx")
@DTYPE
def test_softmax_matches_torch_on_a_seed_batch(impl, dtype):
    rng = np.random.default_rng(1)
    x, dy = logits_and_dy(rng, 32, 10, 1.5, dtype)  # batch 32, 10 classes
    compare_layer(LAYER, impl.softmax(dtype), softmax, x, dy)


@check("y, dx")
@DTYPE
@settings(max_examples=40)
@given(N=st.integers(1, 32), K=st.integers(2, 20), scale=st.sampled_from(SCALES), seed=seeds)
def test_softmax_matches_torch_for_any_batch(impl, N, K, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dy = logits_and_dy(rng, N, K, scale, dtype)
    compare_layer(LAYER, impl.softmax(dtype), softmax, x, dy)


@check("y, dx at logits of 1e4")
@DTYPE
def test_softmax_is_finite_and_matches_torch_at_logits_of_1e4(impl, dtype):
    # Rows: a confident maximum, two tied maxima at +1e4, all equal at -1e4, and a mix.
    # exp(1e4) overflows even in float64: without the row max subtracted, inf / inf = NaN.
    x = np.array(
        [
            [1e4, -1e4, 0.0, 5.0],
            [1e4, 1e4, -1e4, 0.0],
            [-1e4, -1e4, -1e4, -1e4],
            [9999.5, 1e4, -3.0, 1e4 - 2.0],
        ],
        dtype=dtype,
    )
    dy = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    y, dx = run_layer(impl.softmax(dtype), x, dy)
    expect(
        np.isfinite(y).all() and np.isfinite(dx).all(),
        f"{LAYER} at logits of +-1e4: y holds {int((~np.isfinite(y)).sum())} NaN or inf of "
        f"{y.size}; torch's are finite: exp() overflows unless each row's max is subtracted "
        "first (softmax(x) = softmax(x - max(x)))",
    )
    compare_layer(LAYER, impl.softmax(dtype), softmax, x, dy, " at logits of 1e4")


@check("dx (finite differences)")
@settings(max_examples=15)
@given(N=st.integers(1, 8), K=st.integers(2, 12), scale=st.sampled_from(SCALES), seed=seeds)
def test_softmax_gradient_matches_finite_differences(impl, N, K, scale, seed):
    # N * K <= 96: every entry against the full Jacobian, for a random upstream dy.
    rng = np.random.default_rng(seed)
    x, dy = logits_and_dy(rng, N, K, scale, np.float64)
    _, dx = run_layer(impl.softmax(np.float64), x, dy)
    check_vjp(lambda x_: impl.softmax(x_.dtype).forward(x_), x, dy, dx, layer=LAYER, quantity="dx")
