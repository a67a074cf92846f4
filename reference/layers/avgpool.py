"""AvgPool2d as torch's nn.AvgPool2d with padding 0: the mean of each k x k window.

The output size is floor((H - k) / s) + 1 (floor mode: leftover rows and columns are
dropped), the same formula as max pooling and convolution; `H // s` is right only
when s = k. Each window's upstream gradient is shared by its k*k inputs, 1/k^2 each,
and where windows overlap (s < k) an input collects the shares of every window that
covers it.

Both passes loop over the k*k offsets of a window, each a whole-array operation on a
strided slice: y adds the slices in row-major window order (the order in which torch's
CPU kernel sums a window), dx adds dy / k^2 into them, so overlaps accumulate.
"""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def avgpool2d_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Output length along one axis: floor((size - k) / s) + 1, as in torch (padding 0)."""
    return (size - kernel_size) // stride + 1


def _offsets(k: int, s: int, Ho: int, Wo: int):
    """For each window offset (i, j), row-major: the slice of the input it reads."""
    for i in range(k):
        for j in range(k):
            yield (..., slice(i, i + s * (Ho - 1) + 1, s), slice(j, j + s * (Wo - 1) + 1, s))


def avgpool2d_forward(x: np.ndarray, kernel_size: int, stride: int) -> tuple[np.ndarray, tuple]:
    """Mean of each k x k window of x: (N, C, H, W), stepping by `stride`.

    Returns y: (N, C, Ho, Wo), Ho = floor((H - k) / s) + 1, and the cache for backward.
    """
    N, C, H, W = x.shape
    k, s = kernel_size, stride
    Ho, Wo = avgpool2d_output_size(H, k, s), avgpool2d_output_size(W, k, s)
    total = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for window in _offsets(k, s, Ho, Wo):
        total += x[window]  # (N, C, Ho, Wo)
    return total / x.dtype.type(k * k), (x.shape, k, s)


def avgpool2d_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dy: (N, C, Ho, Wo) -> dx: (N, C, H, W); every input of a window gets dy / k^2,
    added up over the windows that share it."""
    x_shape, k, s = cache
    share = dy / dy.dtype.type(k * k)  # (N, C, Ho, Wo)
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for window in _offsets(k, s, *dy.shape[2:]):
        dx[window] += share
    return dx


class AvgPool2d:
    """2-D average pooling; `stride` defaults to `kernel_size`, floor mode, no padding."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> (N, C, Ho, Wo)."""
        x = check_float_array("AvgPool2d", x, 4)
        if min(x.shape[2:]) < self.kernel_size:
            raise ValueError(
                f"AvgPool2d: input of spatial size {x.shape[2:]} is smaller than the "
                f"{self.kernel_size}x{self.kernel_size} window"
            )
        y, self._cache = avgpool2d_forward(x, self.kernel_size, self.stride)
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """(N, C, Ho, Wo) -> dx (N, C, H, W)."""
        check_called_forward("AvgPool2d", self._cache)
        dy = check_grad_shape("AvgPool2d", dy, self._y_shape)
        return avgpool2d_backward(dy, self._cache)
