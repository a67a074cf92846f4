"""MaxPool2d: torch's max_pool2d (values, return_indices winners, gradients) in both
dtype tiers, with ties forced on purpose, NaN, floor mode, overlapping windows,
memory layouts, finite differences, and Conv + ReLU + MaxPool on real MNIST.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compare, to_torch, torch_vjp
from finite_diff import check_vjp
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from strategies import (
    DTYPES,
    FILLS,
    LAYOUTS,
    TIE_FILLS,
    distinct_values,
    dtypes,
    filled,
    pool_cases,
    seeds,
    with_layout,
)

from reference import Conv2d, MaxPool2d, ReLU
from reference.layers.pool import maxpool2d_forward

LAYER = "MaxPool2d"
EXACT = {"rtol": 0.0, "atol": 0.0}  # the mask is boolean: right or wrong


def torch_mask(indices: torch.Tensor, shape: tuple) -> np.ndarray:
    """The boolean mask of torch's return_indices winners (flat indices per H*W plane)."""
    N, C, H, W = shape
    mask = torch.zeros(N, C, H * W, dtype=torch.bool)
    mask.scatter_(2, indices.reshape(N, C, -1), True)
    return mask.reshape(shape).numpy()


def torch_maxpool2d(x: np.ndarray, k: int, s: int, dy: np.ndarray):
    """torch's y, winner mask and dx for upstream gradient dy."""
    xt = to_torch(x, requires_grad=True)
    yt, indices = F.max_pool2d(xt, k, s, return_indices=True)
    torch_vjp(yt, dy)
    return yt, torch_mask(indices, x.shape), xt.grad


def run_maxpool2d(x: np.ndarray, k: int, s: int, rng: np.random.Generator):
    """Our y, mask and dx through the layer class, and the random dy used."""
    layer = MaxPool2d(k, s)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, layer.mask, layer.backward(dy), dy


def compare_with_torch(x: np.ndarray, k: int, s: int, rng: np.random.Generator) -> None:
    y, mask, dx, dy = run_maxpool2d(x, k, s, rng)
    yt, mask_t, dxt = torch_maxpool2d(x, k, s, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "mask", mask, mask_t, tol=EXACT)
    compare(LAYER, "dx", dx, dxt)


