"""ReLU: torch.relu in both dtype tiers with exact zeros (ReLU'(0) = 0) and NaN,
other memory layouts, and finite differences away from the kink.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, LAYOUTS, distinct_values, seeds, with_layout
from ..tolerances import EXACT, compare, expect, to_torch, torch_vjp

LAYER = "ReLU"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
shapes = st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple)
SEED_SHAPE = (4, 8, 26, 26)  # the seed's conv output, and (4, 128) after fc1


def torch_relu(x: np.ndarray, dy: np.ndarray):
    xt = to_torch(x, requires_grad=True)
    yt = torch.relu(xt)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_relu(impl, x: np.ndarray, dy: np.ndarray):
    layer = impl.relu(x.dtype)
    return layer.forward(x), layer.backward_dx(dy)


def compare_with_torch(impl, x: np.ndarray, dy: np.ndarray, where: str = ""):
    """The adapter's y and dx against torch's (quantities "y" + where, "dx" + where)."""
    y, dx = run_relu(impl, x, dy)
    yt, dxt = torch_relu(x, dy)
    compare(LAYER, f"y{where}", y, yt)
    compare(LAYER, f"dx{where}", dx, dxt)
    return y, dx


def special_values(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 1) with a quarter exact zeros (+0 and -0) and some NaN."""
    x = rng.standard_normal(shape)
    u = rng.random(shape)
    x[u < 0.15] = 0.0
    x[(u >= 0.15) & (u < 0.25)] = -0.0
    x[(u >= 0.25) & (u < 0.3)] = np.nan
    return x.astype(dtype)


@check("y, dx")
@DTYPE
@pytest.mark.parametrize("shape", [SEED_SHAPE, (4, 128)], ids=["after conv", "after fc1"])
def test_relu_matches_torch_on_the_seed_shapes_with_exact_zeros(impl, shape, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x[rng.random(shape) < 0.3] = 0.0  # exact zeros, as after max(0, .) on a blank background
    dy = rng.standard_normal(shape).astype(dtype)
    compare_with_torch(impl, x, dy)


@check("y, dx")
@DTYPE
@given(shape=shapes, seed=seeds)
def test_relu_matches_torch_with_zeros_and_nan(impl, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = special_values(rng, shape, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    compare_with_torch(impl, x, dy)


@check("dx at exactly 0")
def test_relu_gradient_at_exact_zero_is_zero(impl):
    # torch's threshold_backward zeroes the gradient where x <= 0: ReLU'(0) = 0.
    x = np.array([[-1.0, -0.0, 0.0, 5e-324, 2.0]])  # 5e-324: the smallest positive float64
    dy = np.array([[1.5, -2.5, 3.5, -4.5, 5.5]])
    y, dx = run_relu(impl, x, dy)
    compare(LAYER, "y at exactly 0", y, np.array([[0.0, 0.0, 0.0, 5e-324, 2.0]]), tol=EXACT)
    expect(
        dx[0, 1] == 0 and dx[0, 2] == 0,
        f"{LAYER} dx at x = -0.0 and +0.0 is {dx[0, 1]!r}, {dx[0, 2]!r}; torch's is 0 "
        "(ReLU'(0) = 0: the gradient passes only where x > 0)",
    )
    compare(LAYER, "dx at exactly 0", dx, torch_relu(x, dy)[1], tol=EXACT)


@check("y, dx at NaN")
def test_relu_propagates_nan_and_passes_its_gradient_like_torch(impl):
    # torch.relu(NaN) is NaN, and threshold_backward passes the gradient where x is
    # NaN (x <= 0 is False there).
    x = np.array([[np.nan, -1.0, np.nan]], dtype=np.float32)
    dy = np.array([[2.0, 3.0, -4.0]], dtype=np.float32)
    compare_with_torch(impl, x, dy, " at NaN")


@check("y, dx (other memory layouts)")
@DTYPE
@given(layout=st.sampled_from(LAYOUTS), seed=seeds)
def test_relu_noncontiguous_input_matches_torch_and_stays_unwritten(impl, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    x = special_values(rng, (2, 3, 5, 4), dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    xv, dyv = with_layout(x, layout, rng), with_layout(dy, layout, rng)
    y, dx = compare_with_torch(impl, xv, dyv)
    for out in (y, dx):
        out[...] = 7  # an output that is a view of the input would write back now
    expect(np.array_equal(xv, x, equal_nan=True), f"{LAYER} output writes into its {layout} input")


@check("dx (finite differences)")
@given(shape=shapes, seed=seeds)
def test_relu_gradient_matches_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, shape)  # no value within KINK_MARGIN of the kink at 0
    dy = rng.standard_normal(shape)
    _, dx = run_relu(impl, x, dy)
    check_vjp(lambda x_: impl.relu(x_.dtype).forward(x_), x, dy, dx, layer=LAYER, quantity="dx")
