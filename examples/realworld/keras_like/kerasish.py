"""A Keras-like Sequential on NHWC arrays: Conv2D kernels (kh, kw, in, out), Dense
kernels (in, out), a softmax head with a clipped categorical cross-entropy, and Adam."""

import numpy as np


class Layer:
    params: tuple = ()

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError


class Conv2D(Layer):
    params = ("kernel", "bias")

    def __init__(self, kernel, bias, strides=1):
        self.kernel, self.bias, self.strides = kernel, bias, strides

    def forward(self, x):
        self.x = x
        kh, kw = self.kernel.shape[:2]
        s = self.strides
        flipped = self.kernel[::-1, ::-1]  # "convolution", as in the textbook
        Ho, Wo = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
        out = np.zeros((x.shape[0], Ho, Wo, self.kernel.shape[3]), dtype=x.dtype)
        for i in range(Ho):
            for j in range(Wo):
                patch = x[:, i * s : i * s + kh, j * s : j * s + kw, :]
                out[:, i, j, :] = np.tensordot(patch, flipped, axes=([1, 2, 3], [0, 1, 2]))
        return out + self.bias

    def backward(self, dy):
        kh, kw = self.kernel.shape[:2]
        s = self.strides
        flipped = self.kernel[::-1, ::-1]
        dx, dflipped = np.zeros_like(self.x), np.zeros_like(self.kernel)
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                patch = self.x[:, i * s : i * s + kh, j * s : j * s + kw, :]
                dflipped += np.tensordot(patch, dy[:, i, j, :], axes=(0, 0))
                dx[:, i * s : i * s + kh, j * s : j * s + kw, :] += np.tensordot(
                    dy[:, i, j, :], flipped, axes=(1, 3)
                )
        self.grads = {"kernel": dflipped[::-1, ::-1], "bias": dy.sum(axis=(0, 1, 2))}
        return dx


class ReLU(Layer):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return np.where(self.x < 0, 0, dy)


class MaxPooling2D(Layer):
    def __init__(self, pool_size=2, strides=None):
        self.p, self.s = pool_size, strides or pool_size

    def forward(self, x):
        self.x = x
        p, s = self.p, self.s
        n = (x.shape[1] - p) // s + 1
        out = np.zeros((x.shape[0], n, n, x.shape[3]), dtype=x.dtype)
        self.arg = np.zeros(out.shape, dtype=int)
        for i in range(n):
            for j in range(n):
                window = x[:, i * s : i * s + p, j * s : j * s + p, :].reshape(
                    x.shape[0], -1, x.shape[3]
                )
                self.arg[:, i, j, :] = window.argmax(axis=1)
                out[:, i, j, :] = window.max(axis=1)
        return out

    def backward(self, dy):
        dx = np.zeros_like(self.x)
        for b in range(dy.shape[0]):
            for i in range(dy.shape[1]):
                for j in range(dy.shape[2]):
                    for c in range(dy.shape[3]):
                        r, q = divmod(self.arg[b, i, j, c], self.p)
                        dx[b, i * self.s + r, j * self.s + q, c] += dy[b, i, j, c]
        return dx


class Flatten(Layer):
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dense(Layer):
    params = ("kernel", "bias")

    def __init__(self, kernel, bias):
        self.kernel, self.bias = kernel, bias

    def forward(self, x):
        self.x = x
        return x @ self.kernel + self.bias

    def backward(self, dy):
        self.grads = {"kernel": self.x.T @ dy, "bias": dy.sum(axis=0)}
        return dy @ self.kernel.T


class SoftmaxCategoricalCrossentropy:
    epsilon = 1e-7

    def forward(self, logits, labels):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.p, self.labels = e / e.sum(axis=1, keepdims=True), labels
        clipped = np.clip(self.p, self.epsilon, 1 - self.epsilon)
        return -np.mean(np.log(clipped[np.arange(len(labels)), labels]))

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.labels)), self.labels] -= 1
        return g / len(self.labels)


class Adam:
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.lr, self.b1, self.b2, self.eps = learning_rate, beta_1, beta_2, epsilon
        self.m, self.v = {}, {}

    def apply_gradients(self, grads_and_vars):
        for i, (g, var) in enumerate(grads_and_vars):
            m = self.m.setdefault(i, np.zeros_like(var))
            v = self.v.setdefault(i, np.zeros_like(var))
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            var -= self.lr * m / (np.sqrt(v) + self.eps)


class Sequential:
    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy
