"""Linear: y = x @ W.T + b, with torch's (out_features, in_features) weight layout."""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """x: (N, in), w: (out, in), b: (out,) -> y: (N, out) in x's dtype, and the cache."""
    w = w.astype(x.dtype, copy=False)
    y = x @ w.T
    y += b.astype(x.dtype, copy=False)
    return y, (x, w)


def linear_backward(
    dy: np.ndarray, cache: tuple, input_grad: bool = True, out: tuple | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy: (N, out) -> (dx: (N, in) or None, dw: (out, in), db: (out,)).

    out: optionally the (dw, db) arrays to write into, instead of new ones.
    """
    x, w = cache
    dw, db = (None, None) if out is None else out
    dw = np.matmul(dy.T, x, out=dw)
    db = np.sum(dy, axis=0, out=db)
    dx = dy @ w if input_grad else None
    return dx, dw, db


class Linear:
    """Fully connected layer; weight and bias start in U(+-1/sqrt(in_features)), as in torch."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        rng = np.random.default_rng() if rng is None else rng
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / np.sqrt(in_features)
        self.params = {
            "weight": rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype),
            "bias": rng.uniform(-bound, bound, out_features).astype(dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, in_features) -> (N, out_features)."""
        x = check_float_array("Linear", x, 2)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Linear: expected {self.in_features} input features, got {x.shape[1]} "
                f"(input shape {x.shape})"
            )
        y, self._cache = linear_forward(x, self.params["weight"], self.params["bias"])
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """(N, out_features) -> dx (N, in_features); overwrites grads."""
        check_called_forward("Linear", self._cache)
        dy = check_grad_shape("Linear", dy, self._y_shape)
        # In place: the grads keep their memory, which SeedCNN lays out as one buffer
        # for Adam to read without first packing the gradients (a 0.7 MB copy per step).
        g = self.grads
        dx, _, _ = linear_backward(dy, self._cache, input_grad, out=(g["weight"], g["bias"]))
        return dx