def windows(a: np.ndarray, k: int, s: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, Ho, Wo, k, k): every pooling window, floor mode."""
    return sliding_window_view(a, (k, k), axis=(2, 3))[:, :, ::s, ::s]


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), fill=st.sampled_from(FILLS), seed=seeds)
def test_maxpool2d_matches_torch(case, fill, dtype, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), dtype)
    compare_with_torch(x, case.k, case.s, rng)


@given(case=pool_cases(overlapping=True), fill=st.sampled_from(TIE_FILLS), seed=seeds)
def test_maxpool2d_overlapping_windows_with_ties_match_torch(case, fill, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), np.float64)
    compare_with_torch(x, case.k, case.s, rng)


@given(case=pool_cases(overlapping=False), fill=st.sampled_from(TIE_FILLS), seed=seeds)
def test_maxpool2d_non_overlapping_windows_have_exactly_one_winner_the_first_max(case, fill, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), np.float64)
    layer = MaxPool2d(case.k, case.s)
    y = layer.forward(x)
    mask_w = windows(layer.mask, case.k, case.s)  # (N, C, Ho, Wo, k, k)
    assert (mask_w.sum(axis=(-1, -2)) == 1).all(), "a window has no winner or several"
    assert layer.mask.sum() == y.size, "a position outside every window is marked"
    # Independently of torch: the winner is the first (row-major) position equal to y.
    flat_x = windows(x, case.k, case.s).reshape(*y.shape, -1)  # (N, C, Ho, Wo, k*k)
    first_max = (flat_x == y[..., None]).argmax(axis=-1)
    np.testing.assert_array_equal(mask_w.reshape(*y.shape, -1).argmax(axis=-1), first_max)


@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 3), (3, 2), (2, 1)])
def test_maxpool2d_ties_route_to_first_max(k, s):
    # A constant image: every window is a full tie, so every winner is the window's
    # top-left corner, and an `x == max` mask would mark (and pay) all k*k positions.
    rng = np.random.default_rng(5)
    x = np.full((2, 3, 7, 9), 0.25)
    y, mask, dx, dy = run_maxpool2d(x, k, s, rng)
    Ho, Wo = y.shape[2:]
    expected = np.zeros(x.shape, dtype=bool)
    expected[:, :, 0 : s * Ho : s, 0 : s * Wo : s] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(dx[expected].reshape(dy.shape), dy)
    assert not dx[~expected].any()
    compare_with_torch(x, k, s, rng)


def test_maxpool2d_overlapping_windows_accumulate_the_gradient():
    # One large value at (2, 2) wins all nine 3x3/stride-1 windows that cover it.
    rng = np.random.default_rng(6)
    x = -rng.random((1, 1, 6, 6))
    x[0, 0, 2, 2] = 10.0
    _, _, dx, dy = run_maxpool2d(x, 3, 1, rng)
    assert dx[0, 0, 2, 2] == pytest.approx(dy[0, 0, 0:3, 0:3].sum(), rel=1e-14)
    compare_with_torch(x, 3, 1, rng)


def test_maxpool2d_floor_mode_drops_the_remainder():
    # 5x7 with 2x2 windows: row 4 and column 6 are in no window, however large.
    rng = np.random.default_rng(7)
    x = rng.random((1, 2, 5, 7))
    x[:, :, 4, :] = x[:, :, :, 6] = 100.0
    y, mask, dx, _ = run_maxpool2d(x, 2, 2, rng)
    assert y.shape == (1, 2, 2, 3) and (y < 100).all()
    assert not mask[:, :, 4, :].any() and not mask[:, :, :, 6].any()
    assert not dx[:, :, 4, :].any() and not dx[:, :, :, 6].any()
    compare_with_torch(x, 2, 2, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    case=pool_cases(),
    fill=st.sampled_from(FILLS),
    nan_fraction=st.sampled_from([0.05, 0.3, 1.0]),
    seed=seeds,
)
def test_maxpool2d_nan_propagates_and_routes_gradient_like_torch(
    case, fill, nan_fraction, dtype, seed
):
    rng = np.random.default_rng(seed)
    shape = (case.N, case.C, case.H, case.W)
    x = filled(fill, rng, shape, dtype)
    x[rng.random(shape) < nan_fraction] = np.nan
    compare_with_torch(x, case.k, case.s, rng)


@given(
    case=pool_cases(),
    fill=st.sampled_from(FILLS),
    layout=st.sampled_from(LAYOUTS),
    dtype=dtypes,
    seed=seeds,
)
def test_maxpool2d_noncontiguous_input_gives_identical_results_and_stays_unwritten(
    case, fill, layout, dtype, seed
):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), dtype)
    xv = with_layout(x, layout, rng)
    before = xv.copy()
    expected = run_maxpool2d(x, case.k, case.s, np.random.default_rng(seed))
    got = run_maxpool2d(xv, case.k, case.s, np.random.default_rng(seed))
    for name, g, e in zip(("y", "mask", "dx"), got[:3], expected[:3], strict=True):
        assert np.array_equal(g, e), f"{LAYER} {name} differs for a {layout} input"
    assert np.array_equal(xv, before), f"{LAYER} wrote into its {layout} input"
    for out in got[:3]:
        assert not np.shares_memory(out, xv), f"{LAYER} output aliases its {layout} input"
        out[...] = 7  # a view that writes back would change the input now
    assert np.array_equal(xv, before), f"{LAYER} output writes back into its {layout} input"


@given(case=pool_cases(), seed=seeds)
def test_maxpool2d_gradient_matches_finite_differences(case, seed):
    # Distinct values far apart: no step of FD_EPS can change a window's winner.
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, (case.N, case.C, case.H, case.W))
    k, s = case.k, case.s
    _, _, dx, dy = run_maxpool2d(x, k, s, rng)
    check_vjp(lambda x_: maxpool2d_forward(x_, k, s)[0], x, dy, dx, layer=LAYER, quantity="dx")


def conv_relu_pool_on_mnist(x: np.ndarray, rng: np.random.Generator):
    """Conv2d(1, 8, 3) with bias +0.1 -> ReLU -> MaxPool2d(2), forward and backward.

    Returns (conv, pool input h, pool, random dy, dh = the pool's dx).
    """
    conv, relu, pool = Conv2d(1, 8, 3, rng=rng, dtype=x.dtype), ReLU(), MaxPool2d(2)
    conv.params["bias"][:] = 0.1  # blank background -> a plateau of relu(0.1) = 0.1
    h = relu.forward(conv.forward(x))
    y = pool.forward(h)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    dh = pool.backward(dy)
    conv.backward(relu.backward(dh), input_grad=False)
    return conv, h, pool, dy, dh


def tied_fraction(h: np.ndarray) -> float:
    """The fraction of 2x2 windows whose maximum occurs more than once."""
    w = windows(h, 2, 2).reshape(*h.shape[:2], h.shape[2] // 2, h.shape[3] // 2, 4)
    return float(((w == w.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).mean())


def test_conv_relu_maxpool_on_real_mnist_routes_tied_windows_like_torch(mnist):
    # float64, the whole chain in torch from the same images and weights.
    x = mnist[0][:64].astype(np.float64)
    conv, h, pool, dy, dh = conv_relu_pool_on_mnist(x, np.random.default_rng(0))
    assert tied_fraction(h) > 0.5, "the real-MNIST tie test has too few ties to mean much"
    xt = to_torch(x)
    wt, bt = (to_torch(conv.params[k], requires_grad=True) for k in ("weight", "bias"))
    ht = F.relu(F.conv2d(xt, wt, bt))
    ht.retain_grad()
    yt, indices = F.max_pool2d(ht, 2, return_indices=True)
    torch_vjp(yt, dy)
    compare(LAYER, "mask (MNIST)", pool.mask, torch_mask(indices, h.shape), tol=EXACT)
    compare(LAYER, "dx (MNIST)", dh, ht.grad)
    compare("Conv2d", "dweight (MNIST, through MaxPool2d)", conv.grads["weight"], wt.grad)
    compare("Conv2d", "dbias (MNIST, through MaxPool2d)", conv.grads["bias"], bt.grad)


def test_maxpool2d_on_real_mnist_float32_activations_routes_ties_like_torch(mnist):
    # float32: torch pools OUR activations. Its own float32 conv rounds differently
    # (by ~1e-7), which legitimately flips a few near-tied windows (4 of 86528 seen).
    x = mnist[0][:64]
    _, h, pool, dy, dh = conv_relu_pool_on_mnist(x, np.random.default_rng(0))
    assert h.dtype == np.float32 and tied_fraction(h) > 0.5
    _, mask_t, dht = torch_maxpool2d(h, 2, 2, dy)
    compare(LAYER, "mask (MNIST)", pool.mask, mask_t, tol=EXACT)
    compare(LAYER, "dx (MNIST)", dh, dht)
