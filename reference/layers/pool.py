"""MaxPool2d with torch's tie rule: in each window the FIRST maximum wins.

"First" is row-major order inside the window, and it is what torch's CPU kernel
picks (it only moves on `val > max`). The obvious NumPy mask `x == x.max()` marks
every tied maximum instead, and after Conv + ReLU on MNIST most windows of the blank
background are ties, so that mask multiplies the conv gradients. A window holding NaN
gives NaN, and its gradient goes to the window's last NaN, which is again what
torch's kernel does.

Two paths compute the same winners:
- Tiled (stride == kernel_size, no NaN in any window; the network's 2x2 pooling):
  one copy regroups x by window offset into k*k contiguous slabs (slab q holds
  every window's value at offset q). y is the slabs' elementwise maximum; the
  winner mask is `slab == y`, thinned to the first True per window by one pass per
  offset. All work is whole-array NumPy operations, and the copy reads HWNC memory
  (what Conv2d hands over, see conv.py) in runs of N*C contiguous values. Backward
  is one masked copy: dy broadcast over each window, bitwise AND-ed with the mask
  (exact for any dy, inf and NaN included).
- Windows (every other stride, or a NaN anywhere in the windows): `np.argmax` over
  each window's k*k values, which returns the first maximum (then the last-NaN rule),
  and a scatter of dy to the winners' flat indices.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import check_called_forward, check_float_array, check_grad_shape


def maxpool2d_forward(x: np.ndarray, kernel_size: int, stride: int) -> tuple[np.ndarray, tuple]:
    """Max over each k x k window of x: (N, C, H, W), stepping by `stride`.

    Returns y: (N, C, Ho, Wo) with Ho = floor((H - k) / s) + 1 (floor mode: leftover
    rows and columns are dropped) and the cache for `maxpool2d_backward`, which
    records every window's winner.
    """
    if stride == kernel_size:
        tiled = _tiled_forward(x, kernel_size)
        if tiled is not None:
            return tiled
    return _windows_forward(x, kernel_size, stride)


def _offset_view(a: np.ndarray, k: int, Ho: int, Wo: int) -> np.ndarray:
    """(H, W, N, C) -> (k, k, Ho, Wo, N, C) view of the tiled part: window (ho, wo)
    at offset (i, j) is [i, j, ho, wo]. Only splits and reorders axes: never a copy."""
    tiles = a[: Ho * k, : Wo * k].reshape(Ho, k, Wo, k, *a.shape[2:])  # (Ho, k, Wo, k, N, C)
    return tiles.transpose(1, 3, 0, 2, 4, 5)  # (k, k, Ho, Wo, N, C)


def _tiled_forward(x: np.ndarray, k: int) -> tuple[np.ndarray, tuple] | None:
    """Non-overlapping k x k windows; None if a window holds NaN (for the windows path)."""
    N, C, H, W = x.shape
    Ho, Wo = H // k, W // k
    # Speed: one copy regroups x by window offset, so that every later pass runs over
    # contiguous memory. Passes over strided views of x cost ~3x more (NumPy steps
    # through Ho*Wo runs of N*C values instead of one run); this saves ~1.5-2% of a
    # training step, measured alternating with the strided version in one process.
    xq = np.empty((k, k, Ho, Wo, N, C), dtype=x.dtype)  # (k, k, Ho, Wo, N, C)
    xq[...] = _offset_view(x.transpose(2, 3, 0, 1), k, Ho, Wo)
    xq = xq.reshape(k * k, Ho, Wo, N, C)  # (k*k, Ho, Wo, N, C): slab q = offset q
    yt = np.maximum.reduce(xq, axis=0)  # (Ho, Wo, N, C); propagates NaN, so:
    if np.isnan(yt.max(initial=0)):  # one reduction; max is NaN iff some window is NaN
        return None  # the last-NaN rule needs the windows path
    # Every position equal to its window's max, then only the first one per window:
    # offset q keeps its True only where no earlier offset has one (won > seen).
    won = np.equal(xq, yt)  # (k*k, Ho, Wo, N, C)
    seen = won[0].copy()  # (Ho, Wo, N, C): some offset so far has won
    for q in range(1, k * k):
        np.greater(won[q], seen, out=won[q])
        if q < k * k - 1:  # the last offset's winners are never looked at again
            np.logical_or(seen, won[q], out=seen)
    # 0 / -1 (all bits set) per input position: backward ANDs dy's bits with it.
    bits = won.view(np.int8)  # (k*k, Ho, Wo, N, C)
    np.negative(bits, out=bits)  # in place: no second array to allocate
    return _to_nchw(yt), ("tiled", bits, x.shape, k)


def _to_nchw(yt: np.ndarray) -> np.ndarray:
    """(Ho, Wo, N, C) -> a C-contiguous (N, C, Ho, Wo) copy, which Flatten views as is.

    Speed: a transposing copy reads yt down its columns, whose elements lie N*C
    values apart: 1 KiB for the network's 32 x 8 floats, a power of two, so the rows
    it reads compete for the same few L1 cache sets and evict each other. Copying yt
    first into rows padded by 8 values (a plain, contiguous copy) breaks that stride;
    both copies together take about half the time of the direct transpose.
    """
    Ho, Wo, N, C = yt.shape
    padded = np.empty((Ho * Wo, N * C + 8), dtype=yt.dtype)  # (L, N*C + 8), L = Ho*Wo
    rows = padded[:, : N * C]  # (L, N*C) view: the padding is never read
    rows[...] = yt.reshape(Ho * Wo, N * C)
    out = np.ascontiguousarray(rows.T)  # (N*C, L)
    return out.reshape(N, C, Ho, Wo)  # (N, C, Ho, Wo)


def _windows_forward(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, tuple]:
    """Any windows, overlapping or not, NaN or not: argmax over each window."""
    N, C, H, W = x.shape
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
    return y, ("windows", flat, x.shape, k, s)


def maxpool2d_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """Send each window's gradient in dy: (N, C, Ho, Wo) to its winner; returns dx: (N, C, H, W)."""
    if cache[0] == "tiled":
        return _tiled_backward(dy, cache)
    _, flat, x_shape, k, s = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    if s >= k:
        # Windows don't overlap, so each input position wins at most once: assign.
        dx.reshape(-1)[flat.reshape(-1)] = dy.reshape(-1)
    else:
        # Overlapping windows can share a winner, whose gradients must add up.
        np.add.at(dx.reshape(-1), flat.reshape(-1), dy.reshape(-1))
    return dx


