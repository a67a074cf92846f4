"""ReLU, with torch's convention that the gradient at exactly 0 is 0.

Both passes are one bitwise AND of the floats' bits with a per-element mask of all
ones (pass) or all zeros (block). That is exact for every input, NaN and inf
included (0 * inf would be NaN, a select with np.where costs ~20x more here), and
like every elementwise NumPy operation it keeps the memory layout of its input, so
the HWNC activations of Conv2d stay HWNC (see conv.py).
"""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def _as_ints(a: np.ndarray) -> np.ndarray:
    """The same memory seen as integers of the same width (float32 -> int32, ...)."""
    return a.view(np.dtype(f"i{a.dtype.itemsize}"))


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(x, 0) elementwise; the cache is an integer mask of x's width, all bits set
    (-1) where the gradient passes and 0 where it is blocked."""
    # torch's threshold_backward zeroes the gradient where x <= 0, so ReLU'(0) = 0,
    # and a NaN input (for which x <= 0 is False) passes its gradient on, as in torch.
    blocked = np.less_equal(x, 0)
    ints = _as_ints(x)
    # Speed: the mask has the floats' width, so that both ANDs below pair integers
    # of one width; an int8 mask made NumPy cast it on every use (backward ~2x slower).
    passes = blocked.view(np.int8).astype(ints.dtype)  # 1 where blocked, else 0
    passes -= 1  # 0 where blocked, -1 (all bits set) where the gradient passes
    # x AND 0 is +0.0, x AND all-ones is x: relu(x), NaN kept as torch.relu keeps it.
    y = np.bitwise_and(ints, passes).view(x.dtype)
    return y, passes


def relu_backward(dy: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Pass dy through where the input was strictly positive (or NaN), 0 elsewhere."""
    ints = _as_ints(dy)
    # A mask of another width (dy in another dtype than x) is converted; -1 stays -1.
    return np.bitwise_and(ints, passes.astype(ints.dtype, copy=False)).view(dy.dtype)


class ReLU:
    """Rectified linear unit; works on any shape."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Any shape -> same shape."""
        x = check_float_array("ReLU", x, np.ndim(x))
        y, self._cache = relu_forward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Any shape -> same shape."""
        check_called_forward("ReLU", self._cache)
        dy = check_grad_shape("ReLU", dy, self._cache.shape)
        return relu_backward(dy, self._cache)
