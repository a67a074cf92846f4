"""MaxPool2d with torch's tie rule: in each window the FIRST maximum wins.

"First" is row-major order inside the window, and it is what torch's CPU kernel
picks (it only moves on `val > max`). The obvious NumPy mask `x == x.max()` marks
every tied maximum instead, and after Conv + ReLU on MNIST most windows of the blank
background are ties, so that mask multiplies the conv gradients. Here the winner of
each window is `np.argmax`, which returns the first maximum, and backward routes
each window's gradient to that one position. A window holding NaN gives NaN, and its
gradient goes to the window's last NaN, which is again what torch's kernel does.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import check_called_forward, check_float_array, check_grad_shape


def maxpool2d_forward(x: np.ndarray, kernel_size: int, stride: int) -> tuple[np.ndarray, tuple]:
    """Max over each k x k window of x: (N, C, H, W), stepping by `stride`.

    Returns y: (N, C, Ho, Wo) with Ho = floor((H - k) / s) + 1 (floor mode: leftover
    rows and columns are dropped) and the cache for `maxpool2d_backward`, which holds
    the flat input index of every window's winner.
    """
    N, C, H, W = x.shape
    k, s = kernel_size, stride
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    sN, sC, sH, sW = x.strides
    windows = as_strided(
        x,
        shape=(N, C, Ho, Wo, k, k),
        strides=(sN, sC, s * sH, s * sW, sH, sW),
        writeable=False,
    )
    windows = windows.reshape(N, C, Ho, Wo, k * k)  # (N, C, Ho, Wo, k*k), row-major in-window
    win = windows.argmax(axis=-1)  # (N, C, Ho, Wo): first max, or first NaN
    y = np.take_along_axis(windows, win[..., None], axis=-1)[..., 0]  # (N, C, Ho, Wo)
    nan_windows = np.isnan(y)
    if nan_windows.any():
        # torch moves on `val > max || isnan(val)`, so of several NaNs the LAST wins.
        last_nan = k * k - 1 - np.isnan(windows[..., ::-1]).argmax(axis=-1)  # (N, C, Ho, Wo)
        win = np.where(nan_windows, last_nan, win)
    # Flat index of each winner in the (N, C, H, W) input, for backward and the mask.
    rows = np.arange(Ho)[:, None] * s + win // k  # (N, C, Ho, Wo)
    cols = np.arange(Wo)[None, :] * s + win % k  # (N, C, Ho, Wo)
    plane = (np.arange(N)[:, None] * C + np.arange(C)[None, :]) * (H * W)  # (N, C)
    flat = plane[:, :, None, None] + rows * W + cols  # (N, C, Ho, Wo)
    return y, (flat, x.shape, k, s)


def maxpool2d_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """Send each window's gradient in dy: (N, C, Ho, Wo) to its winner; returns dx: (N, C, H, W)."""
    flat, x_shape, k, s = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    if s >= k:
        # Windows don't overlap, so each input position wins at most once: assign.
        dx.reshape(-1)[flat.reshape(-1)] = dy.reshape(-1)
    else:
        # Overlapping windows can share a winner, whose gradients must add up.
        np.add.at(dx.reshape(-1), flat.reshape(-1), dy.reshape(-1))
    return dx


def maxpool2d_mask(cache: tuple) -> np.ndarray:
    """Boolean array of the input's shape, True at each window's winner."""
    flat, x_shape, _, _ = cache
    mask = np.zeros(x_shape, dtype=bool)
    mask.reshape(-1)[flat.reshape(-1)] = True
    return mask


class MaxPool2d:
    """2-D max pooling; `stride` defaults to `kernel_size`, floor mode, as in torch."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.params, self.grads = {}, {}
        self._cache = None

    @property
    def mask(self) -> np.ndarray:
        """After forward: True at the first maximum of each window, False elsewhere."""
        check_called_forward("MaxPool2d", self._cache)
        return maxpool2d_mask(self._cache)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) -> (N, C, Ho, Wo)."""
        x = check_float_array("MaxPool2d", x, 4)
        if min(x.shape[2:]) < self.kernel_size:
            raise ValueError(
                f"MaxPool2d: input of spatial size {x.shape[2:]} is smaller than the "
                f"{self.kernel_size}x{self.kernel_size} window"
            )
        y, self._cache = maxpool2d_forward(x, self.kernel_size, self.stride)
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """(N, C, Ho, Wo) -> dx (N, C, H, W)."""
        check_called_forward("MaxPool2d", self._cache)
        dy = check_grad_shape("MaxPool2d", dy, self._y_shape)
        return maxpool2d_backward(dy, self._cache)