def _tiled_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """dx = dy copied over each window, AND-ed bitwise with the winner bits.

    Bitwise rather than dy * mask: 0 * inf would be NaN, and torch's gradient is
    exactly 0 off the winners whatever dy holds.
    """
    _, bits, (N, C, H, W), k = cache
    Ho, Wo = dy.shape[2], dy.shape[3]
    ints = np.dtype(f"i{dy.dtype.itemsize}")  # same-width integers to view the floats as
    full = Ho * k == H and Wo * k == W
    dxt = (np.empty if full else np.zeros)((H, W, N, C), dtype=dy.dtype)  # (H, W, N, C)
    # dy arrives NCHW from Flatten: one transposing copy to HWNC first, so that the
    # broadcast AND below runs over contiguous N*C runs in all three arrays.
    dyt = np.ascontiguousarray(dy.transpose(2, 3, 0, 1))  # (Ho, Wo, N, C)
    bits6 = bits.reshape(k, k, Ho, Wo, N, C)  # (k, k, Ho, Wo, N, C)
    out = _offset_view(dxt, k, Ho, Wo).view(ints)  # (k, k, Ho, Wo, N, C) view of dxt
    np.bitwise_and(dyt.view(ints), bits6, out=out)  # dyt broadcasts over the offsets
    return dxt.transpose(2, 3, 0, 1)  # (N, C, H, W) view of HWNC memory


def maxpool2d_mask(cache: tuple) -> np.ndarray:
    """Boolean array of the input's shape, True at each window's winner."""
    if cache[0] == "tiled":
        _, bits, (N, C, H, W), k = cache
        Ho, Wo = bits.shape[1:3]
        mask = np.zeros((H, W, N, C), dtype=bool)  # (H, W, N, C); leftovers stay False
        _offset_view(mask, k, Ho, Wo)[...] = bits.reshape(k, k, Ho, Wo, N, C) != 0
        return mask.transpose(2, 3, 0, 1)  # (N, C, H, W) view of a new array
    _, flat, x_shape, _, _ = cache
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
