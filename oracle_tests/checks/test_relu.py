"""ReLU: torch.relu in both dtype tiers, other memory layouts, and finite differences
away from the kink, on finite inputs away from 0; exact zeros (ReLU'(0) = 0) and NaN
each in their own checks, one per dtype and direction, so that a special-value
convention fails only the checks about it.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, LAYOUTS, distinct_values, seeds, with_layout
from ..tolerances import (
    EXACT,
    KINK_MARGIN,
    CheckFailure,
    compare,
    expect,
    to_torch,
    torch_vjp,
)

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


def away_from_zero(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 1) pushed at least KINK_MARGIN from 0: finite, no exact zeros (general checks)."""
    x = rng.standard_normal(shape)
    return (x + np.copysign(KINK_MARGIN, x)).astype(dtype)


def with_exact_zeros(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """Values away from 0, with 30% exact zeros, +0.0 and -0.0, as after max(0, .)."""
    x = away_from_zero(rng, shape, dtype)
    u = rng.random(shape)
    x[u < 0.15] = 0.0
    x[(u >= 0.15) & (u < 0.3)] = -0.0
    return x


def with_nan(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """Values away from 0 with 20% NaN."""
    x = away_from_zero(rng, shape, dtype)
    x[rng.random(shape) < 0.2] = np.nan
    return x


@check("y, dx")
@DTYPE
@pytest.mark.parametrize("shape", [SEED_SHAPE, (4, 128)], ids=["after conv", "after fc1"])
def test_relu_matches_torch_on_the_seed_shapes(impl, shape, dtype):
    rng = np.random.default_rng(0)
    x = away_from_zero(rng, shape, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    compare_with_torch(impl, x, dy)


@check("y, dx")
@DTYPE
@given(shape=shapes, seed=seeds)
def test_relu_matches_torch_for_any_shape(impl, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    compare_with_torch(impl, x, dy)


@check("y, dx at exact zeros")
@DTYPE
def test_relu_gradient_at_exact_zeros_is_zero_like_torch(impl, dtype):
    # torch's threshold_backward zeroes the gradient where x <= 0: ReLU'(0) = 0, at +0.0
    # and -0.0 alike. The seed's conv output after a blank background holds exact zeros.
    rng = np.random.default_rng(0)
    x = with_exact_zeros(rng, SEED_SHAPE, dtype)
    dy = rng.standard_normal(SEED_SHAPE).astype(dtype)
    y, dx = run_relu(impl, x, dy)
    yt, dxt = torch_relu(x, dy)
    zero = x == 0
    wrong = np.argwhere(zero & (dx != 0))
    if len(wrong):
        i = tuple(int(j) for j in wrong[0])
        raise CheckFailure(
            f"{LAYER} dx at x = {float(x[i]):+.1f} (index {i}) is {float(dx[i]):.6g} for "
            f"upstream {float(dy[i]):.6g}; torch's is 0 (ReLU'(0) = 0: the gradient passes "
            "only where x > 0)"
        )
    compare(LAYER, "y at exact zeros", y[zero], yt.detach().numpy()[zero], tol=EXACT)
    compare(LAYER, "dx (an input with exact zeros)", dx, dxt, tol=EXACT)


@check("y at NaN")
@DTYPE
def test_relu_forward_propagates_nan_like_torch(impl, dtype):
    # torch.relu(NaN) is NaN; np.where(x > 0, x, 0) and x * (x > 0) make it 0.
    rng = np.random.default_rng(1)
    x = with_nan(rng, (2, 3, 5, 4), dtype)
    y = impl.relu(dtype).forward(x)
    compare(LAYER, "y (an input with NaN)", y, torch.relu(to_torch(x)))


@check("dx at NaN")
@DTYPE
def test_relu_backward_passes_the_gradient_at_nan_like_torch(impl, dtype):
    # torch's threshold_backward zeroes only where x <= 0, which NaN is not: the
    # gradient passes at NaN. A `x > 0` mask drops it.
    rng = np.random.default_rng(2)
    x = with_nan(rng, (2, 3, 5, 4), dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer = impl.relu(dtype)
    layer.forward(x)
    compare(LAYER, "dx (an input with NaN)", layer.backward_dx(dy), torch_relu(x, dy)[1])


@check("y, dx (other memory layouts)")
@DTYPE
@given(layout=st.sampled_from(LAYOUTS), seed=seeds)
def test_relu_noncontiguous_input_matches_torch_and_stays_unwritten(impl, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, (2, 3, 5, 4), dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    xv, dyv = with_layout(x, layout, rng), with_layout(dy, layout, rng)
    y, dx = compare_with_torch(impl, xv, dyv)
    for out in (y, dx):
        out[...] = 7  # an output that is a view of the input would write back now
    expect(np.array_equal(xv, x), f"{LAYER} output writes into its {layout} input")


@check("dx (finite differences)")
@given(shape=shapes, seed=seeds)
def test_relu_gradient_matches_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, shape)  # no value within KINK_MARGIN of the kink at 0
    dy = rng.standard_normal(shape)
    _, dx = run_relu(impl, x, dy)
    check_vjp(lambda x_: impl.relu(x_.dtype).forward(x_), x, dy, dx, layer=LAYER, quantity="dx")
