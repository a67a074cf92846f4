"""A small CNN that sees one (H, W, C) image at a time and learns inside backward.

The style of many blog-post CNNs: no batch axis, channels last, and each layer's
backward(d_out, learn_rate) applies its own SGD step and returns the input gradient.
"""

import numpy as np


class Conv:
    """Valid 'convolution' (a cross-correlation), stride 1, no bias; filters (O, k, k, C)."""

    def __init__(self, n_filters, size, channels):
        self.n, self.k = n_filters, size
        self.filters = (
            np.random.default_rng(0).standard_normal((n_filters, size, size, channels)) / size**2
        )

    def forward(self, image):
        self.image = image
        H, W, _ = image.shape
        k = self.k
        out = np.zeros((H - k + 1, W - k + 1, self.n))
        for i in range(H - k + 1):
            for j in range(W - k + 1):
                out[i, j] = np.sum(image[i : i + k, j : j + k] * self.filters, axis=(1, 2, 3))
        return out

    def backward(self, d_out, learn_rate):
        k = self.k
        d_filters = np.zeros(self.filters.shape)
        d_image = np.zeros(self.image.shape)
        for i in range(d_out.shape[0]):
            for j in range(d_out.shape[1]):
                patch = self.image[i : i + k, j : j + k]
                d_filters += d_out[i, j][:, None, None, None] * patch
                d_image[i : i + k, j : j + k] += np.tensordot(d_out[i, j], self.filters, 1)
        self.filters -= learn_rate * d_filters
        return d_image


class ReLU:
    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0)

    def backward(self, d_out, learn_rate):
        return d_out * (self.x > 0)


class MaxPool:
    """Non-overlapping size x size windows."""

    def __init__(self, size=2):
        self.size = size

    def forward(self, image):
        self.image = image
        s = self.size
        H, W, C = image.shape
        out = np.zeros((H // s, W // s, C), dtype=image.dtype)
        for i in range(H // s):
            for j in range(W // s):
                out[i, j] = np.amax(image[i * s : i * s + s, j * s : j * s + s], axis=(0, 1))
        self.out = out
        return out

    def backward(self, d_out, learn_rate):
        s = self.size
        d_image = np.zeros_like(self.image)
        for i in range(d_out.shape[0]):
            for j in range(d_out.shape[1]):
                window = self.image[i * s : i * s + s, j * s : j * s + s]
                mask = window == self.out[i, j]
                d_image[i * s : i * s + s, j * s : j * s + s] = mask * d_out[i, j]
        return d_image


class Flatten:
    def forward(self, image):
        self.shape = image.shape
        return image.ravel()

    def backward(self, d_out, learn_rate):
        return d_out.reshape(self.shape)


class Dense:
    """weights (in, out), biases (out,)."""

    def __init__(self, n_in, n_out):
        self.weights = np.random.default_rng(0).standard_normal((n_in, n_out)) / n_in
        self.biases = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.weights + self.biases

    def backward(self, d_out, learn_rate):
        d_x = self.weights @ d_out
        self.weights -= learn_rate * np.outer(self.x, d_out)
        self.biases -= learn_rate * d_out
        return d_x


class SoftmaxCrossEntropy:
    def forward(self, logits, label):
        shifted = logits - np.max(logits)
        exp = np.exp(shifted)
        self.probs = exp / np.sum(exp)
        self.label = label
        return -np.log(self.probs[label])

    def backward(self):
        grad = self.probs.copy()
        grad[self.label] -= 1
        return grad
