"""Probes for the seed's layers: kernel orientation, tie rule, ReLU'(0), NaN propagation.

Each builds the smallest input that decides its point and nothing else: square shapes,
stride 1, no padding, values far apart, so a piece that is wrong elsewhere (a broken
dx, a crash at stride 2, a square-only loop) is still judged on this point alone.
"""

import numpy as np
import pytest

from ..contract import CheckFailure
from . import convention, differs, not_observed, probe_dtype, torchs


def _first_line(err: BaseException) -> str:
    return str(getattr(err, "msg", None) or err).partition("\n")[0].removeprefix("not provided: ")


# --- Kernel orientation ---------------------------------------------------------------


def _correlate(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cross-correlation, stride 1, no padding: (N, C, H, W), (O, C, k, k) -> (N, O, Ho, Wo)."""
    k = w.shape[-1]
    Ho, Wo = x.shape[2] - k + 1, x.shape[3] - k + 1
    y = np.zeros((x.shape[0], w.shape[0], Ho, Wo))
    for a in range(k):
        for b in range(k):
            patch = x[:, :, a : a + Ho, b : b + Wo]  # (N, C, Ho, Wo)
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, a, b])
    return y


def _orientations(w: np.ndarray) -> dict[str, np.ndarray]:
    """The kernels that known variants effectively apply, as torch-layout weights."""
    O, C, k, _ = w.shape
    return {
        "true convolution (the kernel flipped in both axes)": w[:, :, ::-1, ::-1],
        "the kernel transposed (read as (kW, kH))": w.transpose(0, 1, 3, 2),
        "the kernel flipped vertically only": w[:, :, ::-1, :],
        "the kernel flipped horizontally only": w[:, :, :, ::-1],
        "weights read as (C_in, C_out, kH, kW)": w.reshape(C, O, k, k).transpose(1, 0, 2, 3),
        "weights read channels-last, (C_out, kH, kW, C_in)": w.reshape(O, k, k, C).transpose(
            0, 3, 1, 2
        ),
    }


def _conv_forward(impl, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The adapter's conv forward without a bias, or with a zero one where it needs one."""
    try:
        return impl.conv2d(w, None, 1, 0).forward(x.copy())
    except (CheckFailure, pytest.skip.Exception):
        return impl.conv2d(w, np.zeros(len(w), dtype=w.dtype), 1, 0).forward(x.copy())


def _orientation(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> str | None:
    """ "torch" if y is the cross-correlation of x with w, else the known variant it is."""
    x64, w64, y64 = (a.astype(np.float64) for a in (x, w, y))
    for name, kernel in {"torch": w64, **_orientations(w64)}.items():
        want = _correlate(x64, np.ascontiguousarray(kernel))
        if np.allclose(y64, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()):
            return name
    return None


@convention(
    "kernel orientation",
    torch="cross-correlation with weights (C_out, C_in, kH, kW)",
    probe="the forward of a random non-symmetric 3x3 kernel on one 5x5 image (1 -> 1 "
    "channel), then of 2 -> 3 channels on two 6x6 images; stride 1, no padding, no bias",
)
def kernel_orientation(impl):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(11)
    # One channel first: the orientation alone, for code that handles one channel only.
    x, w = rng.standard_normal((1, 1, 5, 5)).astype(dtype), rng.standard_normal((1, 1, 3, 3))
    w = w.astype(dtype)
    seen = _orientation(_conv_forward(impl, x, w), x, w)
    if seen is None:
        return differs("neither cross-correlation nor a known flip or transpose of the kernel")
    if seen != "torch":
        return differs(seen)
    # Then the channels: the weight layout.
    x, w = rng.standard_normal((2, 2, 6, 6)).astype(dtype), rng.standard_normal((3, 2, 3, 3))
    w = w.astype(dtype)
    try:
        seen = _orientation(_conv_forward(impl, x, w), x, w)
    except (CheckFailure, pytest.skip.Exception) as err:
        return torchs(f"cross-correlation (with 2 -> 3 channels not observed: {_first_line(err)})")
    if seen == "torch":
        return torchs("cross-correlation, weights (C_out, C_in, kH, kW)")
    if seen is not None:
        return differs(seen)
    return torchs(
        "cross-correlation on one channel; with 2 -> 3 channels the result is no known "
        "weight layout (the conv checks show where it differs)"
    )


# --- Tie rule -----------------------------------------------------------------------------
# One 4x4 channel, four 2x2 windows: two tied maxima, a full 4-way tie, three tied maxima,
# and no tie (the control: every rule agrees there).
TIED = np.array(
    [
        [1.0, 5.0, 3.0, 3.0],
        [5.0, 2.0, 3.0, 3.0],
        [7.0, 0.0, 1.0, 2.0],
        [7.0, 7.0, 3.0, 4.0],
    ]
)


def _rule(x: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> str | None:
    """What a 2x2/stride-2 pool did with its tied windows, or None for torch's rule."""
    seen: dict[str, list[int]] = {}  # what it did -> the tie sizes it did it on
    for i in range(2):
        for j in range(2):
            xw = x[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel()
            gw = dx[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].ravel()
            maxima = np.flatnonzero(xw == xw.max())
            if len(maxima) == 1:
                continue
            at, g = np.isin(np.arange(4), maxima), dy[i, j]
            rules = {
                "torch": np.where(np.arange(4) == maxima[0], g, 0),
                "the last tied maximum": np.where(np.arange(4) == maxima[-1], g, 0),
                "every tied maximum, each the full gradient (an `x == max` mask)": np.where(
                    at, g, 0
                ),
                "the tied maxima, split evenly": np.where(at, g / len(maxima), 0),
            }
            said = next(
                (k for k, want in rules.items() if np.allclose(gw, want, rtol=1e-5, atol=0)),
                f"offsets {np.flatnonzero(gw).tolist()} of the maxima at {maxima.tolist()}",
            )
            seen.setdefault(said, []).append(len(maxima))
    seen.pop("torch", None)
    if not seen:
        return None
    return "; ".join(f"{k} (windows with {_sizes(n)} tied maxima)" for k, n in seen.items())


def _sizes(ns: list[int]) -> str:
    ns = [str(n) for n in sorted(ns)]
    return ns[0] if len(ns) == 1 else ", ".join(ns[:-1]) + " and " + ns[-1]


@convention(
    "tie rule",
    torch="the first maximum of a window (row-major) takes the gradient",
    probe="a 2x2/stride-2 pool of a 4x4 input whose windows hold 2, 4, 3 and 1 maxima, "
    "exactly tied, with a random upstream gradient",
)
def tie_rule(impl):
    dtype = probe_dtype(impl)
    x = TIED.astype(dtype)[None, None]  # (1, 1, 4, 4)
    dy = np.array([[1.25, -2.5], [3.75, 0.5]], dtype=dtype)[None, None]  # (1, 1, 2, 2)
    layer = impl.maxpool2d(2, 2, dtype)
    y = layer.forward(x.copy())
    if not np.array_equal(y.astype(np.float64)[0, 0], [[5.0, 3.0], [7.0, 4.0]]):
        return not_observed(f"the pooled values are {y[0, 0].tolist()}, not the window maxima")
    dx = layer.backward_dx(dy.copy()).astype(np.float64)
    rule = _rule(TIED, dx[0, 0], dy[0, 0].astype(np.float64))
    if rule is None:
        return torchs("the first maximum (row-major) takes a tied window's gradient")
    return differs(f"a tied window's gradient goes to {rule}")


def _relu_shape(impl, dtype, n: int = 4) -> tuple:
    """(1, n), or (1, 1, 1, n) for a ReLU written for image batches only: the first
    that a finite forward and backward accept (raises what the 4-D one raised)."""
    for shape in ((1, n), (1, 1, 1, n)):
        try:
            layer = impl.relu(dtype)
            layer.forward(np.ones(shape, dtype=dtype))
            layer.backward_dx(np.ones(shape, dtype=dtype))
            return shape
        except CheckFailure:
            if len(shape) == 4:
                raise
    raise AssertionError("unreachable")


# --- ReLU'(0) -----------------------------------------------------------------------------
@convention(
    "ReLU'(0)",
    torch="0 (the gradient passes only where x > 0)",
    probe="ReLU's backward at x = [-1.5, -0.0, +0.0, 2.5] with upstream [1.5, -2.5, 3.5, -4.5]",
)
def relu_at_zero(impl):
    dtype = probe_dtype(impl)
    x = np.array([[-1.5, -0.0, 0.0, 2.5]], dtype=dtype)
    dy = np.array([[1.5, -2.5, 3.5, -4.5]], dtype=dtype)
    shape = _relu_shape(impl, dtype)
    layer = impl.relu(dtype)
    layer.forward(x.reshape(shape).copy())
    dx = layer.backward_dx(dy.reshape(shape).copy()).astype(np.float64).reshape(1, 4)
    slope = dx[0, 1:3] / dy[0, 1:3].astype(np.float64)  # dx / dy at -0.0 and +0.0
    if (slope == 0).all():
        return torchs("ReLU'(0) = 0")
    if slope[0] == slope[1]:
        return differs(f"ReLU'(0) = {slope[0]:.6g}")
    return differs(f"ReLU'(-0.0) = {slope[0]:.6g}, ReLU'(+0.0) = {slope[1]:.6g}")


# --- NaN propagation ----------------------------------------------------------------------
def _attempt(fn):
    """(value, None) or (None, what went wrong in words)."""
    try:
        return fn(), None
    except (CheckFailure, pytest.skip.Exception) as err:
        return None, _first_line(err)


def _relu_nan(impl, dtype) -> tuple[list[str], list[str]]:
    """(differences, observations) of ReLU on NaN, forward and backward."""
    shape, why = _attempt(lambda: _relu_shape(impl, dtype, 3))
    if why is not None:
        return [], [f"ReLU not observed ({why})"]
    x = np.array([[np.nan, -1.0, 2.0]], dtype=dtype).reshape(shape)
    dy = np.array([[1.5, 2.5, -3.5]], dtype=dtype).reshape(shape)
    layer = impl.relu(dtype)
    y, why = _attempt(lambda: layer.forward(x.copy()))
    if why is not None:
        return [f"ReLU fails on NaN ({why})"], []
    out = []
    if not np.isnan(y.flat[0]):
        out.append(f"ReLU turns NaN into {float(y.flat[0]):.6g} (forward)")
    dx, why = _attempt(lambda: layer.backward_dx(dy.copy()))
    if why is not None:
        return out + [f"ReLU's backward fails after NaN ({why})"], []
    if dx.flat[0] != dy.flat[0]:
        out.append(
            f"ReLU's backward at NaN gives {float(dx.flat[0]):.6g} for upstream 1.5 (torch "
            "passes it: NaN > 0 is false, but torch zeroes only where x <= 0)"
        )
    return out, ([] if out else ["ReLU propagates NaN and passes its gradient"])


def _pool_nan(impl, dtype) -> tuple[list[str], list[str]]:
    """(differences, observations) of MaxPool2d on a window holding NaN."""
    x = np.array([[1.0, np.nan, 3.0, 4.0], [2.0, 0.5, 1.0, 0.0]], dtype=dtype)[None, None]
    dy = np.array([[1.5, -2.5]], dtype=dtype)[None, None]
    finite, why = _attempt(lambda: impl.maxpool2d(2, 2, dtype).forward(np.nan_to_num(x)))
    if why is not None:
        return [], [f"MaxPool2d not observed ({why})"]
    layer = impl.maxpool2d(2, 2, dtype)
    y, why = _attempt(lambda: layer.forward(x.copy()))
    if why is not None:
        return [f"MaxPool2d fails on NaN ({why})"], []
    out = []
    if not np.isnan(y[0, 0, 0, 0]):
        out.append(f"MaxPool2d skips NaN: a window holding NaN pools to {float(y[0, 0, 0, 0]):.6g}")
    dx, why = _attempt(lambda: layer.backward_dx(dy.copy()))
    if why is not None:
        return out + [f"MaxPool2d's backward fails after NaN ({why})"], []
    if not out and dx[0, 0, 0, 1] != dy[0, 0, 0, 0]:
        out.append(
            f"MaxPool2d's backward sends {float(dx[0, 0, 0, 1]):.6g} of a window's gradient "
            "(1.5) to its NaN, where torch sends all of it"
        )
    return out, ([] if out else ["MaxPool2d propagates NaN and routes its gradient to it"])


@convention(
    "NaN propagation",
    torch="NaN passes through ReLU and max pooling, and their gradients pass to it",
    probe="ReLU on [NaN, -1, 2] and a 2x2 pool of a window holding NaN, forward and backward, "
    "each after a finite call that works",
)
def nan_propagation(impl):
    dtype = probe_dtype(impl)
    relu_diff, relu_seen = _relu_nan(impl, dtype)
    pool_diff, pool_seen = _pool_nan(impl, dtype)
    if relu_diff or pool_diff:
        return differs("; ".join(relu_diff + pool_diff))
    seen = relu_seen + pool_seen
    if all("not observed" in s for s in seen):
        return not_observed("; ".join(seen))
    return torchs("; ".join(seen))
