"""MaxPool2d: torch's max_pool2d (values and gradients) in both dtype tiers, and ties
checked in two parts:

1. what holds under any tie rule: each window's input gradients sum to its upstream
   gradient, and the gradient is zero off the window's maxima;
2. torch's rule: the first maximum (row-major in the window) takes it all.

An implementation that duplicates or splits the gradient over tied maxima fails part 2
with a message naming its rule. Also: NaN, floor mode, overlapping windows, memory
layouts, finite differences, and pooling real MNIST activations.
"""

import contextlib

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import (
    DTYPES,
    LAYOUTS,
    TIE_FILLS,
    PoolCase,
    distinct_values,
    filled,
    pool_cases,
    seeds,
    with_layout,
)
from ..tolerances import CheckFailure, compare, expect, to_torch, torch_vjp

LAYER = "MaxPool2d"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
SEED_SHAPE = (4, 8, 26, 26)  # the seed's conv output, pooled 2x2


def torch_maxpool2d(x: np.ndarray, k: int, s: int, dy: np.ndarray):
    """torch's y and dx for upstream gradient dy."""
    xt = to_torch(x, requires_grad=True)
    yt = F.max_pool2d(xt, k, s)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_maxpool2d(impl, x: np.ndarray, k: int, s: int, rng: np.random.Generator):
    """The adapter's y and dx, and the random dy used."""
    layer = impl.maxpool2d(k, s, x.dtype)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, layer.backward_dx(dy), dy


