"""A batched NCHW CNN built on im2col, with a reshape max-pool and fused softmax loss."""

import numpy as np


def im2col(x, kh, kw, stride, pad):
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i : i + stride * Ho : stride, j : j + stride * Wo : stride]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(N * Ho * Wo, -1), Ho, Wo


def col2im(cols, shape, kh, kw, stride, pad, Ho, Wo):
    N, C, H, W = shape
    cols = cols.reshape(N, Ho, Wo, C, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i : i + stride * Ho : stride, j : j + stride * Wo : stride] += cols[:, :, i, j]
    return xp[:, :, pad : pad + H, pad : pad + W]


class Conv:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        O, _, kh, kw = self.W.shape
        self.shape = x.shape
        self.cols, self.Ho, self.Wo = im2col(x, kh, kw, self.stride, self.pad)
        out = self.cols @ self.W.reshape(O, -1).T + self.b
        return out.reshape(x.shape[0], self.Ho, self.Wo, O).transpose(0, 3, 1, 2)

    def backward(self, dout):
        O, _, kh, kw = self.W.shape
        d = dout.transpose(0, 2, 3, 1).reshape(-1, O)
        self.dW = (d.T @ self.cols).reshape(self.W.shape)
        self.db = d.sum(axis=0)
        dcols = d @ self.W.reshape(O, -1)
        return col2im(dcols, self.shape, kh, kw, self.stride, self.pad, self.Ho, self.Wo)


class MaxPool:
    """size x size windows at stride size, by a reshape (H, W cropped to multiples)."""

    def __init__(self, size):
        self.size = size

    def forward(self, x):
        k = self.size
        N, C, H, W = x.shape
        self.shape, Ho, Wo = x.shape, H // k, W // k
        self.xr = x[:, :, : Ho * k, : Wo * k].reshape(N, C, Ho, k, Wo, k)
        self.out = self.xr.max(axis=(3, 5))
        return self.out

    def backward(self, dout):
        mask = self.xr == self.out[:, :, :, None, :, None]
        share = mask / mask.sum(axis=(3, 5), keepdims=True)
        dxr = share * dout[:, :, :, None, :, None]
        dx = np.zeros(self.shape, dtype=dout.dtype)
        N, C, Ho, k, Wo, _ = self.xr.shape
        dx[:, :, : Ho * k, : Wo * k] = dxr.reshape(N, C, Ho * k, Wo * k)
        return dx


class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        dout[self.x <= 0] = 0
        return dout


class Dense:
    def __init__(self, W, b):
        self.W, self.b = W, b  # W (out, in)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, dout):
        self.dW, self.db = dout.T @ self.x, dout.sum(axis=0)
        return dout @ self.W


class SoftmaxLoss:
    def forward(self, logits, labels):
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        self.p, self.labels = np.exp(log_p), labels
        return -log_p[np.arange(len(labels)), labels].mean()

    def backward(self):
        d = self.p.copy()
        d[np.arange(len(self.labels)), self.labels] -= 1
        return d / len(self.labels)


class Adam:
    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def update(self, grads):
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            m_hat = m / (1 - self.b1**self.t)
            v_hat = v / (1 - self.b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
