"""A from-scratch NumPy CNN for MNIST, written the way the seed writes it.

Conv2D(1->8, 3x3) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(1352->128) -> ReLU ->
Dense(128->10), softmax cross-entropy and Adam. Every layer works on a batch in NCHW
layout, caches what it needs in forward(x) and returns the input gradient from
backward(grad); Conv2D and Dense also hold W, b and, after backward, dW, db.

MaxPool2D keeps the seed's real bug, on purpose, so that the conformance suite has
something to find: its backward mask is `x == max`, so every tied maximum of a window
gets the gradient (torch gives it to the first one only), and a window holding NaN
gets none at all (NaN == NaN is False).
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


class Conv2D:
    """2-D cross-correlation: x (N, C, H, W) -> y (N, O, Ho, Wo).

    W: (O, C, kH, kW), b: (O,), torch's layouts. Ho = (H + 2p - kH) // stride + 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.W = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)  # He init, for ReLU
        self.b = np.zeros(out_channels)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        N, C, H, W = x.shape
        O, _, kH, kW = self.W.shape
        s, p = self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C, H + 2p, W + 2p), a new array
        Ho, Wo = (H + 2 * p - kH) // s + 1, (W + 2 * p - kW) // s + 1
        sN, sC, sH, sW = xp.strides
        # patches[n, c, ho, wo, i, j] = xp[n, c, s*ho + i, s*wo + j]: a view, no copy.
        # Only ever read: writing into it would write to several pixels at once.
        patches = as_strided(
            xp, (N, C, Ho, Wo, kH, kW), (sN, sC, s * sH, s * sW, sH, sW), writeable=False
        )
        # optimize=True hands the product to BLAS (tensordot): einsum's own loop
        # accumulates float32 sums naively and drifts on long sums.
        y = np.einsum("nchwij,ocij->nohw", patches, self.W, optimize=True)
        self.x_shape, self.patches = x.shape, patches
        return y + self.b[None, :, None, None]

    def backward(self, grad):
        """grad: dL/dy (N, O, Ho, Wo). Sets dW, db and returns dL/dx (N, C, H, W)."""
        N, C, H, W = self.x_shape
        _, _, kH, kW = self.W.shape
        s, p = self.stride, self.padding
        Ho, Wo = grad.shape[2:]
        self.dW = np.einsum("nohw,nchwij->ocij", grad, self.patches, optimize=True)
        self.db = grad.sum(axis=(0, 2, 3))
        # Each patch pixel's gradient, then added back onto the pixel it was read from:
        # overlapping windows (stride < kernel) add up.
        dpatches = np.einsum("nohw,ocij->nchwij", grad, self.W, optimize=True)
        dxp = np.zeros((N, C, H + 2 * p, W + 2 * p), dtype=dpatches.dtype)
        for i in range(kH):
            for j in range(kW):
                dxp[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += dpatches[..., i, j]
        return dxp[:, :, p : p + H, p : p + W]  # drop the padding


class ReLU:
    """max(x, 0), elementwise; any shape."""

    def forward(self, x):
        self.dead = x <= 0  # ReLU'(0) = 0, as in torch; NaN is not <= 0, so it passes
        return np.maximum(x, 0)  # np.maximum propagates NaN, like torch

    def backward(self, grad):
        return np.where(self.dead, 0, grad)


class MaxPool2D:
    """Max over non-overlapping k x k windows: (N, C, H, W) -> (N, C, H // k, W // k).

    Floor mode: leftover rows and columns (H % k, W % k) are dropped.
    """

    def __init__(self, kernel_size=2, stride=None):
        if stride is not None and stride != kernel_size:
            raise NotImplementedError("overlapping or gapped windows are not supported")
        self.k = kernel_size

    def forward(self, x):
        N, C, H, W = x.shape
        k = self.k
        Ho, Wo = H // k, W // k
        windows = x[:, :, : Ho * k, : Wo * k].reshape(N, C, Ho, k, Wo, k)  # (N, C, Ho, k, Wo, k)
        out = windows.max(axis=(3, 5))  # np.max propagates NaN, like torch
        # THE SEED'S BUG, kept on purpose: every tied maximum is a winner, and in a
        # window holding NaN nothing is (NaN == NaN is False).
        self.mask = windows == out[:, :, :, None, :, None]
        self.x_shape = x.shape
        return out

    def backward(self, grad):
        N, C, H, W = self.x_shape
        k = self.k
        _, _, Ho, Wo = grad.shape
        # np.where, not mask * grad: a non-winner gets 0 even where grad is inf or NaN.
        dwin = np.where(self.mask, grad[:, :, :, None, :, None], 0)  # (N, C, Ho, k, Wo, k)
        dx = np.zeros(self.x_shape, dtype=grad.dtype)  # the dropped rows/cols get 0
        dx[:, :, : Ho * k, : Wo * k] = dwin.reshape(N, C, Ho * k, Wo * k)
        return dx


class Flatten:
    """(N, C, H, W) -> (N, C*H*W), C order (as torch's flatten)."""

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], -1).copy()  # a copy: writes to it never reach x

    def backward(self, grad):
        return grad.reshape(self.x_shape).copy()


class Dense:
    """y = x @ W.T + b: x (N, in) -> y (N, out); W (out, in), b (out,), torch's layout."""

    def __init__(self, in_features, out_features, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.W = rng.standard_normal((out_features, in_features)) * np.sqrt(2.0 / in_features)
        self.b = np.zeros(out_features)

    def forward(self, x):
        self.x = x.copy()  # our own copy: the caller may reuse its buffer before backward
        return x @ self.W.T + self.b

    def backward(self, grad):
        """grad: dL/dy (N, out). Sets dW, db (summed over the batch), returns dL/dx."""
        self.dW = grad.T @ self.x  # (out, in)
        self.db = grad.sum(axis=0)
        return grad @ self.W  # (N, in)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) (N, K) against integer labels (N,)."""

    def forward(self, logits, labels):
        N = logits.shape[0]
        # Subtract each row's max first: exp never overflows (finite at logits of 1e4).
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs, self.labels = np.exp(log_probs), np.asarray(labels)
        return float(-log_probs[np.arange(N), self.labels].mean())

    def backward(self):
        """dL/dlogits = (softmax - onehot) / N, (N, K)."""
        N = self.probs.shape[0]
        grad = self.probs.copy()
        grad[np.arange(N), self.labels] -= 1
        return grad / N


class Adam:
    """Adam (torch's algorithm, no weight decay), updating the arrays of `params` in place.

    m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
    p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads):
        """grads: one array per parameter, in the order of `params`."""
        b1, b2 = self.betas
        self.t += 1  # once per step, not once per parameter
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)  # in place: p is the caller's
