"""Every tolerance of the suite, each with its reason, and the one comparison that uses them.

`compare()` checks shape, then dtype, then values, records the errors for the report,
and fails with a message written for a stranger: the layer, the quantity, how many
elements differ, and ours against torch at the worst one.
"""

import numpy as np
import torch

from . import report
from .contract import CheckFailure

# --- Tolerances -------------------------------------------------------------------
# Closeness means |ours - torch| <= atol + rtol * |torch|, elementwise, as in
# torch.testing.assert_close.
TOLERANCES = {
    # float64 against torch float64. Both sides do the same arithmetic in a possibly
    # different summation order, which costs a few ulps (1e-16 relative) per
    # operation; 1e-10 leaves room for sums over thousands of terms and nothing more.
    # atol covers entries that cancel to ~0 (a bias gradient that sums +-terms).
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    # float32 against torch float32: torch.testing.assert_close's own defaults.
    np.dtype(np.float32): {"rtol": 1.3e-6, "atol": 1e-5},
}
# Finite differences, float64, central, step FD_EPS. Truncation error is O(eps^2)
# ~ 1e-12 and rounding error ~ 1e-16 / eps ~ 1e-10 relative to the function value,
# so 1e-6 relative (gradcheck allows 1e-3) is tight yet safe. FD_ATOL absorbs the
# rounding error where the gradient itself is ~0.
FD_EPS = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-7
# Inputs are kept this far from kinks (ReLU at 0, pooling ties) so that a step of
# FD_EPS never crosses one: 1000 steps of margin.
KINK_MARGIN = 1e-3
EXACT = {"rtol": 0.0, "atol": 0.0}
# The diagnosis (diagnosis.py) asks whether two implementations agree on one call: the
# adapter and the reference replayed on the same inputs, with or without a known bug
# planted. |a - b| <= rtol |b| + scale max|b| + atol, elementwise. The scale term is
# there because two correct float32 codes summing a reduction in different orders
# differ by ~u S (see float32_sum_tol below), S the sum of the terms' magnitudes, which
# can be large against a small element of the result; 1e-5 of the output's largest
# element covers S up to ~100x it. The known bugs move outputs by far more: a factor of
# N, a permuted kernel, a gradient sent to the wrong element. float64 keeps rounding
# room only (~1e-13 here), and stays ~1e4 below float32's precision, so "computes in
# float32" is told apart from correct.
MATCH = {
    np.dtype(np.float64): {"rtol": 1e-9, "scale": 1e-11, "atol": 1e-300},
    np.dtype(np.float32): {"rtol": 1e-4, "scale": 1e-5, "atol": 1e-30},
}  # for results that are right or wrong, bit for bit

# float32 weight and bias gradients of Conv2d and Linear sum over the whole batch (and
# image): up to thousands of products. Two summation orders of n terms differ by up to
# ~u * S (u = 2**-24, S = the sum of the terms' absolute values), which exceeds
# assert_close's atol of 1e-5 once S reaches a few hundred, and does for torch itself:
# against a float64 truth, torch float32's conv dweight was off by 4.8e-5 where the
# reference's was off by 1.3e-5. Over 3000 random conv cases |ours - torch| / (u * max S)
# peaked at 3.3, so these quantities get atol = 8 u max(S): the defaults' rtol, and an
# atol that grows with the reduction only. Every other float32 quantity keeps the defaults.
U32 = 2.0**-24


def float32_sum_tol(abs_sum: float) -> dict:
    """assert_close's float32 tolerance, atol raised to 8 u S for a sum with |terms| S."""
    default = TOLERANCES[np.dtype(np.float32)]
    return {"rtol": default["rtol"], "atol": max(default["atol"], 8 * U32 * abs_sum)}


