"""Shared hypothesis strategies and input builders for the layer tests.

Hypothesis draws the small discrete choices (shapes, kernel, stride, padding, dtype,
fill, memory layout) and a seed; the arrays come from a NumPy generator seeded with
it, which is fast for thousands of elements and still reproducible from the seed.
"""

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from .tolerances import KINK_MARGIN

# The two tiers: float64 against torch float64 (tight), float32 against torch float32.
DTYPES = (np.float64, np.float32)
dtypes = st.sampled_from(DTYPES)  # for tests where the dtype is one choice among many
seeds = st.integers(0, 2**32 - 1)


@dataclass(frozen=True)
class ConvCase:
    """One Conv2d configuration: input (N, C_in, H, W), kernel k, stride s, padding p."""

    N: int
    C_in: int
    C_out: int
    H: int
    W: int
    k: int
    s: int
    p: int


@st.composite
def conv_cases(draw, max_size: int = 16) -> ConvCase:
    """Conv2d configurations whose output is never empty: H + 2p >= k, W + 2p >= k."""
    k = draw(st.integers(1, 5))
    p = draw(st.integers(0, 2))
    smallest = max(1, k - 2 * p)
    return ConvCase(
        N=draw(st.integers(1, 4)),
        C_in=draw(st.integers(1, 3)),
        C_out=draw(st.integers(1, 8)),
        H=draw(st.integers(smallest, max_size)),
        W=draw(st.integers(smallest, max_size)),
        k=k,
        s=draw(st.integers(1, 3)),
        p=p,
    )


@dataclass(frozen=True)
class PoolCase:
    """One MaxPool2d configuration: input (N, C, H, W), window k, stride s."""

    N: int
    C: int
    H: int
    W: int
    k: int
    s: int


@st.composite
def pool_cases(draw, overlapping: bool | None = None, max_size: int = 13) -> PoolCase:
    """MaxPool2d configurations with k, s in 1..4 and H, W >= k (odd sizes included).

    overlapping=True forces s < k (windows share inputs), False forces s >= k.
    """
    k = draw(st.integers(2 if overlapping else 1, 4))
    if overlapping is None:
        s = draw(st.integers(1, 4))
    elif overlapping:
        s = draw(st.integers(1, k - 1))
    else:
        s = draw(st.integers(k, 4))
    return PoolCase(
        N=draw(st.integers(1, 3)),
        C=draw(st.integers(1, 3)),
        H=draw(st.integers(k, max_size)),
        W=draw(st.integers(k, max_size)),
        k=k,
        s=s,
    )


# Random floats never tie; these fills make ties the common case on purpose.
TIE_FILLS = ("plateau", "constant", "relu_background")
FILLS = ("normal", *TIE_FILLS)


def filled(kind: str, rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """An array of `shape` and `dtype` filled by `kind`, one of FILLS.

    plateau: small integers, so most windows hold repeated values.
    constant: one value everywhere, every window is a full tie.
    relu_background: what Conv + ReLU makes of MNIST's blank background, a plateau
        of relu(0 + 0.1) = 0.1 (or of 0 where the patch is negative), with sparse
        random "strokes" on it.
    """
    if kind == "normal":
        x = rng.standard_normal(shape)
    elif kind == "plateau":
        x = rng.integers(-2, 3, size=shape).astype(np.float64)
    elif kind == "constant":
        x = np.full(shape, float(rng.integers(-3, 4)))
    elif kind == "relu_background":
        strokes = np.where(rng.random(shape) < 0.3, rng.standard_normal(shape), 0.0)
        x = np.maximum(strokes.astype(dtype) + dtype(0.1), 0)
    else:
        raise ValueError(f"unknown fill {kind!r}")
    return x.astype(dtype)


def distinct_values(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """float64 values, pairwise at least 4 * KINK_MARGIN apart and at least
    2 * KINK_MARGIN away from 0, in random order: no ReLU kink or pooling tie lies within
    a finite-difference step of any of them.
    """
    n = int(np.prod(shape))
    spacing = max(4.0 / n, 4 * KINK_MARGIN)
    grid = (np.arange(n) - n // 2 + 0.5) * spacing  # half-integer multiples: never 0
    return rng.permutation(grid).reshape(shape)


# Memory layouts that hold the same values as a C-contiguous array but with other
# strides: what as_strided code must read correctly and never write through.
LAYOUTS = ("fortran", "swapped_last_axes", "axis1_last", "every_other_row", "slice", "flipped")


def with_layout(x: np.ndarray, layout: str, rng: np.random.Generator) -> np.ndarray:
    """A view equal to x (np.array_equal) in the memory layout named by `layout`.

    fortran: column-major. swapped_last_axes: built transposed, then .swapaxes(-1, -2).
    axis1_last: channels-last memory seen as NCHW. every_other_row: x[..., ::2, :] of
    a twice-as-tall array. slice: an interior slice (offset, gaps) of a bigger random
    array. flipped: negative strides on the last two axes.
    """
    if layout == "fortran":
        v = np.asfortranarray(x)
    elif layout == "swapped_last_axes":
        v = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    elif layout == "axis1_last":
        v = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    elif layout == "every_other_row":
        tall = np.full((*x.shape[:-2], 2 * x.shape[-2], x.shape[-1]), np.nan, dtype=x.dtype)
        tall[..., ::2, :] = x
        v = tall[..., ::2, :]
    elif layout == "slice":
        big = rng.standard_normal(tuple(n + 3 for n in x.shape)).astype(x.dtype)
        inner = tuple(slice(1, 1 + n) for n in x.shape)
        big[inner] = x
        v = big[inner]
    elif layout == "flipped":
        v = np.ascontiguousarray(x[..., ::-1, ::-1])[..., ::-1, ::-1]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    assert np.array_equal(v, x, equal_nan=True) and v.dtype == x.dtype
    return v
