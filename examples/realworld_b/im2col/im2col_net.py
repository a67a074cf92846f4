"""A vectorised CNN: convolution as one matrix product over patches gathered with index
arrays (im2col), scattered back with np.add.at (col2im). NCHW, conv weights
(O, C, kh, kw), dense weights (in, out), plain SGD.
"""

import numpy as np


def patch_indices(C, H, W, kh, kw, pad=0, stride=1):
    """Index arrays (channel, row, col), each (C*kh*kw, Ho*Wo), into the padded input: entry
    [r, p] is the pixel that kernel tap r reads for output position p."""
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    c, di, dj = np.meshgrid(np.arange(C), np.arange(kh), np.arange(kw), indexing="ij")
    oi, oj = np.meshgrid(np.arange(Ho) * stride, np.arange(Wo) * stride, indexing="ij")
    rows = di.reshape(-1, 1) + oi.reshape(1, -1)
    cols = dj.reshape(-1, 1) + oj.reshape(1, -1)
    return c.reshape(-1, 1), rows, cols


def im2col(x, kh, kw, pad=0, stride=1):
    """(N, C, H, W) -> patches (N, C*kh*kw, Ho*Wo)."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    c, rows, cols = patch_indices(C, H, W, kh, kw, pad, stride)
    return xp[:, c, rows, cols]


def col2im(patches, x_shape, kh, kw, pad=0, stride=1):
    """The adjoint of im2col: patches (N, C*kh*kw, Ho*Wo) summed back into (N, C, H, W)."""
    N, C, H, W = x_shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=patches.dtype)
    c, rows, cols = patch_indices(C, H, W, kh, kw, pad, stride)
    np.add.at(xp, (slice(None), c, rows, cols), patches)
    return xp[:, :, pad : pad + H, pad : pad + W]


class Conv:
    def __init__(self, weight, bias, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = weight, bias, stride, pad

    def forward(self, x):
        O, C, kh, kw = self.W.shape
        N, _, H, W = x.shape
        self.x_shape = x.shape
        self.patches = im2col(x, kh, kw, self.pad, self.stride)
        y = self.W.reshape(O, -1) @ self.patches  # (N, O, Ho*Wo)
        Ho, Wo = (
            (H + 2 * self.pad - kh) // self.stride + 1,
            (W + 2 * self.pad - kw) // self.stride + 1,
        )
        return (y + self.b[:, None]).reshape(N, O, Ho, Wo)

    def backward(self, dy):
        O, C, kh, kw = self.W.shape
        N = dy.shape[0]
        dy = dy.reshape(N, O, -1)
        self.dW = np.einsum("nop,nrp->or", dy, self.patches).reshape(self.W.shape)
        self.db = dy.sum(axis=(0, 2))
        dpatches = self.W.reshape(O, -1).T @ dy  # (N, C*kh*kw, Ho*Wo)
        return col2im(dpatches, self.x_shape, kh, kw, self.pad)


class MaxPool:
    def __init__(self, size=2, stride=2):
        self.size, self.stride = size, stride

    def forward(self, x):
        k, s = self.size, self.stride
        N, C, H, W = x.shape
        out = (H - k) // s + 1  # output rows and columns
        _, rows, cols = patch_indices(1, out * s + k - s, out * s + k - s, k, k, 0, s)
        windows = x[:, :, rows, cols]  # (N, C, k*k, out*out)
        self.x_shape, self.rows, self.cols = x.shape, rows, cols
        self.arg = windows.argmax(axis=2)
        return windows.max(axis=2).reshape(N, C, out, out)

    def backward(self, dy):
        N, C = dy.shape[:2]
        dx = np.zeros(self.x_shape, dtype=dy.dtype)
        p = np.arange(self.arg.shape[-1])
        n, c, _ = np.indices(self.arg.shape)
        np.add.at(dx, (n, c, self.rows[self.arg, p], self.cols[self.arg, p]), dy.reshape(N, C, -1))
        return dx


class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        dx = dy.copy()
        dx[self.x <= 0] = 0
        return dx


class Flatten:
    """(N, C, H, W) -> (N, features), features ordered for the dense layer."""

    def forward(self, x):
        self.shape = x.shape
        return x.transpose(0, 3, 2, 1).reshape(len(x), -1)

    def backward(self, dy):
        N, C, H, W = self.shape
        return dy.reshape(N, W, H, C).transpose(0, 3, 2, 1)


class Dense:
    """x (N, in) @ W (in, out) + b."""

    def __init__(self, n_in, n_out):
        self.W, self.b = np.zeros((n_in, n_out)), np.zeros(n_out)

    def load_torch(self, weight, bias):
        """Take a torch Linear's weight (out, in) and bias."""
        self.W = weight.reshape(self.W.shape).copy()
        self.b = bias.copy()

    def torch_grads(self):
        return self.dW.reshape(self.W.shape[::-1]), self.db

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dy):
        self.dW = self.x.T @ dy
        self.db = dy.sum(axis=0)
        return dy @ self.W.T


class SoftmaxCrossEntropy:
    """Softmax of the logits and the cross-entropy of the one-hot labels."""

    def forward(self, logits, labels):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.p = e / e.sum(axis=1, keepdims=True)
        self.y = np.eye(logits.shape[1], dtype=logits.dtype)[labels]
        y, p = self.y, self.p
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    def backward(self):
        return (self.p - self.y) / len(self.p)


class SGD:
    def __init__(self, params, lr=0.01):
        self.params, self.lr = params, lr

    def step(self, grads):
        for p, g in zip(self.params, grads, strict=True):
            p -= self.lr * g
