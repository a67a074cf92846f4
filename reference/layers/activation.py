"""ReLU, with torch's convention that the gradient at exactly 0 is 0."""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(x, 0) elementwise; the cache is the boolean mask of positions that pass gradient."""
    # torch's threshold_backward zeroes the gradient where x <= 0, so ReLU'(0) = 0,
    # and a NaN input (for which x <= 0 is False) passes its gradient on, as in torch.
    positive = ~(x <= 0)
    return np.maximum(x, x.dtype.type(0)), positive  # np.maximum keeps NaN, as torch.relu


def relu_backward(dy: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Pass dy through where the input was strictly positive, 0 elsewhere."""
    return np.where(positive, dy, dy.dtype.type(0))


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
