"""Conv2d: 2-D cross-correlation (what torch calls convolution), NCHW layout.

The forward pass reads every kH x kW patch through a zero-copy `as_strided` view of
the input, gathers the patches once into an im2col matrix, and turns the whole
layer into one batched matrix product that BLAS runs. The backward pass reuses that
matrix for the weight gradient and scatters the patch gradients back to the input
with one strided add per kernel offset (kH * kW adds, never a loop over pixels).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._checks import check_called_forward, check_float_array, check_grad_shape


def conv2d_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2p - k) / s) + 1, as in torch."""
    return (size + 2 * padding - kernel_size) // stride + 1


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, tuple]:
    """Cross-correlate `x` with `w` and add `b`.

    x: (N, C, H, W); w: (O, C, kH, kW); b: (O,).
    Returns y: (N, O, Ho, Wo) with Ho = floor((H + 2p - kH) / s) + 1 (same for Wo),
    computed in x's dtype, and the cache that `conv2d_backward` needs.
    """
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    s, p = stride, padding
    Ho, Wo = conv2d_output_size(H, kH, s, p), conv2d_output_size(W, kW, s, p)
    w = w.astype(x.dtype, copy=False)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
    # The patch view is built from xp's real strides, so transposed, sliced or
    # Fortran-ordered inputs are read correctly without a copy. writeable=False
    # guarantees that nothing downstream can write through it into the input.
    sN, sC, sH, sW = xp.strides
    patches = as_strided(
        xp,
        shape=(N, C, kH, kW, Ho, Wo),
        strides=(sN, sC, sH, sW, s * sH, s * sW),
        writeable=False,
    )
    cols = patches.reshape(N, C * kH * kW, Ho * Wo)  # (N, K, L), the one im2col copy
    w_mat = w.reshape(O, C * kH * kW)  # (O, K)
    y = np.matmul(w_mat, cols)  # (N, O, L): one GEMM per sample, already NCHW order
    y += b.astype(x.dtype, copy=False)[:, None]
    y = y.reshape(N, O, Ho, Wo)  # (N, O, Ho, Wo)
    return y, (cols, w_mat, x.shape, w.shape, s, p)


def conv2d_backward(
    dy: np.ndarray, cache: tuple, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of `conv2d_forward` for the upstream gradient dy: (N, O, Ho, Wo).

    Returns (dx, dw, db) with the shapes of x, w and b. With input_grad=False, dx is
    None: the first layer of a network never needs it, and torch skips it too.
    """
    cols, w_mat, x_shape, w_shape, s, p = cache
    N, C, H, W = x_shape
    O, _, kH, kW = w_shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    dy_mat = dy.reshape(N, O, Ho * Wo)  # (N, O, L)
    # dw[o, k] = sum over n, l of dy[n, o, l] * cols[n, k, l]: one GEMM over (n, l).
    dw = np.tensordot(dy_mat, cols, axes=([0, 2], [0, 2])).reshape(w_shape)  # (O, C, kH, kW)
    db = dy_mat.sum(axis=(0, 2))
    if not input_grad:
        return None, dw, db
    dcols = np.matmul(w_mat.T, dy_mat)  # (N, K, L)
    dcols = dcols.reshape(N, C, kH, kW, Ho, Wo)  # (N, C, kH, kW, Ho, Wo)
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=dy.dtype)
    # col2im: kernel offset (i, j) touched input rows i, i+s, ..., i+s*(Ho-1).
    for i in range(kH):
        for j in range(kW):
            dxp[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += dcols[:, :, i, j]
    dx = dxp[:, :, p : p + H, p : p + W] if p else dxp
    return dx, dw, db


class Conv2d:
    """2-D convolution layer with torch's layout, defaults and initialisation.

    weight: (out_channels, in_channels, kernel_size, kernel_size); bias: (out_channels,).
    Both start uniform in +-1/sqrt(in_channels * kernel_size**2), as torch's do.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        rng = np.random.default_rng() if rng is None else rng
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        bound = 1.0 / np.sqrt(in_channels * kernel_size * kernel_size)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.params = {
            "weight": rng.uniform(-bound, bound, shape).astype(dtype),
            "bias": rng.uniform(-bound, bound, out_channels).astype(dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C_in, H, W) -> (N, C_out, Ho, Wo)."""
        x = check_float_array("Conv2d", x, 4)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d: expected {self.in_channels} input channels, got {x.shape[1]} "
                f"(input shape {x.shape})"
            )
        padded = (x.shape[2] + 2 * self.padding, x.shape[3] + 2 * self.padding)
        if min(padded) < self.kernel_size:
            raise ValueError(
                f"Conv2d: padded input {padded} is smaller than the kernel "
                f"{self.kernel_size}x{self.kernel_size}"
            )
        p = self.params
        y, self._cache = conv2d_forward(x, p["weight"], p["bias"], self.stride, self.padding)
        self._y_shape = y.shape
        return y

    def backward(self, dy: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """(N, C_out, Ho, Wo) -> dx (N, C_in, H, W); overwrites grads."""
        check_called_forward("Conv2d", self._cache)
        dy = check_grad_shape("Conv2d", dy, self._y_shape)
        dx, dw, db = conv2d_backward(dy, self._cache, input_grad)
        self.grads["weight"], self.grads["bias"] = dw, db
        return dx
