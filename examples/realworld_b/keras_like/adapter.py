"""Adapter for sequential.py, a Keras-like model: NCHW <-> NHWC, kernels to and from
torch's layouts, and the model's loss and optimizer as the contract's."""

import numpy as np
from sequential import (
    Activation,
    Adam,
    Conv2D,
    Dense,
    Flatten,
    MaxPooling2D,
    SparseCategoricalCrossentropy,
)

name = "specimen: a Keras-like Sequential"
dtypes = ("float64", "float32")


def _nhwc(x):
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _nchw(x):
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


class _Layer:
    """A layer on torch's layouts; `to_torch` maps its weight names and layouts."""

    def __init__(self, layer, to_torch=None):
        self.layer, self.to_torch = layer, to_torch or {}

    def forward(self, x):
        return _nchw(self.layer.call(_nhwc(x)))

    def backward(self, dy):
        dx = _nchw(self.layer.backward(_nhwc(dy)))
        self.grads = {t: f(self.layer.grads[k]).copy() for k, (t, f) in self.to_torch.items()}
        return dx


def _weights(layer, kernel, bias):
    layer.weights = {"kernel": kernel, "bias": bias}
    layer.grads = {k: np.zeros_like(v) for k, v in layer.weights.items()}


def conv2d(weight, bias, stride, padding):
    O, _, k, _ = weight.shape
    layer = Conv2D(O, k, strides=stride, padding=padding)
    b = np.zeros(O, dtype=weight.dtype) if bias is None else bias.copy()
    _weights(layer, weight.transpose(2, 3, 1, 0).copy(), b)  # (O, C, k, k) -> (k, k, C, O)
    to_torch = {"kernel": ("weight", lambda g: g.transpose(3, 2, 0, 1))}
    if bias is not None:
        to_torch["bias"] = ("bias", lambda g: g)
    return _Layer(layer, to_torch)


def linear(weight, bias):
    layer = Dense(weight.shape[0])
    b = np.zeros(weight.shape[0], dtype=weight.dtype) if bias is None else bias.copy()
    _weights(layer, weight.T.copy(), b)  # (out, in) -> (in, units)
    to_torch = {"kernel": ("weight", lambda g: g.T)}
    if bias is not None:
        to_torch["bias"] = ("bias", lambda g: g)
    return _Layer(layer, to_torch)


def relu():
    return _Layer(Activation("relu"))


def maxpool2d(kernel_size, stride):
    return _Layer(MaxPooling2D(kernel_size, stride))


def flatten():
    return _Layer(Flatten())


class _Loss:
    def forward(self, logits, labels):
        self.loss = SparseCategoricalCrossentropy()
        return float(self.loss(labels, logits))

    def backward(self):
        return self.loss.gradient()


def cross_entropy():
    return _Loss()


class _Adam:
    def __init__(self, params, lr, betas, eps):
        self.params = params
        self.opt = Adam(learning_rate=lr, beta_1=betas[0], beta_2=betas[1], epsilon=eps)

    def step(self, grads):
        self.opt.apply_gradients(list(zip(grads, self.params, strict=True)))


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
