"""A small CNN for MNIST in the most common style of public from-scratch code.

Layers are objects with forward(x) and backward(grad) that keep their own inputs;
dense weights are (in, out), so that forward is x @ W + b; the classifier ends in a
Softmax layer followed by a cross-entropy on its probabilities; the dense head may use
a Sigmoid; training is SGD with momentum in the velocity form v = mu v - lr g, w += v.
Everything is batched NCHW and computes in the dtype of its input.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Conv2D:
    """Cross-correlation of (N, C, H, W) inputs with filters (F, C, k, k)."""

    def __init__(self, filters, bias, stride=1, padding=0):
        self.filters, self.bias = filters, bias
        self.stride, self.padding = stride, padding

    def forward(self, x):
        s, p, k = self.stride, self.padding, self.filters.shape[2]
        self.x_shape = x.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        # windows: (N, C, Ho, Wo, k, k), every stride-th one
        self.windows = sliding_window_view(self.xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        out = np.einsum("nchwij,fcij->nfhw", self.windows, self.filters)
        if self.bias is not None:
            out = out + self.bias[None, :, None, None]
        return out

    def backward(self, grad):
        s, p, k = self.stride, self.padding, self.filters.shape[2]
        Ho, Wo = grad.shape[2:]
        self.d_filters = np.einsum("nfhw,nchwij->fcij", grad, self.windows)
        self.d_bias = grad.sum(axis=(0, 2, 3))
        dxp = np.zeros_like(self.xp)
        for i in range(k):
            for j in range(k):
                dxp[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += np.einsum(
                    "nfhw,fc->nchw", grad, self.filters[:, :, i, j]
                )
        H, W = self.x_shape[2:]
        return dxp[:, :, p : p + H, p : p + W]


class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, grad):
        grad = grad.copy()
        grad[self.x <= 0] = 0
        return grad


class Sigmoid:
    def forward(self, x):
        with np.errstate(over="ignore"):  # exp(1000) is inf: the output is then exactly 0
            self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, grad):
        return grad * self.out * (1 - self.out)


class MaxPool2D:
    """Max over k x k windows with the given stride; the gradient goes to the first
    maximum of each window (np.argmax), as torch's does, or to its last NaN."""

    def __init__(self, size=2, stride=2):
        self.size, self.stride = size, stride

    def forward(self, x):
        k, s = self.size, self.stride
        self.x_shape = x.shape
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        flat = windows.reshape(*windows.shape[:4], k * k)  # (N, C, Ho, Wo, k*k)
        self.argmax = flat.argmax(axis=-1)  # the first maximum, or the first NaN
        nan = np.isnan(flat)
        last_nan = k * k - 1 - nan[..., ::-1].argmax(axis=-1)
        self.argmax = np.where(nan.any(axis=-1), last_nan, self.argmax)  # torch: the last NaN
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, grad):
        k, s = self.size, self.stride
        dx = np.zeros(self.x_shape, dtype=grad.dtype)
        Ho, Wo = grad.shape[2:]
        for i in range(k):
            for j in range(k):
                hit = self.argmax == i * k + j
                dx[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += grad * hit
        return dx


class Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self.shape)


class Dense:
    """y = x @ W + b with W of shape (in, out)."""

    def __init__(self, weights, bias):
        self.weights, self.bias = weights, bias

    def forward(self, x):
        self.x = x
        out = x @ self.weights
        return out if self.bias is None else out + self.bias

    def backward(self, grad):
        self.d_weights = self.x.T @ grad
        self.d_bias = grad.sum(axis=0)
        return grad @ self.weights.T


class Softmax:
    def forward(self, x):
        exps = np.exp(x - x.max(axis=1, keepdims=True))
        self.out = exps / exps.sum(axis=1, keepdims=True)
        return self.out

    def backward(self, grad):
        # Each row's Jacobian diag(p) - p p^T, applied to that row's gradient.
        p = self.out
        jacobians = np.einsum("ni,ij->nij", p, np.eye(p.shape[1], dtype=p.dtype))
        jacobians -= np.einsum("ni,nj->nij", p, p)
        return np.einsum("nij,nj->ni", jacobians, grad)


class CrossEntropy:
    """The mean of -log p[label] over the batch, p the Softmax layer's output."""

    def forward(self, probs, labels):
        self.probs, self.labels = probs, labels
        rows = np.arange(len(labels))
        with np.errstate(divide="ignore"):
            return float(-np.mean(np.log(probs[rows, labels])))

    def backward(self):
        rows = np.arange(len(self.labels))
        grad = np.zeros_like(self.probs)
        with np.errstate(divide="ignore"):
            grad[rows, self.labels] = -1 / self.probs[rows, self.labels]
        return grad / len(self.labels)


class SGD:
    """SGD with momentum, velocity form: v = momentum * v - lr * g; w += v."""

    def __init__(self, params, lr=0.01, momentum=0.9):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocities = [np.zeros_like(w) for w in params]

    def step(self, grads):
        for w, v, g in zip(self.params, self.velocities, grads, strict=True):
            v *= self.momentum
            v -= self.lr * g
            w += v
