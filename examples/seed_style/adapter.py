"""The suite's adapter (the contract of issue 11) for seed_cnn.py, the seed's own style.

The seed's classes already use torch's layouts; this only copies the weights it is
given into the layers and reports their gradients as `grads`.
"""

import numpy as np
from seed_cnn import (
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    SoftmaxCrossEntropy,
)

name = "seed_style"
dtypes = ("float64", "float32")


class _Layer:
    """A seed layer with `grads` = {"weight": dW, "bias": db} after backward."""

    def __init__(self, layer, weight, bias):
        self.layer, self.has_bias = layer, bias is not None
        layer.W = np.array(weight, copy=True)  # copies: the suite's arrays stay untouched
        # No bias: a zero bias, whose gradient is not reported.
        if self.has_bias:
            layer.b = np.array(bias, copy=True)
        else:
            layer.b = np.zeros(weight.shape[0], dtype=weight.dtype)

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        self.grads = {"weight": self.layer.dW}
        if self.has_bias:
            self.grads["bias"] = self.layer.db
        return dx


def conv2d(weight, bias, stride, padding):
    O, C, k, _ = weight.shape
    return _Layer(Conv2D(C, O, k, stride, padding), weight, bias)


def linear(weight, bias):
    out_features, in_features = weight.shape
    return _Layer(Dense(in_features, out_features), weight, bias)


def relu():
    return ReLU()


def maxpool2d(kernel_size, stride):
    return MaxPool2D(kernel_size, stride)


def flatten():
    return Flatten()


def cross_entropy():
    return SoftmaxCrossEntropy()


def adam(params, lr, betas, eps):
    return Adam(params, lr, betas, eps)  # holds the suite's arrays: steps update them in place
