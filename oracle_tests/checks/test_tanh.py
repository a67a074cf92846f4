"""Tanh: torch.tanh in both dtype tiers on moderate inputs, and against finite
differences; inputs of +-1000 (exp overflows, the output saturates at -1 or 1) in their
own check, one per dtype."""

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

LAYER = "Tanh"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
SEED_SHAPES = [(4, 8, 26, 26), (4, 128)]


def moderate(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 2^2): finite, where 1 - t^2 and 1 - x^2 differ."""
    return (2 * rng.standard_normal(shape)).astype(dtype)


@check("y, dx")
@DTYPE
@pytest.mark.parametrize("shape", SEED_SHAPES, ids=["after conv", "after fc1"])
def test_tanh_matches_torch_on_the_seed_shapes(impl, shape, dtype):
    rng = np.random.default_rng(0)
    x, dy = moderate(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    compare_layer(LAYER, impl.tanh(dtype), torch.tanh, x, dy)


@check("y, dx")
@DTYPE
@settings(max_examples=30)
@given(shape=shapes, seed=seeds)
def test_tanh_matches_torch_for_any_shape(impl, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dy = moderate(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    compare_layer(LAYER, impl.tanh(dtype), torch.tanh, x, dy)


@check("y, dx at +-1000")
@DTYPE
def test_tanh_saturates_like_torch_at_1000(impl, dtype):
    # exp(1000) overflows: torch gives exactly -1 and 1, and a gradient of 0 there; a
    # tanh written as (exp(x) - exp(-x)) / (exp(x) + exp(-x)) gives inf / inf = NaN.
    x = np.array([[1000.0, -1000.0, 0.5], [-1000.0, 1000.0, -0.5]], dtype=dtype)
    dy = np.array([[0.3, -1.2, 0.7], [2.0, -0.4, 1.1]], dtype=dtype)
    y, dx = run_layer(impl.tanh(dtype), x, dy)
    expect(
        np.isfinite(y).all() and np.isfinite(dx).all(),
        f"{LAYER} at x = +-1000: y = {y.ravel().tolist()}, dx = {dx.ravel().tolist()}; "
        "torch's are finite (y exactly -1 or 1, dx 0): use np.tanh, or 1 - 2 / (exp(2x) + 1), "
        "whose overflow to inf gives 1",
    )
    compare_layer(LAYER, impl.tanh(dtype), torch.tanh, x, dy, " at +-1000")


@check("dx (finite differences)")
@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), seed=seeds)
def test_tanh_gradient_matches_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x, dy = moderate(rng, shape, np.float64), rng.standard_normal(shape)
    _, dx = run_layer(impl.tanh(np.float64), x, dy)
    check_vjp(lambda x_: impl.tanh(x_.dtype).forward(x_), x, dy, dx, layer=LAYER, quantity="dx")
