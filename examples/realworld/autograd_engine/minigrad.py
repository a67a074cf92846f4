"""A tiny reverse-mode autograd engine over NumPy arrays, with a Linear module and Adam."""

import numpy as np


class Tensor:
    def __init__(self, data, parents=(), backward=lambda: None):
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)
        self._parents, self._backward = parents, backward

    def backward(self, grad=None):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for p in node._parents:
                    visit(p)
                order.append(node)

        visit(self)
        self.grad = np.ones_like(self.data) if grad is None else grad
        for node in reversed(order):
            node._backward()

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other))

        def backward():
            self.grad += out.grad @ other.data.T
            other.grad += self.data.T @ out.grad

        out._backward = backward
        return out

    def __add__(self, other):  # other broadcast along the rows
        out = Tensor(self.data + other.data, (self, other))

        def backward():
            self.grad += out.grad
            other.grad += out.grad.sum(axis=0)

        out._backward = backward
        return out

    @property
    def T(self):
        out = Tensor(self.data.T, (self,))

        def backward():
            self.grad += out.grad.T

        out._backward = backward
        return out

    def reshape(self, *shape):
        out = Tensor(self.data.reshape(*shape), (self,))

        def backward():
            self.grad += out.grad.reshape(self.data.shape)

        out._backward = backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), (self,))

        def backward():
            self.grad += out.grad * (self.data > 0)

        out._backward = backward
        return out

    def cross_entropy(self, labels):
        z = self.data
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(labels)
        out = Tensor(-log_p[np.arange(n), labels].mean(), (self,))

        def backward():
            g = np.exp(log_p)
            g[np.arange(n), labels] -= 1
            self.grad += g / n * out.grad

        out._backward = backward
        return out


class Linear:
    def __init__(self, n_in, n_out, bias=True):
        rng = np.random.default_rng(0)
        self.weight = Tensor(rng.standard_normal((n_out, n_in)) / n_in**0.5)
        self.bias = Tensor(np.zeros(n_out)) if bias else None

    def __call__(self, x):
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def parameters(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]


class Adam:
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p in self.params:
            m, v = np.zeros_like(p.data), np.zeros_like(p.data)
            m = b1 * m + (1 - b1) * p.grad
            v = b2 * v + (1 - b2) * p.grad**2
            m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
