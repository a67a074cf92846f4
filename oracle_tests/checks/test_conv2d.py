"""Conv2d: torch's F.conv2d in both dtype tiers (with and without bias), the seed's own
configuration, hand-built cross-correlation/stride/padding cases, a second backward,
inputs in other memory layouts, and finite differences.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, LAYOUTS, ConvCase, conv_cases, seeds, with_layout
from ..tolerances import compare, expect, float32_sum_tol, to_torch, torch_vjp

LAYER = "Conv2d"
BIAS = pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
# The seed's conv: 1 -> 8 channels, 3x3, stride 1, no padding, on 28x28 images.
SEED_CASE = ConvCase(N=4, C_in=1, C_out=8, H=28, W=28, k=3, s=1, p=0)


def random_conv(case: ConvCase, dtype, rng: np.random.Generator, bias: bool = True):
    """x ~ N(0, 1); w, b ~ U(+-1/sqrt(fan_in)) as torch initialises them (b None: no bias)."""
    x = rng.standard_normal((case.N, case.C_in, case.H, case.W)).astype(dtype)
    bound = 1 / np.sqrt(case.C_in * case.k * case.k)
    w = rng.uniform(-bound, bound, (case.C_out, case.C_in, case.k, case.k)).astype(dtype)
    b = rng.uniform(-bound, bound, case.C_out).astype(dtype) if bias else None
    return x, w, b


def torch_conv2d(x, w, b, stride: int, padding: int, dy: np.ndarray) -> dict:
    """torch's y, dx, dweight and (with a bias) dbias for upstream gradient dy."""
    xt, wt = to_torch(x, requires_grad=True), to_torch(w, requires_grad=True)
    bt = None if b is None else to_torch(b, requires_grad=True)
    yt = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    torch_vjp(yt, dy)
    out = {"y": yt, "dx": xt.grad, "dweight": wt.grad}
    if bt is not None:
        out["dbias"] = bt.grad
    return out


