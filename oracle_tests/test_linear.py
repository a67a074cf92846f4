"""Linear: torch's F.linear (y, dx, dweight, dbias) in both dtype tiers over
hypothesis shapes and memory layouts, the seed's fc1 size, the layer class's grads
and dtype, and finite differences.
"""

import numpy as np
import pytest
import torch.nn.functional as F
from conftest import compare, to_torch, torch_vjp
from finite_diff import check_vjp
from hypothesis import given
from hypothesis import strategies as st
from strategies import DTYPES, LAYOUTS, seeds, with_layout

from reference import Linear
from reference.layers.linear import linear_backward, linear_forward

LAYER = "Linear"


def random_linear(N: int, n_in: int, n_out: int, dtype, rng: np.random.Generator):
    """x ~ N(0, 1); w, b ~ U(+-1/sqrt(in)) as torch initialises them."""
    bound = 1 / np.sqrt(n_in)
    x = rng.standard_normal((N, n_in)).astype(dtype)
    w = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
    b = rng.uniform(-bound, bound, n_out).astype(dtype)
    return x, w, b


def torch_linear(x, w, b, dy):
    """torch's y, dx, dweight, dbias for upstream gradient dy."""
    xt, wt, bt = (to_torch(a, requires_grad=True) for a in (x, w, b))
    yt = F.linear(xt, wt, bt)
    torch_vjp(yt, dy)
    return yt, xt.grad, wt.grad, bt.grad


def compare_all(ours, theirs) -> None:
    for name, o, t in zip(("y", "dx", "dweight", "dbias"), ours, theirs, strict=True):
        compare(LAYER, name, o, t)


def run_linear(x, w, b, dy):
    y, cache = linear_forward(x, w, b)
    return (y, *linear_backward(dy, cache))


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    N=st.integers(1, 8),
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 20),
    layout=st.sampled_from(("contiguous", *LAYOUTS)),
    seed=seeds,
)
def test_linear_forward_and_backward_match_torch(N, n_in, n_out, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_linear(N, n_in, n_out, dtype, rng)
    dy = rng.standard_normal((N, n_out)).astype(dtype)
    xv = x if layout == "contiguous" else with_layout(x, layout, rng)
    ours = run_linear(xv, w, b, dy)
    compare_all(ours, torch_linear(x, w, b, dy))
    assert np.array_equal(xv, x), f"{LAYER} wrote into its {layout} input"
    assert not any(np.shares_memory(o, xv) for o in ours), "an output aliases the input"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_matches_torch_at_the_seed_networks_fc1_size(dtype):
    # 64 x 1352 -> 128: y sums 1352 products, the largest reduction in the network's
    # linear layers; inputs are ReLU-like (non-negative, about two thirds exactly 0).
    rng = np.random.default_rng(8)
    x, w, b = random_linear(64, 8 * 13 * 13, 128, dtype, rng)
    x = np.maximum(x, 0.4).astype(dtype) - dtype(0.4)
    dy = rng.standard_normal((64, 128)).astype(dtype)
    compare_all(run_linear(x, w, b, dy), torch_linear(x, w, b, dy))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_layer_matches_torch_and_overwrites_grads(dtype):
    rng = np.random.default_rng(9)
    layer = Linear(7, 4, rng=rng, dtype=dtype)
    w, b = layer.params["weight"].copy(), layer.params["bias"].copy()
    x = rng.standard_normal((5, 7)).astype(dtype)
    y = layer.forward(x)
    first, second = (rng.standard_normal(y.shape).astype(dtype) for _ in range(2))
    layer.backward(first)
    dx = layer.backward(second)  # grads must now be those of `second` alone
    theirs = torch_linear(x, w, b, second)
    compare_all((y, dx, layer.grads["weight"], layer.grads["bias"]), theirs)
    assert layer.backward(second, input_grad=False) is None
    compare_all((y, dx, layer.grads["weight"], layer.grads["bias"]), theirs)


@pytest.mark.parametrize(
    ("x_dtype", "layer_dtype"), [(np.float64, np.float32), (np.float32, np.float64)]
)
def test_linear_computes_in_the_input_dtype(x_dtype, layer_dtype):
    rng = np.random.default_rng(10)
    layer = Linear(6, 3, rng=rng, dtype=layer_dtype)
    x = rng.standard_normal((2, 6)).astype(x_dtype)
    y = layer.forward(x)
    dx = layer.backward(rng.standard_normal(y.shape).astype(x_dtype))
    assert (y.dtype, dx.dtype) == (x.dtype, x.dtype)


@given(N=st.integers(1, 6), n_in=st.integers(1, 30), n_out=st.integers(1, 12), seed=seeds)
def test_linear_gradients_match_finite_differences(N, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_linear(N, n_in, n_out, np.float64, rng)
    dy = rng.standard_normal((N, n_out))
    _, dx, dw, db = run_linear(x, w, b, dy)
    check_vjp(lambda x_: linear_forward(x_, w, b)[0], x, dy, dx, layer=LAYER, quantity="dx")
    check_vjp(lambda w_: linear_forward(x, w_, b)[0], w, dy, dw, layer=LAYER, quantity="dweight")
    check_vjp(lambda b_: linear_forward(x, w, b_)[0], b, dy, db, layer=LAYER, quantity="dbias")
