"""A Keras-like model: layer objects stacked in a Sequential, channels last (N, H, W, C),
kernels (kh, kw, C_in, filters), dense kernels (in, units). Each layer collects its
gradients in `grads` over a batch; the model applies them and clears them after each
step.
"""

# ruff: noqa: NPY002 (the global np.random, as such code is written)

import numpy as np


class Layer:
    def __init__(self):
        self.weights, self.grads = {}, {}

    def build(self, input_shape):
        pass

    def zero_grads(self):
        for g in self.grads.values():
            g[...] = 0


class Conv2D(Layer):
    def __init__(self, filters, kernel_size, strides=1, padding=0):
        super().__init__()
        self.filters, self.k, self.strides, self.padding = filters, kernel_size, strides, padding

    def build(self, input_shape):
        c = input_shape[-1]
        scale = np.sqrt(2 / (self.k * self.k * c))
        self.weights = {
            "kernel": scale * np.random.randn(self.k, self.k, c, self.filters),
            "bias": np.zeros(self.filters),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.weights.items()}

    def call(self, x):
        p, k = self.padding, self.k
        self.xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        N, H, W, _ = self.xp.shape
        Ho, Wo = H - k + 1, W - k + 1
        kernel = self.weights["kernel"]
        out = np.zeros((N, Ho, Wo, self.filters), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                out += self.xp[:, i : i + Ho, j : j + Wo, :] @ kernel[i, j]
        return out + self.weights["bias"]

    def backward(self, dy):
        k = self.k
        Ho, Wo = dy.shape[1:3]
        kernel = self.weights["kernel"]
        dxp = np.zeros_like(self.xp)
        for i in range(k):
            for j in range(k):
                patch = self.xp[:, i : i + Ho, j : j + Wo, :]
                self.grads["kernel"][i, j] += np.einsum("nhwc,nhwf->cf", patch, dy)
                dxp[:, i : i + Ho, j : j + Wo, :] += dy @ kernel[i, j].T
        self.grads["bias"] += dy.sum(axis=(0, 1, 2))
        p = self.padding
        return dxp[:, p : dxp.shape[1] - p, p : dxp.shape[2] - p, :]


class MaxPooling2D(Layer):
    def __init__(self, pool_size=2, strides=None):
        super().__init__()
        self.k, self.s = pool_size, strides or pool_size

    def call(self, x):
        self.x = x
        k, s = self.k, self.s
        N, H, W, C = x.shape
        Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
        out = np.zeros((N, Ho, Wo, C), dtype=x.dtype)
        self.argmax = np.zeros((N, Ho, Wo, C), dtype=int)
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, i * s : i * s + k, j * s : j * s + k, :].reshape(N, k * k, C)
                self.argmax[:, i, j] = window.argmax(axis=1)
                out[:, i, j] = window.max(axis=1)
        return out

    def backward(self, dy):
        k, s = self.k, self.s
        N, Ho, Wo, C = dy.shape
        dx = np.zeros_like(self.x)
        n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
        for i in range(Ho):
            for j in range(Wo):
                a, b = np.divmod(self.argmax[:, i, j], k)
                dx[n, i * s + a, j * s + b, c] = dy[:, i, j]
        return dx


class Flatten(Layer):
    def call(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class Dense(Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        n_in = input_shape[-1]
        self.weights = {
            "kernel": np.random.randn(n_in, self.units) * np.sqrt(1 / n_in),
            "bias": np.zeros(self.units),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.weights.items()}

    def call(self, x):
        self.x = x
        return x @ self.weights["kernel"] + self.weights["bias"]

    def backward(self, dy):
        self.grads["kernel"] += self.x.T @ dy
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.weights["kernel"].T


class Activation(Layer):
    def __init__(self, name="relu"):
        super().__init__()
        if name != "relu":
            raise ValueError(f"unknown activation {name}")

    def call(self, x):
        self.x = x
        return np.where(x > 0, x, 0.0)

    def backward(self, dy):
        return np.where(self.x > 0, dy, 0.0)


class SparseCategoricalCrossentropy:
    """The mean cross-entropy of integer labels against logits (from_logits=True)."""

    def __call__(self, y_true, logits):
        logits -= logits.max(axis=-1, keepdims=True)
        e = np.exp(logits)
        self.probs = e / e.sum(axis=-1, keepdims=True)
        self.y_true = y_true
        return -np.mean(np.log(self.probs[np.arange(len(y_true)), y_true]))

    def gradient(self):
        g = self.probs.copy()
        g[np.arange(len(self.y_true)), self.y_true] -= 1
        return g / len(self.y_true)


class Adam:
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon = epsilon
        self.iterations = 0
        self.m, self.v = {}, {}

    def update(self, var, grad):
        self.iterations += 1
        key = id(var)
        if key not in self.m:
            self.m[key], self.v[key] = np.zeros_like(var), np.zeros_like(var)
        t = self.iterations
        self.m[key] = self.beta_1 * self.m[key] + (1 - self.beta_1) * grad
        self.v[key] = self.beta_2 * self.v[key] + (1 - self.beta_2) * grad**2
        m_hat = self.m[key] / (1 - self.beta_1**t)
        v_hat = self.v[key] / (1 - self.beta_2**t)
        var -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)

    def apply_gradients(self, grads_and_vars):
        for grad, var in grads_and_vars:
            self.update(var, grad)


class Sequential:
    def __init__(self, layers, loss, optimizer):
        self.layers, self.loss, self.optimizer = layers, loss, optimizer

    def train_on_batch(self, x, y):
        for layer in self.layers:
            if not layer.weights:
                layer.build(x.shape)
            x = layer.call(x)
        loss = self.loss(y, x)
        dy = self.loss.gradient()
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        for layer in self.layers:
            pairs = [(layer.grads[k], layer.weights[k]) for k in layer.weights]
            self.optimizer.apply_gradients(pairs)
            layer.zero_grads()
        return loss
