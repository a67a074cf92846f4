"""Dropout as torch's nn.Dropout: p is the probability of DROPPING an element.

Training mode zeroes each element independently with probability p and scales the kept
ones by 1 / (1 - p) ("inverted" dropout), so that the expected output equals the input
and eval mode is the identity. Backward multiplies dy by the very same scaled mask.

The randomness comes from a NumPy Generator that the layer owns (seedable), never from
NumPy's global state, so a seeded layer drops the same elements on every run.
"""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"Dropout: p, the probability of dropping, must be in [0, 1]; got {p}")
    return float(p)


def dropout_forward(
    x: np.ndarray, p: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Zero each element of x (any shape) with probability p, scale the rest by 1/(1-p).

    Returns y (x's shape and dtype) and the cache: the scaled mask, 0 where dropped and
    1/(1-p) where kept (all zeros for p = 1, where torch returns zeros).
    """
    keep = rng.random(x.shape) >= p  # P(keep) = 1 - p
    scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
    mask = keep.astype(x.dtype) * scale  # (x's shape): 0 or 1/(1-p)
    return x * mask, mask


def dropout_backward(dy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """dy * the forward's scaled mask: the gradient flows where the forward kept."""
    return dy * mask.astype(dy.dtype, copy=False)


class Dropout:
    """Inverted dropout; identity in eval mode. `rng`: a Generator or a seed (None: fresh)."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None):
        self.p = _check_p(p)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.params, self.grads = {}, {}
        self.training = True
        self._cache = None

    def train(self, mode: bool = True) -> None:
        """Training mode (drop and scale), or eval mode (identity) if False."""
        self.training = mode

    def eval(self) -> None:
        """Eval mode: the identity."""
        self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Any shape -> the same shape."""
        x = check_float_array("Dropout", x, np.ndim(x))
        self._y_shape = x.shape
        if not self.training:
            self._cache = ("identity", None)
            return x.copy()
        y, mask = dropout_forward(x, self.p, self.rng)
        self._cache = ("mask", mask)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Any shape -> the same shape: dy through the forward's mask (or unchanged)."""
        check_called_forward("Dropout", self._cache)
        dy = check_grad_shape("Dropout", dy, self._y_shape)
        kind, mask = self._cache
        return dy.copy() if kind == "identity" else dropout_backward(dy, mask)
