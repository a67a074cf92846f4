"""A small clone of torch.nn and torch.optim on NumPy: Modules with Parameters, torch's
layouts and names, and a hand-written backward for each module."""

# ruff: noqa: NPY002 (the global np.random, as such code is written)

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Parameter:
    def __init__(self, data):
        self.data = data
        self.grad = None


class Module:
    def parameters(self):
        for value in vars(self).values():
            if isinstance(value, Parameter):
                yield value
            elif isinstance(value, Module):
                yield from value.parameters()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def __call__(self, *args):
        return self.forward(*args)


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        bound = 1 / np.sqrt(in_channels * kernel_size * kernel_size)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Parameter(np.random.uniform(-bound, bound, shape))
        self.bias = Parameter(np.random.uniform(-bound, bound, out_channels)) if bias else None
        self.stride, self.padding = stride, padding

    def forward(self, x):
        p, s = self.padding, self.stride
        k = self.weight.data.shape[2:]
        self.x_shape = x.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        self.windows = sliding_window_view(self.xp, k, axis=(2, 3))[:, :, ::s, ::s]
        y = np.einsum("nchwij,ocij->nohw", self.windows, self.weight.data)
        if self.bias is not None:
            y = y + self.bias.data[None, :, None, None]
        return y

    def backward(self, grad):
        p, s = self.padding, self.stride
        w = self.weight.data
        self.weight.grad = np.einsum("nohw,nchwij->ocij", grad, self.windows)
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=(0, 2, 3))
        Ho, Wo = grad.shape[2:]
        dxp = np.zeros_like(self.xp)
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                dxp[:, :, i : i + s * Ho : s, j : j + s * Wo : s] += np.einsum(
                    "nohw,oc->nchw", grad, w[:, :, i, j]
                )
        H, W = self.x_shape[2:]
        return dxp[:, :, p : p + H, p : p + W]


class ReLU(Module):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, grad):
        grad[self.x <= 0] = 0
        return grad


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        self.k, self.s = kernel_size, stride or kernel_size

    def forward(self, x):
        k, s = self.k, self.s
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        N, C, Ho, Wo = windows.shape[:4]
        flat = windows.reshape(N * C * Ho * Wo, k * k)
        top = flat.max(axis=1)
        rows, cols = np.nonzero(flat == top[:, None])
        _, first = np.unique(rows, return_index=True)  # the first maximum of each window
        self.winner = cols[first].reshape(N, C, Ho, Wo)
        self.x_shape = x.shape
        return top.reshape(N, C, Ho, Wo)

    def backward(self, grad):
        k, s = self.k, self.s
        N, C, Ho, Wo = grad.shape
        dx = np.zeros(self.x_shape, dtype=grad.dtype)
        n, c, i, j = np.indices((N, C, Ho, Wo))
        a, b = np.divmod(self.winner, k)
        np.add.at(dx, (n, c, i * s + a, j * s + b), grad)
        return dx


class Flatten(Module):
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self.shape)


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        bound = 1 / np.sqrt(in_features)
        shape = (out_features, in_features)
        self.weight = Parameter(np.random.uniform(-bound, bound, shape))
        self.bias = Parameter(np.random.uniform(-bound, bound, out_features)) if bias else None

    def forward(self, x):
        self.x = x
        y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad):
        self.weight.grad = grad.T @ self.x
        if self.bias is not None:
            self.bias.grad = grad.sum(axis=0)
        return grad @ self.weight.data


class CrossEntropyLoss(Module):
    """The mean over the batch of -log_softmax(logits)[label]."""

    def forward(self, logits, target):
        z = logits - logits.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.probs, self.target = np.exp(log_probs), target
        return -log_probs[np.arange(len(target)), target].mean()

    def backward(self):
        N, K = self.probs.shape
        one_hot = np.zeros((N, K))
        one_hot[np.arange(N), self.target] = 1
        return (self.probs - one_hot) / N


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.state = {}
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            state = self.state.get(i, {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)})
            m = b1 * state["m"] + (1 - b1) * p.grad
            v = b2 * state["v"] + (1 - b2) * p.grad**2
            m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
