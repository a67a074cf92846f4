"""Flatten: torch's nn.Flatten order (batch axis kept, the rest row-major: channel, then
row, then column), backward restoring the input's shape, in both dtype tiers and for
non-contiguous inputs.
"""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ..plugin import check
from ..strategies import DTYPES, LAYOUTS, seeds, with_layout
from ..tolerances import EXACT, compare, expect, to_torch, torch_vjp

LAYER = "Flatten"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
# Flatten sits between MaxPool2d and Linear: it always sees (N, C, H, W).
shapes = st.tuples(*[st.integers(1, 5)] * 4)


def torch_flatten(x: np.ndarray, dy: np.ndarray):
    xt = to_torch(x, requires_grad=True)
    yt = torch.nn.Flatten()(xt)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_flatten(impl, x: np.ndarray, rng: np.random.Generator):
    layer = impl.flatten(x.dtype)
    y = layer.forward(x)
    expect(y.ndim == 2, f"{LAYER} y: shape {y.shape} for input {x.shape}, torch gives 2-D")
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, layer.backward_dx(dy), dy


@check("y, dx")
@DTYPE
def test_flatten_matches_torch_on_the_seed_shape(impl, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 13, 13)).astype(dtype)  # the seed's pooled activations
    y, dx, dy = run_flatten(impl, x, rng)
    yt, dxt = torch_flatten(x, dy)
    compare(LAYER, "y", y, yt, tol=EXACT)
    compare(LAYER, "dx", dx, dxt, tol=EXACT)


@check("y, dx")
@DTYPE
@given(shape=shapes, seed=seeds)
def test_flatten_matches_torch_and_backward_restores_the_shape(impl, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y, dx, dy = run_flatten(impl, x, rng)
    yt, dxt = torch_flatten(x, dy)
    compare(LAYER, "y", y, yt, tol=EXACT)
    compare(LAYER, "dx", dx, dxt, tol=EXACT)


@check("y (feature order)")
def test_flatten_order_is_channel_then_row_then_column(impl):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y, _, _ = run_flatten(impl, x, np.random.default_rng(0))
    # feature (c, h, w) of sample n sits at column c*20 + h*5 + w
    expect(
        y.shape == (2, 60) and y[1, 2 * 20 + 3 * 5 + 4] == x[1, 2, 3, 4],
        f"{LAYER}: feature (c=2, h=3, w=4) is not at column c*20 + h*5 + w = 59; torch "
        "flattens channel, then row, then column (a channels-last flatten puts it elsewhere)",
    )
    compare(LAYER, "y (feature order)", y, torch.nn.Flatten()(torch.tensor(x)), tol=EXACT)


@check("y, dx (other memory layouts)")
@DTYPE
@given(layout=st.sampled_from(LAYOUTS), seed=seeds)
def test_flatten_noncontiguous_input_matches_torch_and_stays_unwritten(impl, layout, dtype, seed):
    # A non-contiguous reshape must still read (c, h, w) in logical, not memory, order.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype)
    xv = with_layout(x, layout, rng)
    y, dx, dy = run_flatten(impl, xv, rng)
    yt, dxt = torch_flatten(x, dy)
    compare(LAYER, "y", y, yt, tol=EXACT)
    compare(LAYER, "dx", dx, dxt, tol=EXACT)
    expect(np.array_equal(xv, x), f"{LAYER} wrote into its {layout} input")
