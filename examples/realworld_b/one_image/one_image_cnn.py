"""A small CNN that sees one image at a time, channels last (H, W, C), and learns inside
backward: each layer's backward(d_out, learn_rate) takes its own SGD step and returns the
gradient for the layer below. The manner of the blog-post CNNs that train on MNIST one
image per step.
"""

# ruff: noqa: NPY002 (the global np.random, as such code is written)

import numpy as np


class Conv:
    """Valid convolution (stride 1, no padding, no bias): (H, W, C) -> (H-k+1, W-k+1, F),
    with F filters of k x k x C kept as (F, k, k, C)."""

    def __init__(self, num_filters, size, channels):
        self.num_filters, self.size = num_filters, size
        self.filters = np.random.randn(num_filters, size, size, channels) / (size * size)

    def regions(self, image):
        h, w, _ = image.shape
        for i in range(h - self.size + 1):
            for j in range(w - self.size + 1):
                yield i, j, image[i : i + self.size, j : j + self.size]

    def forward(self, image):
        self.last_input = image
        h, w, _ = image.shape
        out = np.zeros((h - self.size + 1, w - self.size + 1, self.num_filters))
        for i, j, region in self.regions(image):
            out[i, j] = np.sum(region * self.filters, axis=(1, 2, 3))
        return out

    def backward(self, d_out, learn_rate):
        d_filters = np.zeros(self.filters.shape)
        d_input = np.zeros(self.last_input.shape)
        k = self.size
        for i, j, region in self.regions(self.last_input):
            d_filters += d_out[i, j][:, None, None, None] * region
            d_input[i : i + k, j : j + k] += np.tensordot(d_out[i, j], self.filters, axes=1)
        self.filters -= learn_rate * d_filters
        return d_input


class ReLU:
    def forward(self, x):
        self.last_input = x
        return np.where(x > 0, x, 0)

    def backward(self, d_out, learn_rate):
        return d_out * (self.last_input > 0)


class MaxPool:
    """size x size windows, stride size: (H, W, C) -> (H // size, W // size, C)."""

    def __init__(self, size=2):
        self.size = size

    def windows(self, image):
        s = self.size
        for i in range(image.shape[0] // s):
            for j in range(image.shape[1] // s):
                yield i, j, image[i * s : (i + 1) * s, j * s : (j + 1) * s]

    def forward(self, image):
        self.last_input = image
        h, w, c = image.shape
        out = np.zeros((h // self.size, w // self.size, c), dtype=image.dtype)
        for i, j, window in self.windows(image):
            out[i, j] = np.amax(window, axis=(0, 1))
        return out

    def backward(self, d_out, learn_rate):
        d_input = np.zeros_like(self.last_input)
        s = self.size
        for i, j, window in self.windows(self.last_input):
            top = np.amax(window, axis=(0, 1))
            # every pixel equal to its channel's maximum receives the gradient
            d_input[i * s : (i + 1) * s, j * s : (j + 1) * s] = (window == top) * d_out[i, j]
        return d_input


class Flatten:
    def forward(self, x):
        self.last_shape = x.shape
        return x.flatten()

    def backward(self, d_out, learn_rate):
        return d_out.reshape(self.last_shape)


class Dense:
    """x (n_in,) -> x @ weights + biases, weights (n_in, n_out)."""

    def __init__(self, n_in, n_out):
        self.weights = np.random.randn(n_in, n_out) / n_in
        self.biases = np.zeros(n_out)

    def forward(self, x):
        self.last_input = x
        return x @ self.weights + self.biases

    def backward(self, d_out, learn_rate):
        d_input = self.weights @ d_out
        self.weights -= learn_rate * np.outer(self.last_input, d_out)
        self.biases -= learn_rate * d_out
        return d_input


class SoftmaxCrossEntropy:
    """The loss of one image: -log of the softmax probability of its label."""

    def forward(self, logits, label):
        exp = np.exp(logits)
        self.probs = exp / np.sum(exp)
        self.label = label
        return -np.log(self.probs[label])

    def backward(self):
        grad = self.probs.copy()
        grad[self.label] -= 1
        return grad
