"""Dropout: torch's nn.Dropout, p the probability of DROPPING, inverted scaling.

Dropout is random, and the suite never asks for the implementation's random numbers. It
reads the mask from the output instead: the inputs are drawn away from zero, so an
output zero marks a dropped element and anything else a kept one. Then:
- the kept values are x / (1 - p), torch's arithmetic with that mask, to rounding;
- backward multiplies dy by the same mask and scale;
- the share dropped lies within a binomial bound around p (see SHARE_N);
- eval mode is the identity, forward and backward, and train() turns dropping back on;
- p = 0 is the identity in training mode too.
A failure names what the numbers show: p read as the keep probability, scaling at test
time instead of train time, a fresh mask drawn in backward.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ..conventions.variants import away_from_zero, hoeffding_margin
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import CheckFailure, compare, expect, to_torch

LAYER = "Dropout"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
shapes = st.lists(st.integers(1, 12), min_size=2, max_size=4).map(tuple)
ps = st.sampled_from([0.1, 0.25, 0.5, 0.8])
# The dropped share of SHARE_N elements: each is dropped independently with probability
# p, so by Hoeffding's inequality P(|share - p| >= t) <= 2 exp(-2 n t^2) for any p.
# With n = 2**17 and t = sqrt(ln(2e6) / (2n)) = 0.00744 that is 1e-6: a correct layer
# fails this check less than once in 10^6 runs (per p and dtype), and a layer that reads
# p = 0.2 as the keep probability (a share of 0.8) fails it always.
SHARE_N = 2**17
SHARE_MARGIN = hoeffding_margin(SHARE_N, 1e-6)


def torch_kept(x: np.ndarray, kept: np.ndarray, p: float) -> torch.Tensor:
    """torch's dropout arithmetic with a given mask: x * mask * (1 / (1 - p))."""
    return to_torch(x).mul(to_torch(kept.astype(x.dtype))).mul_(1.0 / (1.0 - p))


def scale_said(ratio: np.ndarray, p: float, what: str = "y", of: str = "x") -> str:
    """What a common ratio of kept elements, what / of, means, in words."""
    r = float(np.median(ratio))
    if not np.allclose(ratio, r, rtol=1e-4):
        return f"{what} at the kept elements is not {of} times one common factor"
    if np.isclose(r, 1.0, rtol=1e-5):
        return (
            f"{what} at the kept elements is {of} itself, unscaled: scaling at test time (the "
            "original dropout) instead of by 1/(1 - p) at train time, torch's inverted dropout"
        )
    if np.isclose(r, 1 / p, rtol=1e-5):
        keep = "p read as the keep probability"
        return f"{what} at the kept elements is {of} / p = {r:.6g} {of}: {keep}"
    return f"{what} at the kept elements is {r:.6g} {of}"


def run_dropout(impl, x: np.ndarray, p: float, rng) -> tuple:
    """The adapter's y and dx in training mode, its mask read from y, and the dy used."""
    layer = impl.dropout(p, x.dtype)
    y = layer.forward(x)
    dy = away_from_zero(rng, x.shape, x.dtype)
    return y, layer.backward_dx(dy), y != 0, dy


@check("y (kept values scaled by 1/(1 - p))")
@DTYPE
@given(shape=shapes, p=ps, seed=seeds)
def test_dropout_scales_the_kept_values_by_one_over_one_minus_p(impl, shape, p, dtype, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape, dtype)
    y = impl.dropout(p, dtype).forward(x)
    kept = y != 0
    try:
        compare(LAYER, "y", y, torch_kept(x, kept, p))
    except CheckFailure as err:
        ratio = y.astype(np.float64)[kept] / x.astype(np.float64)[kept]
        raise CheckFailure(f"{LAYER} with p = {p}: {scale_said(ratio, p)}. [{err}]") from None