def abs_sums(x, dy, w_shape, stride: int, padding: int) -> tuple[float, float]:
    """max S over the entries of dweight and of dbias, by torch in float64."""
    wt = torch.zeros(w_shape, dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(w_shape[0], dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(np.abs(x), dtype=torch.float64)
    yt = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    (yt * torch.tensor(np.abs(dy), dtype=torch.float64)).sum().backward()
    return float(wt.grad.max()), float(bt.grad.max())


def run_conv2d(
    impl, x, w, b, s: int, p: int, rng, dx_needed: bool = False
) -> tuple[dict, np.ndarray]:
    """The adapter's y, dx (None if it computes none) and grads, and the random dy used."""
    layer = impl.conv2d(w, b, s, p)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    dx = layer.backward_dx(dy) if dx_needed else layer.backward(dy)
    grads = layer.grads
    ours = {"y": y, "dx": dx, "dweight": grads["weight"]}
    if b is not None:
        ours["dbias"] = grads["bias"]
    return ours, dy


def compare_all(ours: dict, theirs: dict, x, dy, s: int, p: int, names=None) -> None:
    """Compare the named quantities (default: all but a missing dx) with torch's."""
    tols = {}
    if x.dtype == np.float32:  # long float32 sums: see tolerances.float32_sum_tol
        s_w, s_b = abs_sums(x, dy, ours["dweight"].shape, s, p)
        tols = {"dweight": float32_sum_tol(s_w), "dbias": float32_sum_tol(s_b)}
    for name in names or theirs:
        if ours.get(name) is not None:
            compare(LAYER, name, ours[name], theirs[name], tol=tols.get(name))


@check("y, dweight, dbias")
@DTYPE
@BIAS
def test_conv2d_forward_and_parameter_gradients_match_torch_on_the_seed_configuration(
    impl, dtype, bias
):
    rng = np.random.default_rng(0)
    x, w, b = random_conv(SEED_CASE, dtype, rng, bias)
    ours, dy = run_conv2d(impl, x, w, b, 1, 0, rng)
    compare_all(ours, torch_conv2d(x, w, b, 1, 0, dy), x, dy, 1, 0, ["y", "dweight", "dbias"])


@check("dx")
@DTYPE
def test_conv2d_input_gradient_matches_torch_on_the_seed_configuration(impl, dtype):
    rng = np.random.default_rng(1)
    x, w, b = random_conv(SEED_CASE, dtype, rng, bias=False)
    ours, dy = run_conv2d(impl, x, w, b, 1, 0, rng, dx_needed=True)
    compare(LAYER, "dx", ours["dx"], torch_conv2d(x, w, b, 1, 0, dy)["dx"])


@check("y, dx, dweight, dbias")
@DTYPE
@BIAS
@given(case=conv_cases(), seed=seeds)
def test_conv2d_matches_torch_for_any_shape_stride_and_padding(impl, case, dtype, bias, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_conv(case, dtype, rng, bias)
    ours, dy = run_conv2d(impl, x, w, b, case.s, case.p, rng)
    compare_all(ours, torch_conv2d(x, w, b, case.s, case.p, dy), x, dy, case.s, case.p)


@check("y, dweight (a one-hot kernel)")
def test_conv2d_is_cross_correlation_not_convolution(impl):
    # A single 1 at row 0, column 1 of the kernel: cross-correlation reads the input
    # 1 column to the right (y[i, j] = x[i, j + 1]); a flipped kernel (true
    # convolution) reads x[i + 2, j + 1], a transposed one x[i + 1, j]. (A 1 on the
    # anti-diagonal, as at (0, 2), would not tell those two apart.)
    x = np.arange(1.0, 36.0).reshape(1, 1, 5, 7)
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 1] = 1.0
    layer = impl.conv2d(w, None, 1, 0)
    y = layer.forward(x)
    expect(y.shape == (1, 1, 3, 5), f"{LAYER} y: shape {y.shape}, torch gives (1, 1, 3, 5)")
    expect(
        np.array_equal(y, x[:, :, 0:3, 1:6]),
        f"{LAYER} y with a kernel whose only 1 sits at (0, 1) is not x[i, j + 1]: the "
        "kernel is flipped (true convolution) or transposed; torch cross-correlates",
    )
    dy = np.random.default_rng(4).standard_normal(y.shape)
    layer.backward(dy)
    # dw[a, b] = sum_ij dy[i, j] * x[i + a, j + b]: a flipped kernel gives dw[2-a, 2-b].
    expected = [
        [np.sum(dy[0, 0] * x[0, 0, a : a + 3, c : c + 5]) for c in range(3)] for a in range(3)
    ]
    compare(LAYER, "dweight (a one-hot kernel)", layer.grads["weight"][0, 0], np.array(expected))


@check("y, dx, dweight (one-hot kernels)")
@given(case=conv_cases(), data=st.data(), seed=seeds)
def test_conv2d_stride_and_padding_read_the_pixels_of_the_formula(impl, case, data, seed):
    # Kernel = a single 1 at (a, c) mapping channel o to channel o: output (i, j) must
    # be exactly the zero-padded input at (i*s + a, j*s + c), for Ho, Wo from
    # floor((H + 2p - k) / s) + 1. Backward must put dy back at those same pixels.
    a = data.draw(st.integers(0, case.k - 1), label="kernel row of the 1")
    c = data.draw(st.integers(0, case.k - 1), label="kernel column of the 1")
    rng = np.random.default_rng(seed)
    C, s, p = case.C_in, case.s, case.p
    x = rng.standard_normal((case.N, C, case.H, case.W))
    w = np.zeros((C, C, case.k, case.k))
    w[np.arange(C), np.arange(C), a, c] = 1.0
    layer = impl.conv2d(w, None, s, p)
    y = layer.forward(x)
    Ho, Wo = (case.H + 2 * p - case.k) // s + 1, (case.W + 2 * p - case.k) // s + 1
    expect(
        y.shape == (case.N, C, Ho, Wo),
        f"{LAYER} y: shape {y.shape} for input {x.shape}, kernel {case.k}, stride {s}, "
        f"padding {p}; torch gives {(case.N, C, Ho, Wo)} = floor((H + 2p - k) / s) + 1",
    )
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    picked = (slice(None), slice(None), slice(a, a + s * Ho, s), slice(c, c + s * Wo, s))
    compare(LAYER, "y (one-hot kernels)", y, xp[picked])
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    gw = layer.grads["weight"]  # read before any comparison, so a diagnosis sees it too
    if dx is not None:
        dxp = np.zeros_like(xp)
        dxp[picked] = dy
        compare(LAYER, "dx (one-hot kernels)", dx, dxp[:, :, p : p + case.H, p : p + case.W])
    # dweight[o, c, i, j] sums dy times the pixels kernel entry (i, j) read: s apart.
    dw = np.zeros_like(w)
    for i in range(case.k):
        for j in range(case.k):
            read = xp[:, :, i : i + s * Ho : s, j : j + s * Wo : s]  # (N, C, Ho, Wo)
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, read)
    compare(LAYER, "dweight (one-hot kernels)", gw, dw)


@check("y, dx, dweight")
@DTYPE
def test_conv2d_second_backward_overwrites_the_gradients(impl, dtype):
    # Two backward passes after one forward: grads must be the second's alone, as
    # torch's after zero_grad(); adding them up (no zero_grad) is a common slip.
    rng = np.random.default_rng(1)
    case = ConvCase(N=3, C_in=2, C_out=5, H=9, W=8, k=3, s=1, p=0)
    x, w, b = random_conv(case, dtype, rng)
    layer = impl.conv2d(w, b, 1, 0)
    y = layer.forward(x)
    first, second = (rng.standard_normal(y.shape).astype(dtype) for _ in range(2))
    layer.backward(first)
    dx = layer.backward(second)
    ours = {"y": y, "dx": dx, "dweight": layer.grads["weight"], "dbias": layer.grads["bias"]}
    compare_all(ours, torch_conv2d(x, w, b, 1, 0, second), x, second, 1, 0)


@check("y, dx, dweight, dbias (other memory layouts)")
@DTYPE
@given(case=conv_cases(), layout=st.sampled_from(LAYOUTS), seed=seeds)
def test_conv2d_noncontiguous_input_matches_torch_and_stays_unwritten(
    impl, case, layout, dtype, seed
):
    # as_strided code must read the logical values of any layout, never the raw memory.
    rng = np.random.default_rng(seed)
    x, w, b = random_conv(case, dtype, rng)
    xv = with_layout(x, layout, rng)
    ours, dy = run_conv2d(impl, xv, w, b, case.s, case.p, rng)
    compare_all(ours, torch_conv2d(x, w, b, case.s, case.p, dy), x, dy, case.s, case.p)
    expect(np.array_equal(xv, x), f"{LAYER} wrote into its {layout} input")


@check("dx, dweight, dbias (finite differences)")
@settings(max_examples=15)  # a few hundred conv evaluations per example
@given(case=conv_cases(max_size=10), seed=seeds)
def test_conv2d_gradients_match_finite_differences(impl, case, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_conv(case, np.float64, rng)
    s, p = case.s, case.p
    ours, dy = run_conv2d(impl, x, w, b, s, p, rng)

    def y_of(x_=x, w_=w, b_=b):
        return impl.conv2d(w_, b_, s, p).forward(x_)

    if ours["dx"] is not None:
        check_vjp(lambda x_: y_of(x_=x_), x, dy, ours["dx"], layer=LAYER, quantity="dx")
    check_vjp(lambda w_: y_of(w_=w_), w, dy, ours["dweight"], layer=LAYER, quantity="dweight")
    check_vjp(lambda b_: y_of(b_=b_), b, dy, ours["dbias"], layer=LAYER, quantity="dbias")