def compare(layer: str, quantity: str, ours, theirs, *, oracle: str = "torch", tol=None):
    """Assert ours ~= theirs (shape, then dtype, then values) and record the errors.

    `theirs` may be a torch tensor or an array. The tolerance is TOLERANCES[dtype]
    unless `tol` (a dict with rtol and atol) is given.
    """
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach().cpu().numpy()
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    where = f"{layer} {quantity}"
    if ours.shape != theirs.shape:
        raise CheckFailure(f"{where}: shape {ours.shape}, {oracle} gives {theirs.shape}")
    if ours.dtype != theirs.dtype:
        raise CheckFailure(
            f"{where}: dtype {ours.dtype}, {oracle} gives {theirs.dtype} "
            "(compute in the dtype of the inputs)"
        )
    tol = TOLERANCES[ours.dtype] if tol is None else tol
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    if oracle == FINITE_DIFFERENCES and not np.isfinite(t).all():
        # Finite differences of a finite function on finite inputs are finite: a NaN or
        # inf here comes from the forward under test, and proves nothing about the gradient.
        i = _index(np.argwhere(~np.isfinite(t))[0])
        raise CheckFailure(
            f"{where} ({ours.dtype}): the finite differences are {num(t[i])} at index {i}: "
            "the forward returns NaN or inf on finite inputs, so its gradient cannot be checked"
        )
    nan_ok = np.isnan(o) == np.isnan(t)
    if not nan_ok.all():
        i = _index(np.argwhere(~nan_ok)[0])
        raise CheckFailure(
            f"{where} ({ours.dtype}): NaN where {oracle} has none, or the reverse, at "
            f"{(~nan_ok).sum()} of {o.size} elements; first at index {i}: "
            f"ours = {num(o[i])}, {oracle} = {num(t[i])}"
        )
    inf_ok = (np.isinf(o) == np.isinf(t)) & ~(np.isinf(t) & (o != t))
    if not inf_ok.all():
        i = _index(np.argwhere(~inf_ok)[0])
        raise CheckFailure(
            f"{where} ({ours.dtype}): inf where {oracle} is finite, or the reverse, at "
            f"{(~inf_ok).sum()} of {o.size} elements; first at index {i}: "
            f"ours = {num(o[i])}, {oracle} = {num(t[i])}"
        )
    both = np.isfinite(o) & np.isfinite(t)
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: not compared
        err = np.where(both, np.abs(o - t), 0.0)
    bound = tol["atol"] + tol["rtol"] * np.abs(np.where(both, t, 0.0))
    # Relative error only where |theirs| exceeds atol: next to 0 (a finite difference
    # that is exactly 0, say) it would divide by ~0 and mean nothing; atol judges those.
    sized = both & (np.abs(t) > tol["atol"])
    rel = np.where(sized, err / np.where(sized, np.abs(t), 1.0), 0.0)
    report.record_comparison(layer, quantity, str(ours.dtype), oracle, err, rel, bound, tol)
    bad = err > bound
    if bad.any():
        i = _index(np.unravel_index(np.argmax(np.where(bad, err, -1.0)), err.shape))
        raise CheckFailure(
            f"{where} ({ours.dtype}) differs from {oracle} at {bad.sum()} of {bad.size} "
            f"elements; worst at index {i}: ours = {num(o[i])}, {oracle} = {num(t[i])} "
            f"(abs err {err[i]:.3g}, rtol {tol['rtol']:g}, atol {tol['atol']:g})"
        )


FINITE_DIFFERENCES = "finite differences"


def num(x) -> str:
    """A number for a message: plain, never np.float64(...)."""
    return f"{float(x):.10g}"


def _index(i) -> tuple:
    return tuple(int(j) for j in i)


def expect(condition, message: str) -> None:
    """Fail the check with `message` unless `condition` holds (a plain assert, readable)."""
    if not condition:
        raise CheckFailure(message)


def tolerance_table() -> dict:
    """The default tolerances, for the report."""
    table = {str(k): v for k, v in TOLERANCES.items()}
    table["finite differences (float64)"] = {"rtol": FD_RTOL, "atol": FD_ATOL, "eps": FD_EPS}
    return table


# --- Torch helpers ------------------------------------------------------------------
def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A torch copy of `a` with the same dtype (so float64 stays float64)."""
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def torch_vjp(y: torch.Tensor, dy: np.ndarray) -> None:
    """Backpropagate a random upstream gradient: (y * dy).sum().backward().

    A random dy, never ones: sum() hides kernel flips and makes softmax checks empty.
    """
    (y * to_torch(dy)).sum().backward()