@check("dx (the forward's mask and scale)")
@DTYPE
@given(shape=shapes, p=ps, seed=seeds)
def test_dropout_backward_uses_the_forward_mask_and_scale(impl, shape, p, dtype, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng, shape, dtype)
    _, dx, kept, dy = run_dropout(impl, x, p, rng)
    passed = dx != 0
    moved = int((passed & ~kept).sum()), int((~passed & kept).sum())
    expect(
        moved == (0, 0),
        f"{LAYER} with p = {p}: dx is nonzero at {moved[0]} elements the forward dropped and "
        f"zero at {moved[1]} it kept (of {x.size}): backward uses another mask than the "
        "forward's (a fresh mask drawn in backward?); torch multiplies dy by the forward's "
        "mask, scaled by 1/(1 - p)",
    )
    try:
        compare(LAYER, "dx", dx, torch_kept(dy, kept, p))
    except CheckFailure as err:
        ratio = dx.astype(np.float64)[kept] / dy.astype(np.float64)[kept]
        raise CheckFailure(
            f"{LAYER} with p = {p}: {scale_said(ratio, p, 'dx', 'dy')}. [{err}]"
        ) from None


@check("share of elements dropped")
@DTYPE
@pytest.mark.parametrize("p", [0.2, 0.7])
def test_dropout_drops_a_share_p_of_the_elements(impl, p, dtype):
    x = away_from_zero(np.random.default_rng(9), (SHARE_N // 512, 512), dtype)
    y = impl.dropout(p, dtype).forward(x)
    share = float(np.mean(y == 0))
    keep = " (p read as the keep probability?)" if abs(share - (1 - p)) < SHARE_MARGIN else ""
    expect(
        abs(share - p) < SHARE_MARGIN,
        f"{LAYER} with p = {p} dropped {share:.2%} of {SHARE_N} elements{keep}; torch drops "
        f"each with probability p, and a correct layer's share lies in {p} +- "
        f"{SHARE_MARGIN:.4f} in all but one run in 10^6 (Hoeffding's bound)",
    )


@check("y, dx in eval mode (the identity)")
@DTYPE
def test_dropout_is_the_identity_in_eval_mode(impl, dtype):
    rng = np.random.default_rng(10)
    x, dy = away_from_zero(rng, (8, 64), dtype), away_from_zero(rng, (8, 64), dtype)
    layer = impl.dropout(0.3, dtype)
    layer.eval()
    y = layer.forward(x)
    yt = F.dropout(to_torch(x), 0.3, training=False)
    try:
        compare(LAYER, "y in eval mode", y, yt)
    except CheckFailure as err:
        r = float(np.median(y.astype(np.float64) / x))
        scaled = np.isclose(r, 0.7, rtol=1e-5)
        said = (
            "scales by 1 - p = 0.7: dropout scaled at test time" if scaled else f"gives {r:.6g} x"
        )
        raise CheckFailure(
            f"{LAYER} in eval mode (p = 0.3) {said}; torch's eval mode is the identity, as "
            f"its inverted dropout scales the kept values by 1/(1 - p) at train time. [{err}]"
        ) from None
    compare(LAYER, "dx in eval mode", layer.backward_dx(dy), dy)


@check("y, dx at p = 0 (the identity)")
@DTYPE
def test_dropout_with_p_zero_is_the_identity(impl, dtype):
    rng = np.random.default_rng(11)
    x, dy = away_from_zero(rng, (8, 64), dtype), away_from_zero(rng, (8, 64), dtype)
    layer = impl.dropout(0.0, dtype)
    y = layer.forward(x)
    dropped = int((y == 0).sum())
    expect(
        not dropped and not np.isnan(y).any(),
        f"{LAYER} with p = 0 dropped {dropped} of {x.size} elements (NaN at "
        f"{int(np.isnan(y).sum())}); p is the probability of dropping, so p = 0 keeps "
        "everything (a keep-probability reading drops everything, or divides by p = 0)",
    )
    compare(LAYER, "y at p = 0", y, F.dropout(to_torch(x), 0.0, training=True))
    compare(LAYER, "dx at p = 0", layer.backward_dx(dy), dy)


@check("train() after eval()")
def test_dropout_train_after_eval_drops_again(impl):
    x = away_from_zero(np.random.default_rng(12), (64, 64), np.float64)
    layer = impl.dropout(0.5, np.float64)
    layer.eval()
    layer.forward(x)
    layer.train()
    share = float(np.mean(layer.forward(x) == 0))
    margin = hoeffding_margin(x.size, 1e-6)
    expect(
        abs(share - 0.5) < margin,
        f"{LAYER} with p = 0.5, after eval() then train(), dropped {share:.2%} of {x.size} "
        f"elements; training mode drops each with probability p ({0.5} +- {margin:.3f})",
    )
