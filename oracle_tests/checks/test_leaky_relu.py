"""LeakyReLU: F.leaky_relu(x, negative_slope) in both dtype tiers for several slopes, on
inputs away from the kink, and against finite differences; exact zeros (where torch's
gradient is the slope) in their own check, one per dtype."""

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, distinct_values, seeds
from ..tolerances import KINK_MARGIN, CheckFailure, compare
from ._heads import compare_layer, run_layer, torch_layer

LAYER = "LeakyReLU"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)
# Slopes other than 0.01 (F.leaky_relu's default): a layer that ignores the one it is
# given shows.
slopes = st.sampled_from([0.2, 0.05, 0.3, 1.5])
SEED_SHAPES = [(4, 8, 26, 26), (4, 128)]


def away_from_zero(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    x = rng.standard_normal(shape)
    return (x + np.copysign(KINK_MARGIN, x)).astype(dtype)


def torch_leaky(slope: float):
    return lambda t: F.leaky_relu(t, slope)


@check("y, dx")
@DTYPE
@pytest.mark.parametrize("shape", SEED_SHAPES, ids=["after conv", "after fc1"])
def test_leaky_relu_matches_torch_on_the_seed_shapes(impl, shape, dtype):
    rng = np.random.default_rng(0)
    x, dy = away_from_zero(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    compare_layer(LAYER, impl.leaky_relu(0.2, dtype), torch_leaky(0.2), x, dy)


@check("y, dx")
@DTYPE
@settings(max_examples=30)
@given(shape=shapes, slope=slopes, seed=seeds)
def test_leaky_relu_matches_torch_for_any_shape_and_slope(impl, shape, slope, dtype, seed):
    rng = np.random.default_rng(seed)
    x, dy = away_from_zero(rng, shape, dtype), rng.standard_normal(shape).astype(dtype)
    compare_layer(LAYER, impl.leaky_relu(slope, dtype), torch_leaky(slope), x, dy)


@check("dx at exact zeros")
@DTYPE
def test_leaky_relu_gradient_at_exact_zeros_is_the_slope_like_torch(impl, dtype):
    # torch's leaky_relu_backward passes dy where x > 0 and slope * dy elsewhere: at
    # exactly 0 (+0.0 and -0.0) the gradient is the slope, not 1.
    rng = np.random.default_rng(3)
    x = away_from_zero(rng, (6, 10), dtype)
    x[rng.random(x.shape) < 0.3] = 0.0
    x[0, :3] = -0.0
    dy = rng.standard_normal(x.shape).astype(dtype)
    y, dx = run_layer(impl.leaky_relu(0.2, dtype), x, dy)
    yt, dxt = torch_layer(torch_leaky(0.2), x, dy)
    dxt = dxt.numpy()
    wrong = np.argwhere((x == 0) & ~np.isclose(dx, dxt, rtol=1e-5, atol=0))
    if len(wrong):
        i = tuple(int(j) for j in wrong[0])
        raise CheckFailure(
            f"{LAYER}(0.2) dx at x = 0 (index {i}) is {float(dx[i]):.6g} for upstream "
            f"{float(dy[i]):.6g}; torch's is {float(dxt[i]):.6g}, the slope times dy "
            "(torch passes dy unscaled only where x > 0)"
        )
    compare(LAYER, "y at exact zeros", y, yt)
    compare(LAYER, "dx at exact zeros", dx, dxt)


@check("dx (finite differences)")
@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), seed=seeds)
def test_leaky_relu_gradient_matches_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x, dy = distinct_values(rng, shape), rng.standard_normal(shape)
    _, dx = run_layer(impl.leaky_relu(0.2, np.float64), x, dy)

    def f(x_):
        return impl.leaky_relu(0.2, x_.dtype).forward(x_)

    check_vjp(f, x, dy, dx, layer=LAYER, quantity="dx")
