"""Linear: torch's F.linear (y, dx, dweight, dbias) in both dtype tiers, with and
without bias, over hypothesis shapes and memory layouts, the seed's two sizes, a second
backward, and finite differences.
"""

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, LAYOUTS, seeds, with_layout
from ..tolerances import compare, expect, float32_sum_tol, to_torch, torch_vjp

LAYER = "Linear"
BIAS = pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])


def random_linear(N: int, n_in: int, n_out: int, dtype, rng, bias: bool = True):
    """x ~ N(0, 1); w, b ~ U(+-1/sqrt(in)) as torch initialises them (b None: no bias)."""
    bound = 1 / np.sqrt(n_in)
    x = rng.standard_normal((N, n_in)).astype(dtype)
    w = rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype)
    b = rng.uniform(-bound, bound, n_out).astype(dtype) if bias else None
    return x, w, b


def torch_linear(x, w, b, dy) -> dict:
    """torch's y, dx, dweight and (with a bias) dbias for upstream gradient dy."""
    xt, wt = to_torch(x, requires_grad=True), to_torch(w, requires_grad=True)
    bt = None if b is None else to_torch(b, requires_grad=True)
    yt = F.linear(xt, wt, bt)
    torch_vjp(yt, dy)
    out = {"y": yt, "dx": xt.grad, "dweight": wt.grad}
    if bt is not None:
        out["dbias"] = bt.grad
    return out


def run_linear(impl, x, w, b, dy, dx_needed: bool = False) -> dict:
    layer = impl.linear(w, b)
    y = layer.forward(x)
    dx = layer.backward_dx(dy) if dx_needed else layer.backward(dy)
    grads = layer.grads
    ours = {"y": y, "dx": dx, "dweight": grads["weight"]}
    if b is not None:
        ours["dbias"] = grads["bias"]
    return ours


def compare_all(ours: dict, theirs: dict, x, dy) -> None:
    """Compare every quantity the adapter gave (dx may be None) with torch's."""
    tols = {}
    if x.dtype == np.float32:  # dweight and dbias sum over the batch: float32_sum_tol
        s_w = float((np.abs(dy).T.astype(np.float64) @ np.abs(x).astype(np.float64)).max())
        s_b = float(np.abs(dy).astype(np.float64).sum(axis=0).max())
        tols = {"dweight": float32_sum_tol(s_w), "dbias": float32_sum_tol(s_b)}
    for name, t in theirs.items():
        if ours.get(name) is not None:
            compare(LAYER, name, ours[name], t, tol=tols.get(name))


@check("y, dx, dweight, dbias")
@DTYPE
@BIAS
@pytest.mark.parametrize(("n_in", "n_out"), [(1352, 128), (128, 10)], ids=["fc1", "fc2"])
def test_linear_matches_torch_at_the_seed_networks_sizes(impl, n_in, n_out, bias, dtype):
    # fc1's y sums 1352 products, the largest reduction in the network's linear layers;
    # inputs are ReLU-like (non-negative, about two thirds exactly 0).
    rng = np.random.default_rng(8)
    x, w, b = random_linear(32, n_in, n_out, dtype, rng, bias)
    x = np.maximum(x, 0.4).astype(dtype) - dtype(0.4)
    dy = rng.standard_normal((32, n_out)).astype(dtype)
    compare_all(run_linear(impl, x, w, b, dy), torch_linear(x, w, b, dy), x, dy)


@check("dx")
@DTYPE
def test_linear_input_gradient_matches_torch_at_fc2(impl, dtype):
    rng = np.random.default_rng(9)
    x, w, b = random_linear(32, 128, 10, dtype, rng, bias=False)
    dy = rng.standard_normal((32, 10)).astype(dtype)
    ours = run_linear(impl, x, w, b, dy, dx_needed=True)
    compare(LAYER, "dx", ours["dx"], torch_linear(x, w, b, dy)["dx"])


@check("y, dx, dweight, dbias")
@DTYPE
@BIAS
@given(
    N=st.integers(1, 8),
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 20),
    layout=st.sampled_from(("contiguous", *LAYOUTS[:2], "slice")),
    seed=seeds,
)
def test_linear_matches_torch_for_any_shape_and_layout(
    impl, N, n_in, n_out, layout, bias, dtype, seed
):
    rng = np.random.default_rng(seed)
    x, w, b = random_linear(N, n_in, n_out, dtype, rng, bias)
    dy = rng.standard_normal((N, n_out)).astype(dtype)
    xv = x if layout == "contiguous" else with_layout(x, layout, rng)
    compare_all(run_linear(impl, xv, w, b, dy), torch_linear(x, w, b, dy), x, dy)
    expect(np.array_equal(xv, x), f"{LAYER} wrote into its {layout} input")


@check("y, dx, dweight, dbias")
@DTYPE
def test_linear_second_backward_overwrites_the_gradients(impl, dtype):
    # grads after two backward passes must be the second's alone, as after zero_grad().
    rng = np.random.default_rng(9)
    x, w, b = random_linear(5, 7, 4, dtype, rng)
    layer = impl.linear(w, b)
    y = layer.forward(x)
    first, second = (rng.standard_normal(y.shape).astype(dtype) for _ in range(2))
    layer.backward(first)
    dx = layer.backward(second)
    ours = {"y": y, "dx": dx, "dweight": layer.grads["weight"], "dbias": layer.grads["bias"]}
    compare_all(ours, torch_linear(x, w, b, second), x, second)


@check("dx, dweight, dbias (finite differences)")
@given(N=st.integers(1, 6), n_in=st.integers(1, 30), n_out=st.integers(1, 12), seed=seeds)
def test_linear_gradients_match_finite_differences(impl, N, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_linear(N, n_in, n_out, np.float64, rng)
    dy = rng.standard_normal((N, n_out))
    ours = run_linear(impl, x, w, b, dy)

    def y_of(x_=x, w_=w, b_=b):
        return impl.linear(w_, b_).forward(x_)

    if ours["dx"] is not None:
        check_vjp(lambda x_: y_of(x_=x_), x, dy, ours["dx"], layer=LAYER, quantity="dx")
    check_vjp(lambda w_: y_of(w_=w_), w, dy, ours["dweight"], layer=LAYER, quantity="dweight")
    check_vjp(lambda b_: y_of(b_=b_), b, dy, ours["dbias"], layer=LAYER, quantity="dbias")