def windows(a: np.ndarray, k: int, s: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, Ho, Wo, k*k): every pooling window, floor mode, row-major."""
    w = sliding_window_view(a, (k, k), axis=(2, 3))[:, :, ::s, ::s]  # (N, C, Ho, Wo, k, k)
    return w.reshape(*w.shape[:4], k * k)


def tie_rule(x, k: int, s: int, dy, dx) -> str | None:
    """What the implementation does with a tied window, in words, if it is not torch's.

    Looks at the first tied window (non-overlapping windows only) whose gradient
    differs from the first-maximum rule and names what it does instead.
    """
    if s < k:
        return None
    xw, dxw = windows(x, k, s), windows(dx, k, s)  # (N, C, Ho, Wo, k*k)
    y = xw.max(axis=-1, keepdims=True)
    ties = (xw == y).sum(axis=-1)  # (N, C, Ho, Wo)
    for idx in zip(*np.nonzero((ties > 1) & (dy != 0)), strict=True):
        maxima = np.flatnonzero(xw[idx] == y[idx])
        paid = np.flatnonzero(dxw[idx])
        n, g = len(maxima), dy[idx]
        if list(paid) == [maxima[0]]:
            continue  # torch's rule in this window
        where = f"window {tuple(int(i) for i in idx)} has {n} tied maxima"
        if len(paid) == n and set(paid) == set(maxima):
            if np.allclose(dxw[idx][maxima], g, rtol=1e-6, atol=0):
                return f"routes a tied window's gradient to all {n} tied maxima ({where})"
            if np.allclose(dxw[idx][maxima], g / n, rtol=1e-6, atol=0):
                return f"splits a tied window's gradient evenly among its {n} tied maxima ({where})"
        if list(paid) == [maxima[-1]]:
            return f"routes a tied window's gradient to the last of its {n} tied maxima ({where})"
        at = maxima.tolist()
        return f"routes a tied window's gradient to offsets {paid.tolist()} ({where} at {at})"
    return None


# What usually causes each tie rule, and the fix: said only for the rule observed.
TIE_ADVICE = {
    "routes a tied window's gradient to all": " An `x == max` mask does this; keep only "
    "the first winner per window (np.argmax over the window).",
    "splits a tied window's gradient evenly": " Dividing by the number of maxima does this; "
    "send all of it to the first winner (np.argmax over the window).",
    "routes a tied window's gradient to the last": " A `>=` scan does this; scan with `>`, "
    "or take np.argmax over the window.",
}


@contextlib.contextmanager
def tie_rule_named(x, k: int, s: int, dy, dx, then: str = "", advice: bool = False):
    """Re-raise a failed comparison of dx as the tie rule it shows, when it shows one;
    with `advice`, the usual cause and fix of that rule (none for an unknown one)."""
    try:
        yield
    except CheckFailure as err:
        rule = tie_rule(x, k, s, dy, dx)
        if rule is None:
            raise
        said = next((v for key, v in TIE_ADVICE.items() if rule.startswith(key)), "")
        raise CheckFailure(
            f"{LAYER} {rule}{then}; torch routes it to the first maximum (row-major) "
            f"only.{said if advice else ''} [{err}]"
        ) from None


def compare_with_torch(impl, x, k: int, s: int, rng, quantity: str = "dx") -> None:
    """y and dx against torch; a tie-rule mismatch is named, not shown as an array diff."""
    y, dx, dy = run_maxpool2d(impl, x, k, s, rng)
    yt, dxt = torch_maxpool2d(x, k, s, dy)
    compare(LAYER, "y", y, yt)
    with tie_rule_named(x, k, s, dy, dx, advice=True):
        compare(LAYER, quantity, dx, dxt)


@check("y, dx")
@DTYPE
def test_maxpool2d_matches_torch_on_the_seed_configuration(impl, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SEED_SHAPE).astype(dtype)  # random floats: no ties
    compare_with_torch(impl, x, 2, 2, rng)


@check("y, dx")
@DTYPE
@given(case=pool_cases(), seed=seeds)
def test_maxpool2d_matches_torch_without_ties(impl, case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = filled("normal", rng, (case.N, case.C, case.H, case.W), dtype)
    compare_with_torch(impl, x, case.k, case.s, rng)


@check("dx of tied windows (any tie rule)")
@DTYPE
@given(case=pool_cases(overlapping=False), fill=st.sampled_from(TIE_FILLS), seed=seeds)
def test_maxpool2d_tied_windows_pass_their_gradient_to_their_maxima_only(
    impl, case, fill, dtype, seed
):
    # Part 1: true under every tie rule (first, last, all, split): the window's input
    # gradients add up to its upstream gradient, and only its maxima receive any.
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), dtype)
    y, dx, dy = run_maxpool2d(impl, x, case.k, case.s, rng)
    k, s = case.k, case.s
    xw, dxw = windows(x, k, s), windows(dx, k, s)  # (N, C, Ho, Wo, k*k)
    off_max = xw != xw.max(axis=-1, keepdims=True)
    expect(
        not (dxw * off_max).any(),
        f"{LAYER} sends gradient to a position that is not its window's maximum",
    )
    with tie_rule_named(
        x, k, s, dy, dx, then=", so the window passes on more gradient than it received"
    ):
        compare(LAYER, "dx summed over each window", dxw.sum(axis=-1), dy, oracle="dy")
    covered = np.zeros(x.shape, dtype=bool)
    covered[:, :, : s * (y.shape[2] - 1) + k, : s * (y.shape[3] - 1) + k] = True
    expect(not dx[~covered].any(), f"{LAYER} sends gradient to a position outside every window")


@check("dx of tied windows (torch's rule)")
@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 3), (3, 2), (2, 1)])
def test_maxpool2d_ties_route_to_first_max(impl, k, s):
    # Part 2 on a constant image: every window is a full tie, so every winner is the
    # window's top-left corner, and an `x == max` mask would pay all k*k positions.
    rng = np.random.default_rng(5)
    x = np.full((2, 3, 7, 9), 0.25)
    compare_with_torch(impl, x, k, s, rng, quantity="dx of tied windows")


@check("dx of tied windows (torch's rule)")
@DTYPE
@given(case=pool_cases(), fill=st.sampled_from(TIE_FILLS), seed=seeds)
def test_maxpool2d_tied_windows_route_to_the_first_max_like_torch(impl, case, fill, dtype, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), dtype)
    compare_with_torch(impl, x, case.k, case.s, rng, quantity="dx of tied windows")


@check("dx of tied windows (torch's rule)")
@DTYPE
def test_maxpool2d_on_relu_plateaus_of_the_seed_shape_routes_like_torch(impl, dtype):
    # What Conv + ReLU makes of MNIST's blank background: a plateau of equal values.
    rng = np.random.default_rng(3)
    x = filled("relu_background", rng, SEED_SHAPE, dtype)
    compare_with_torch(impl, x, 2, 2, rng, quantity="dx of tied windows")


@check("dx (overlapping windows)")
def test_maxpool2d_overlapping_windows_accumulate_the_gradient(impl):
    # One large value at (2, 2) wins all nine 3x3/stride-1 windows that cover it.
    rng = np.random.default_rng(6)
    x = -rng.random((1, 1, 6, 6))
    x[0, 0, 2, 2] = 10.0
    compare_with_torch(impl, x, 3, 1, rng, quantity="dx (overlapping windows)")


@check("y, dx (floor mode)")
def test_maxpool2d_floor_mode_drops_the_remainder(impl):
    # 5x7 with 2x2 windows: row 4 and column 6 are in no window, however large.
    rng = np.random.default_rng(7)
    x = rng.random((1, 2, 5, 7))
    x[:, :, 4, :] = x[:, :, :, 6] = 100.0
    y, dx, _ = run_maxpool2d(impl, x, 2, 2, rng)
    expect(
        y.shape == (1, 2, 2, 3),
        f"{LAYER} y: shape {y.shape} for a 5x7 input, torch's floor mode gives (1, 2, 2, 3)",
    )
    expect((y < 100).all(), f"{LAYER} pooled the leftover row or column (ceil mode?)")
    compare_with_torch(impl, x, 2, 2, rng, quantity="dx (floor mode)")


@st.composite
def nan_cases(draw):
    """Square inputs, non-overlapping windows, distinct values, NaN at random: a NaN
    check that fails only for what the pool does with NaN, not for a pool that assumes
    square inputs, overwrites overlapping windows' gradients or breaks ties its own way
    (the checks named for those find them)."""
    k = draw(st.integers(2, 3))
    size = draw(st.integers(k, 9))
    return PoolCase(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=size, W=size, k=k, s=k)


def nan_input(case: PoolCase, nan_fraction: float, dtype, seed: int):
    rng = np.random.default_rng(seed)
    shape = (case.N, case.C, case.H, case.W)
    x = distinct_values(rng, shape).astype(dtype)
    x[rng.random(shape) < nan_fraction] = np.nan
    return x, rng


@check("y at NaN")
@DTYPE
@given(case=nan_cases(), nan_fraction=st.sampled_from([0.05, 0.3, 1.0]), seed=seeds)
def test_maxpool2d_propagates_nan_like_torch(impl, case, nan_fraction, dtype, seed):
    # torch: a window holding NaN pools to NaN (np.nanmax, or a `v > best` scan, skip it).
    x, rng = nan_input(case, nan_fraction, dtype, seed)
    y, _, dy = run_maxpool2d(impl, x, case.k, case.s, rng)
    compare(LAYER, "y (an input with NaN)", y, torch_maxpool2d(x, case.k, case.s, dy)[0])


@check("dx at NaN")
@DTYPE
@given(case=nan_cases(), nan_fraction=st.sampled_from([0.05, 0.3, 1.0]), seed=seeds)
def test_maxpool2d_routes_the_gradient_at_nan_like_torch(impl, case, nan_fraction, dtype, seed):
    # torch: a window's gradient goes to its NaN, the last one when it holds several
    # (np.argmax picks the first).
    x, rng = nan_input(case, nan_fraction, dtype, seed)
    _, dx, dy = run_maxpool2d(impl, x, case.k, case.s, rng)
    compare(LAYER, "dx (an input with NaN)", dx, torch_maxpool2d(x, case.k, case.s, dy)[1])


@check("y, dx (other memory layouts)")
@DTYPE
@given(case=pool_cases(), layout=st.sampled_from(LAYOUTS), seed=seeds)
def test_maxpool2d_noncontiguous_input_matches_torch_and_stays_unwritten(
    impl, case, layout, dtype, seed
):
    rng = np.random.default_rng(seed)
    x = filled("normal", rng, (case.N, case.C, case.H, case.W), dtype)
    xv = with_layout(x, layout, rng)
    y, dx, dy = run_maxpool2d(impl, xv, case.k, case.s, rng)
    yt, dxt = torch_maxpool2d(x, case.k, case.s, dy)
    compare(LAYER, "y", y, yt)
    compare(LAYER, "dx", dx, dxt)
    for out in (y, dx):
        out[...] = 7  # an output that is a view of the input would write back now
    expect(np.array_equal(xv, x), f"{LAYER} output writes into its {layout} input")


@check("dx (finite differences)")
@given(case=pool_cases(), seed=seeds)
def test_maxpool2d_gradient_matches_finite_differences(impl, case, seed):
    # Distinct values far apart: no step of FD_EPS can change a window's winner.
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, (case.N, case.C, case.H, case.W))
    k, s = case.k, case.s
    _, dx, dy = run_maxpool2d(impl, x, k, s, rng)

    def f(x_):
        return impl.maxpool2d(k, s, x_.dtype).forward(x_)

    check_vjp(f, x, dy, dx, layer=LAYER, quantity="dx")


@check("dx of tied windows on real MNIST (torch's rule)")
@DTYPE
def test_maxpool2d_routes_real_mnist_plateaus_like_torch(impl, mnist, dtype):
    # torch's Conv2d(1, 8, 3) with bias +0.1, then ReLU, on 64 real images: the blank
    # background becomes a plateau of relu(0.1) = 0.1, and most 2x2 windows tie.
    x = mnist[0][:64].astype(dtype)
    rng = np.random.default_rng(0)
    w = rng.uniform(-1 / 3, 1 / 3, (8, 1, 3, 3)).astype(dtype)
    b = np.full(8, 0.1, dtype=dtype)
    h = F.relu(F.conv2d(to_torch(x), to_torch(w), to_torch(b))).numpy()  # (64, 8, 26, 26)
    hw = windows(h, 2, 2)
    tied = float(((hw == hw.max(axis=-1, keepdims=True)).sum(axis=-1) > 1).mean())
    assert tied > 0.5, f"only {tied:.0%} of the windows tie: the check would mean little"
    compare_with_torch(impl, h, 2, 2, rng, quantity="dx of tied windows (MNIST)")
