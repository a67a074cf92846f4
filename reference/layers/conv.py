"""Conv2d: 2-D cross-correlation (what torch calls convolution), NCHW at the interface.

Inside, the layer works in a pixel-major "HWNC" memory layout: (H, W, N, C) with the
batch and channel axes innermost. The patch matrix (im2col) is then one contiguous
(C*kH*kW + 1, Ho*Wo*N) array, the whole layer is ONE matrix product (not one per
sample), and its output, an (Ho*Wo*N, O) matrix, already is HWNC memory. `y` is
returned as an NCHW-shaped strided view of it (`y.transpose` of that buffer), which
every NumPy operation reads correctly. ReLU keeps the layout, and MaxPool2d's 2x2
windows then hold runs of N*C contiguous values instead of 13-element rows.

The im2col matrix carries an extra row of ones, so that the bias rides in the same
product (y = [W | b] @ [cols; 1]) and its gradient comes out of the weight-gradient
product (db = dy @ 1), saving two passes over the (N, O, Ho, Wo) activations.
"""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def conv2d_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Output length along one axis: floor((size + 2p - k) / s) + 1, as in torch."""
    return (size + 2 * padding - kernel_size) // stride + 1


def _to_hwnc(x: np.ndarray, padding: int) -> np.ndarray:
    """A new C-contiguous (H + 2p, W + 2p, N, C) copy of x: (N, C, H, W), zero-padded.

    Always a copy, whatever x's strides: everything after it is then computed the
    same way for every memory layout of x, and nothing can alias or write into x.
    """
    N, C, H, W = x.shape
    p = padding
    alloc = np.zeros if p else np.empty  # only the padding border needs the zeros
    xt = alloc((H + 2 * p, W + 2 * p, N, C), dtype=x.dtype)  # (Hp, Wp, N, C)
    xt[p : p + H, p : p + W] = x.transpose(2, 3, 0, 1)
    return xt


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, tuple]:
    """Cross-correlate `x` with `w` and add `b`.

    x: (N, C, H, W); w: (O, C, kH, kW); b: (O,).
    Returns y: (N, O, Ho, Wo) with Ho = floor((H + 2p - kH) / s) + 1 (same for Wo),
    computed in x's dtype (an NCHW view of HWNC memory, see the module docstring),
    and the cache that `conv2d_backward` needs.
    """
    N, C, H, W = x.shape
    O, _, kH, kW = w.shape
    s, p, K = stride, padding, C * kH * kW
    Ho, Wo = conv2d_output_size(H, kH, s, p), conv2d_output_size(W, kW, s, p)
    xt = _to_hwnc(x, p)
    sH, sW, sN, sC = xt.strides
    # patches[c, i, j, ho, wo, n] = xt[s*ho + i, s*wo + j, n, c]: a zero-copy strided
    # view of xt, our own private buffer. (The ndarray constructor builds it in ~1 us,
    # numpy's as_strided wrapper takes several.) It is only read.
    patches = np.ndarray(
        (C, kH, kW, Ho, Wo, N), xt.dtype, buffer=xt, strides=(sC, sH, sW, s * sH, s * sW, sN)
    )
    cols = np.empty((K + 1, Ho * Wo * N), dtype=x.dtype)  # (K + 1, L*N), L = Ho*Wo
    cols[:K].reshape(C, kH, kW, Ho, Wo, N)[...] = patches  # the one im2col copy
    cols[K] = 1  # the bias row
    w_aug = np.empty((O, K + 1), dtype=x.dtype)  # [W | b]: (O, K + 1)
    w_aug[:, :K] = w.reshape(O, K)
    w_aug[:, K] = b
    y = np.matmul(cols.T, w_aug.T)  # (L*N, O): one GEMM, rows in (ho, wo, n) order
    y = y.reshape(Ho, Wo, N, O).transpose(2, 3, 0, 1)  # (N, O, Ho, Wo) view of HWNC memory
    return y, (cols, w_aug, x.shape, s, p, (kH, kW))


def _dy_matrix(dy: np.ndarray) -> np.ndarray:
    """dy: (N, O, Ho, Wo) as the (Ho*Wo*N, O) matrix of the forward product.

    A view when dy is HWNC memory (what ReLU and MaxPool2d pass back), else one copy.
    """
    N, O, Ho, Wo = dy.shape
    return dy.transpose(2, 3, 0, 1).reshape(Ho * Wo * N, O)  # (L*N, O)


def conv2d_backward(
    dy: np.ndarray, cache: tuple, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of `conv2d_forward` for the upstream gradient dy: (N, O, Ho, Wo).

    Returns (dx, dw, db) with the shapes of x, w and b. With input_grad=False, dx is
    None: the first layer of a network never needs it, and torch skips it too.
    """
    cols, w_aug, x_shape, s, p, (kH, kW) = cache
    N, C, H, W = x_shape
    O, Ho, Wo, K = dy.shape[1], dy.shape[2], dy.shape[3], C * kH * kW
    dy_mat = _dy_matrix(dy.astype(cols.dtype, copy=False))  # (L*N, O)
    # [dw | db][o, k] = sum over (ho, wo, n) of dy[., o] * cols[k, .]: one GEMM; the
    # ones row of cols turns the last column into the bias gradient. Computed as its
    # transpose, cols @ dy, which OpenBLAS runs ~1.4x faster for this long, thin shape.
    dw_aug = np.matmul(cols, dy_mat).T  # (O, K + 1)
    # Views of dw_aug, a fresh array of this call's own: no copy here, as Conv2d then
    # copies them into its gradient arrays anyway.
    dw = dw_aug[:, :K].reshape(O, C, kH, kW)  # (O, C, kH, kW)
    db = dw_aug[:, K]  # (O,)
    if not input_grad:
        return None, dw, db
    dcols = np.matmul(w_aug[:, :K].T, dy_mat.T)  # (K, L*N)
    dcols = dcols.reshape(C, kH, kW, Ho, Wo, N)  # (C, kH, kW, Ho, Wo, N)
    dxt = np.zeros((H + 2 * p, W + 2 * p, N, C), dtype=cols.dtype)  # (Hp, Wp, N, C)
    # col2im: kernel offset (i, j) touched input rows i, i+s, ..., i+s*(Ho-1).
    for i in range(kH):
        for j in range(kW):
            patch = dcols[:, i, j].transpose(1, 2, 3, 0)  # (Ho, Wo, N, C)
            dxt[i : i + s * Ho : s, j : j + s * Wo : s] += patch
    dx = dxt[p : p + H, p : p + W].transpose(2, 3, 0, 1)  # (N, C, H, W) view of HWNC memory
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
        # In place, as Linear does (see there): the grads keep their memory.
        self.grads["weight"][...], self.grads["bias"][...] = dw, db
        return dx
