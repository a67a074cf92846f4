"""ReLU: torch.relu in both dtype tiers with exact zeros (ReLU'(0) = 0) and NaN,
finite differences away from the kink, and the input left unwritten.
"""

import numpy as np
import pytest
import torch
from conftest import compare, to_torch, torch_vjp
from finite_diff import check_vjp
from hypothesis import given
from hypothesis import strategies as st
from strategies import DTYPES, LAYOUTS, distinct_values, dtypes, seeds, with_layout

from reference import ReLU
from reference.layers.activation import relu_forward

LAYER = "ReLU"
shapes = st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple)


def torch_relu(x: np.ndarray, dy: np.ndarray):
    xt = to_torch(x, requires_grad=True)
    yt = torch.relu(xt)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_relu(x: np.ndarray, dy: np.ndarray):
    layer = ReLU()
    return layer.forward(x), layer.backward(dy)


def special_values(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 1) with a quarter exact zeros (+0 and -0) and some NaN."""
    x = rng.standard_normal(shape)
    u = rng.random(shape)
    x[u < 0.15] = 0.0
    x[(u >= 0.15) & (u < 0.25)] = -0.0
    x[(u >= 0.25) & (u < 0.3)] = np.nan
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=seeds)
def test_relu_matches_torch_with_zeros_and_nan(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = special_values(rng, shape, dtype)
    before = x.copy()
    dy = rng.standard_normal(shape).astype(dtype)
    y, dx = run_relu(x, dy)
    yt, dxt = torch_relu(x, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "dx", dx, dxt)
    assert np.array_equal(x, before, equal_nan=True), "ReLU wrote into its input"
    assert not np.shares_memory(y, x) and not np.shares_memory(dx, dy)


def test_relu_gradient_at_exact_zero_is_zero():
    x = np.array([[-1.0, -0.0, 0.0, 5e-324, 2.0]])  # 5e-324: the smallest positive float64
    dy = np.array([[1.5, -2.5, 3.5, -4.5, 5.5]])
    y, dx = run_relu(x, dy)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 0.0, 5e-324, 2.0]])
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 0.0, -4.5, 5.5]])
    compare(LAYER, "dx", dx, torch_relu(x, dy)[1])


def test_relu_propagates_nan_and_passes_its_gradient_like_torch():
    # torch's threshold_backward zeroes the gradient only where x <= 0, which NaN is not.
    x = np.array([[np.nan, -1.0, np.nan]], dtype=np.float32)
    dy = np.array([[2.0, 3.0, -4.0]], dtype=np.float32)
    y, dx = run_relu(x, dy)
    assert np.isnan(y[0, [0, 2]]).all() and y[0, 1] == 0
    np.testing.assert_array_equal(dx, [[2.0, 0.0, -4.0]])
    yt, dxt = torch_relu(x, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "dx", dx, dxt)


@given(layout=st.sampled_from(LAYOUTS), dtype=dtypes, seed=seeds)
def test_relu_noncontiguous_input_gives_identical_results(layout, dtype, seed):
    rng = np.random.default_rng(seed)
    x = special_values(rng, (2, 3, 5, 4), dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    y, dx = run_relu(x, dy)
    yv, dxv = run_relu(with_layout(x, layout, rng), with_layout(dy, layout, rng))
    assert np.array_equal(yv, y, equal_nan=True) and np.array_equal(dxv, dx)


@given(shape=shapes, seed=seeds)
def test_relu_gradient_matches_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, shape)  # no value within KINK_MARGIN of the kink at 0
    dy = rng.standard_normal(shape)
    _, dx = run_relu(x, dy)
    check_vjp(lambda x_: relu_forward(x_)[0], x, dy, dx, layer=LAYER, quantity="dx")
