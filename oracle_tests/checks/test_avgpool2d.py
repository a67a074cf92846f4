"""AvgPool2d: torch's avg_pool2d (padding 0, floor mode) in both dtype tiers, and the
three places where from-scratch average pooling goes wrong, each in its own check:

- backward must share a window's gradient among its k*k inputs, 1/k^2 each;
- where windows overlap (stride < kernel), an input adds up the shares of every window
  that covers it (an assignment keeps only the last window's);
- the output size is floor((H - k) / s) + 1, which `H // s` gets right only for s = k.

Also stride > kernel (inputs in no window get no gradient) and finite differences.
"""

import ast
import re

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import given, settings

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, filled, pool_cases, seeds
from ..tolerances import CheckFailure, compare, expect, to_torch, torch_vjp

LAYER = "AvgPool2d"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
SEED_SHAPE = (4, 8, 26, 26)  # the seed's conv output, pooled 2x2


def torch_avgpool2d(x: np.ndarray, k: int, s: int, dy: np.ndarray):
    """torch's y and dx for upstream gradient dy."""
    xt = to_torch(x, requires_grad=True)
    yt = F.avg_pool2d(xt, k, s)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_avgpool2d(impl, x: np.ndarray, k: int, s: int, rng: np.random.Generator):
    """The adapter's y and dx, and the random dy used."""
    layer = impl.avgpool2d(k, s, x.dtype)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    return y, layer.backward_dx(dy), dy


def coverage(shape: tuple, k: int, s: int) -> np.ndarray:
    """How many windows cover each input position: (H, W) integers."""
    H, W = shape[2:]
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    count = np.zeros((H, W), dtype=int)
    for i in range(Ho):
        for j in range(Wo):
            count[i * s : i * s + k, j * s : j * s + k] += 1
    return count


def what_dx_does(dx: np.ndarray, dxt: np.ndarray, k: int, s: int) -> str | None:
    """The known mistake that dx shows, in words, or None."""
    ratio = np.divide(dx, dxt, out=np.full(dx.shape, np.nan), where=np.abs(dxt) > 1e-6)
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size and np.allclose(ratio, k * k, rtol=1e-4):
        return (
            f"dx is k*k = {k * k} times torch's: each input of a window gets the window's "
            f"whole upstream gradient, where torch gives it 1/k^2 = 1/{k * k} (the "
            "derivative of a mean of k*k values); divide dy by k*k in backward"
        )
    shared = np.broadcast_to(coverage(dx.shape, k, s) > 1, dx.shape)
    off = ~np.isclose(dx, dxt, rtol=1e-4, atol=1e-6)
    if s < k and off.any() and not (off & ~shared).any():
        return (
            "dx differs only at inputs that overlapping windows share, where it holds less "
            "than torch's: overlapping windows overwrite the gradient (dx[window] = ...) "
            "instead of adding their shares (dx[window] += ...)"
        )
    return None


def compare_with_torch(impl, x: np.ndarray, k: int, s: int, rng, where: str = "") -> None:
    """y and dx against torch; a known backward mistake is named, not shown as a diff."""
    y, dx, dy = run_avgpool2d(impl, x, k, s, rng)
    yt, dxt = torch_avgpool2d(x, k, s, dy)
    compare(LAYER, f"y{where}", y, yt)
    try:
        compare(LAYER, f"dx{where}", dx, dxt)
    except CheckFailure as err:
        said = what_dx_does(dx.astype(np.float64), dxt.numpy().astype(np.float64), k, s)
        if said is None:
            raise
        raise CheckFailure(f"{LAYER} {said} ({k}x{k} windows, stride {s}). [{err}]") from None


@check("y, dx")
@DTYPE
def test_avgpool2d_matches_torch_on_the_seed_configuration(impl, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SEED_SHAPE).astype(dtype)
    compare_with_torch(impl, x, 2, 2, rng)


@check("y, dx")
@DTYPE
@given(case=pool_cases(), seed=seeds)
def test_avgpool2d_matches_torch_for_any_window_and_stride(impl, case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = filled("normal", rng, (case.N, case.C, case.H, case.W), dtype)
    compare_with_torch(impl, x, case.k, case.s, rng)


@check("dx (overlapping windows)")
@DTYPE
@pytest.mark.parametrize(("k", "s"), [(3, 1), (3, 2), (4, 3)])
def test_avgpool2d_overlapping_windows_add_up_their_shares(impl, k, s, dtype):
    # With stride < kernel, an input inside several windows gets 1/k^2 of each one's dy.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 9, 10)).astype(dtype)
    compare_with_torch(impl, x, k, s, rng, where=" (overlapping windows)")


@check("y, dx (stride > kernel)")
@DTYPE
def test_avgpool2d_stride_larger_than_the_kernel_skips_inputs(impl, dtype):
    # 2x2 windows every 3 pixels: rows and columns 2, 5, 8 are in no window.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 8, 11)).astype(dtype)
    y, dx, _ = run_avgpool2d(impl, x, 2, 3, rng)
    skipped = coverage(x.shape, 2, 3) == 0
    expect(
        not dx[:, :, skipped].any(),
        f"{LAYER} with 2x2 windows at stride 3 sends gradient to inputs that no window "
        "covers (rows and columns 2, 5, 8); torch gives them 0",
    )
    compare_with_torch(impl, x, 2, 3, rng, where=" (stride > kernel)")


@check("y shape (stride < kernel)")
@pytest.mark.parametrize(("H", "W", "k", "s"), [(6, 7, 3, 1), (9, 10, 4, 2), (8, 8, 3, 2)])
def test_avgpool2d_output_size_for_a_stride_smaller_than_the_kernel(impl, H, W, k, s):
    x = np.random.default_rng(8).standard_normal((1, 2, H, W))
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    layer = impl.avgpool2d(k, s, x.dtype)
    try:
        layer.forward(x)
    except CheckFailure as err:
        got = re.search(r"returned shape (\([^)]*\))", str(err))
        if got is None:
            raise
        shape = ast.literal_eval(got[1])
        guesses = {"H // s": (H // s, W // s), "H // k": (H // k, W // k)}
        said = [f" (as {name} gives)" for name, hw in guesses.items() if shape[2:] == hw]
        raise CheckFailure(
            f"{LAYER} output for a {H}x{W} input, {k}x{k} windows, stride {s}: shape "
            f"{shape}{said[0] if said else ''}; torch's is floor((H - k) / s) + 1 per "
            f"axis: (1, 2, {Ho}, {Wo})"
        ) from None


@check("dx (finite differences)")
@given(case=pool_cases(), seed=seeds)
@settings(max_examples=15)  # up to 2 * 256 forwards per example
def test_avgpool2d_gradient_matches_finite_differences(impl, case, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.N, case.C, case.H, case.W))
    k, s = case.k, case.s
    _, dx, dy = run_avgpool2d(impl, x, k, s, rng)

    def f(x_):
        return impl.avgpool2d(k, s, x_.dtype).forward(x_)

    check_vjp(f, x, dy, dx, layer=LAYER, quantity="dx")
