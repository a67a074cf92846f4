"""A tiny autograd engine over NumPy arrays: each Tensor remembers the tensors it was made
from and a closure that sends its gradient back to them; backward() runs the closures
in reverse topological order. Everything is float64.
"""

import numpy as np


class Tensor:
    def __init__(self, data, parents=(), op=""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = parents
        self._backward = lambda: None
        self.op = op

    @property
    def shape(self):
        return self.data.shape

    def __add__(self, other):
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += _unbroadcast(out.grad, self.shape)
            other.grad += _unbroadcast(out.grad, other.shape)

        out._backward = _backward
        return out

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward():
            self.grad += out.grad @ other.data.T
            other.grad += self.data.T @ out.grad

        out._backward = _backward
        return out

    def T(self):
        out = Tensor(self.data.T, (self,), "T")

        def _backward():
            self.grad += out.grad.T

        out._backward = _backward
        return out

    def reshape(self, *shape):
        out = Tensor(self.data.reshape(*shape), (self,), "reshape")

        def _backward():
            self.grad += out.grad.reshape(self.shape)

        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), (self,), "relu")

        def _backward():
            self.grad += (self.data >= 0) * out.grad

        out._backward = _backward
        return out

    def backward(self, grad=None):
        order, seen = [], set()

        def visit(t):
            if id(t) not in seen:
                seen.add(id(t))
                for p in t._parents:
                    visit(p)
                order.append(t)

        visit(self)
        self.grad = np.ones_like(self.data) if grad is None else np.asarray(grad, np.float64)
        for t in reversed(order):
            t._backward()


def _unbroadcast(grad, shape):
    """Sum a broadcast gradient back down to `shape`."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def conv2d(x, w, b=None, stride=1, padding=0):
    """The 2-D convolution of x (N, C, H, W) with w (O, C, k, k): the kernel is turned by
    180 degrees, as in the textbook definition, and slid with `stride` over x padded."""
    kernel = w.data[:, :, ::-1, ::-1]
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.pad(x.data, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    taps = [(i, j) for i in range(kh) for j in range(kw)]

    def patch(i, j):  # the input pixels that tap (i, j) of every output position reads
        return xp[:, :, i : i + stride * Ho : stride, j : j + stride * Wo : stride]

    y = sum(np.einsum("nchw,oc->nohw", patch(i, j), kernel[:, :, i, j]) for i, j in taps)
    if b is not None:
        y = y + b.data[None, :, None, None]
    out = Tensor(y, (x, w) if b is None else (x, w, b), "conv2d")

    def _backward():
        g = out.grad
        dxp = np.zeros_like(xp)
        dkernel = np.zeros_like(kernel)
        for i, j in taps:
            dkernel[:, :, i, j] = np.einsum("nohw,nchw->oc", g, patch(i, j))
            rows = slice(i, i + stride * Ho, stride)
            cols = slice(j, j + stride * Wo, stride)
            dxp[:, :, rows, cols] += np.einsum("nohw,oc->nchw", g, kernel[:, :, i, j])
        x.grad += dxp[:, :, padding : padding + H, padding : padding + W]
        w.grad += dkernel[:, :, ::-1, ::-1]
        if b is not None:
            b.grad += g.sum(axis=(0, 2, 3))

    out._backward = _backward
    return out


def max_pool2d(x, k):
    """k x k windows, stride k (rows and columns past the last whole window dropped).
    A window's gradient is shared among its maxima."""
    N, C, H, W = x.shape
    Ho, Wo = H // k, W // k
    blocks = x.data[:, :, : Ho * k, : Wo * k].reshape(N, C, Ho, k, Wo, k)
    top = blocks.max(axis=(3, 5))
    out = Tensor(top, (x,), "maxpool")

    def _backward():
        hits = blocks == top[:, :, :, None, :, None]
        share = hits / hits.sum(axis=(3, 5), keepdims=True)
        g = share * out.grad[:, :, :, None, :, None]
        x.grad[:, :, : Ho * k, : Wo * k] += g.reshape(N, C, Ho * k, Wo * k)

    out._backward = _backward
    return out


def cross_entropy(logits, labels):
    """The summed negative log-likelihood of the labels under softmax(logits)."""
    e = np.exp(logits.data)
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    out = Tensor(-np.sum(np.log(p[rows, labels])), (logits,), "cross_entropy")

    def _backward():
        g = p.copy()
        g[rows, labels] -= 1
        logits.grad += g * out.grad

    out._backward = _backward
    return out


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = list(params), lr, betas, eps
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = np.zeros_like(p.data)

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * p.grad
            v *= b2
            v += (1 - b2) * p.grad**2
            m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
