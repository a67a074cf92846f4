"""Flatten: torch's nn.Flatten order (batch axis kept, the rest row-major), backward
restoring the input's shape, in both dtype tiers and for non-contiguous inputs.
"""

import numpy as np
import pytest
import torch
from conftest import compare, to_torch, torch_vjp
from finite_diff import check_vjp
from hypothesis import given
from hypothesis import strategies as st
from strategies import DTYPES, LAYOUTS, dtypes, seeds, with_layout

from reference import Flatten

LAYER = "Flatten"
shapes = st.lists(st.integers(1, 5), min_size=2, max_size=5).map(tuple)


def torch_flatten(x: np.ndarray, dy: np.ndarray):
    xt = to_torch(x, requires_grad=True)
    yt = torch.nn.Flatten()(xt)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_flatten(x: np.ndarray, rng: np.random.Generator):
    layer = Flatten()
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, layer.backward(dy), dy


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, seed=seeds)
def test_flatten_matches_torch_and_backward_restores_the_shape(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y, dx, dy = run_flatten(x, rng)
    assert y.shape == (shape[0], int(np.prod(shape[1:])))
    assert dx.shape == x.shape
    yt, dxt = torch_flatten(x, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "dx", dx, dxt)


def test_flatten_order_is_channel_then_row_then_column():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y, _, _ = run_flatten(x, np.random.default_rng(0))
    # feature (c, h, w) of sample n sits at column c*20 + h*5 + w
    assert y[1, 2 * 20 + 3 * 5 + 4] == x[1, 2, 3, 4]
    np.testing.assert_array_equal(y, torch.nn.Flatten()(torch.tensor(x)).numpy())


@given(layout=st.sampled_from(LAYOUTS), dtype=dtypes, seed=seeds)
def test_flatten_noncontiguous_input_matches_torch_and_stays_unwritten(layout, dtype, seed):
    # A non-contiguous reshape must still read (c, h, w) in logical, not memory, order.
    rng = np.random.default_rng(seed)
    x = with_layout(rng.standard_normal((3, 4, 5, 6)).astype(dtype), layout, rng)
    before = x.copy()
    y, dx, dy = run_flatten(x, rng)
    yt, dxt = torch_flatten(x, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "dx", dx, dxt)
    assert np.array_equal(x, before), f"{LAYER} wrote into its {layout} input"


@given(shape=shapes, seed=seeds)
def test_flatten_gradient_matches_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    _, dx, dy = run_flatten(x, rng)
    f = Flatten().forward
    check_vjp(f, x, dy, dx, layer=LAYER, quantity="dx")
