"""The suite's adapter for cnn.py: torch's batched NCHW layouts <-> one (H, W, C) image.

cnn.py's layers see one image at a time, channels last, keep their weights in their own
layouts (filters (O, kH, kW, C), dense weights (in, out)) and apply SGD inside backward
instead of returning weight gradients. This module converts all of that.
"""

import numpy as np
from cnn import Conv, Dense, Flatten, MaxPool, ReLU, SoftmaxCrossEntropy

name = "per_sample"
dtypes = ("float64", "float32")


def _hwc(sample):
    return sample.transpose(1, 2, 0)  # one sample (C, H, W) -> (H, W, C)


def _chw(sample):
    return sample.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


def _same(sample):
    return sample


class _Batched:
    """Runs a one-image layer over a batch, converting each sample's layout both ways.

    ``weight`` names the layer's weight attribute (or None); ``grad_to_torch`` maps a
    gradient of it to torch's layout. ``grads["weight"]`` is the sum over the batch.
    """

    def __init__(self, layer, to_impl, to_torch, weight=None, grad_to_torch=None):
        self.layer, self.to_impl, self.to_torch = layer, to_impl, to_torch
        self.weight, self.grad_to_torch = weight, grad_to_torch

    def forward(self, x):
        self.x = np.array(x)  # our own copy: backward runs forward again on each sample
        return np.stack([self.to_torch(self.layer.forward(self.to_impl(s))) for s in self.x])

    def backward(self, dy):
        dx = []
        grad = None if self.weight is None else np.zeros_like(getattr(self.layer, self.weight))
        for s, d in zip(self.x, dy, strict=True):
            self.layer.forward(self.to_impl(s))  # the layer caches one image: this one
            d = self.to_impl(d)
            if self.weight is None:
                dx.append(self.to_torch(self.layer.backward(d, 1.0)))
                continue
            w = getattr(self.layer, self.weight)
            # The input gradient needs the real weights; let the SGD step land on a copy.
            setattr(self.layer, self.weight, w.copy())
            dx.append(self.to_torch(self.layer.backward(d, 1.0)))
            # The weight gradient, exactly: with the weights set to -0.0 and learn_rate 1, the
            # step leaves -0.0 - dW = -dW, with no rounding and the right signs of zero.
            setattr(self.layer, self.weight, np.full_like(w, -0.0))
            self.layer.backward(d, 1.0)
            grad += -getattr(self.layer, self.weight)
            setattr(self.layer, self.weight, w)  # forward keeps the suite's weights
        if grad is not None:
            self.grads = {"weight": self.grad_to_torch(grad)}
        return np.stack(dx)


def _no_bias(bias):
    if bias is not None:
        raise NotImplementedError("this implementation has no biases")


def conv2d(weight, bias, stride=1, padding=0):
    _no_bias(bias)
    if stride not in (1, (1, 1)) or padding not in (0, (0, 0)):
        raise NotImplementedError("cnn.Conv is a valid convolution: stride 1, padding 0 only")
    layer = Conv(weight.shape[0], weight.shape[2], weight.shape[1])  # O, kH, C
    layer.filters = weight.transpose(0, 2, 3, 1).copy()  # (O, C, kH, kW) -> (O, kH, kW, C)
    # The gradient back: (O, kH, kW, C) -> (O, C, kH, kW).
    return _Batched(layer, _hwc, _chw, "filters", lambda g: g.transpose(0, 3, 1, 2))


def linear(weight, bias):
    _no_bias(bias)
    layer = Dense(weight.shape[1], weight.shape[0])
    layer.weights = weight.T.copy()  # (out, in) -> (in, out)
    return _Batched(layer, _same, _same, "weights", lambda g: g.T)  # (in, out) -> (out, in)


def relu():
    # Elementwise, so any layout will do: the suite also puts ReLU after Linear, on (N, F).
    return _Batched(ReLU(), _same, _same)


def maxpool2d(kernel_size, stride=None):
    if stride is not None and stride != kernel_size:
        raise NotImplementedError("cnn.MaxPool pools with stride equal to its kernel size")
    if isinstance(kernel_size, tuple):
        if len(set(kernel_size)) != 1:
            raise NotImplementedError("cnn.MaxPool pools square windows only")
        kernel_size = kernel_size[0]
    return _Batched(MaxPool(kernel_size), _hwc, _chw)


class _Flatten:
    """cnn.Flatten orders the features (H, W, C); torch orders them (C, H, W): reorder."""

    def forward(self, x):
        self.layer, self.shape = Flatten(), x.shape[1:]
        C, H, W = self.shape
        # Each (H*W*C,) -> (H, W, C) -> (C, H, W) -> (C*H*W,)
        return np.stack([_chw(self.layer.forward(_hwc(s)).reshape(H, W, C)).ravel() for s in x])

    def backward(self, dy):
        # Each (C*H*W,) -> (C, H, W) -> (H, W, C) -> (H*W*C,), which the layer maps back to
        # (H, W, C); every sample has the same shape, so the layer's cache fits them all.
        return np.stack(
            [_chw(self.layer.backward(_hwc(d.reshape(self.shape)).ravel(), 1.0)) for d in dy]
        )


def flatten():
    return _Flatten()


class _CrossEntropy:
    """The mean of cnn.SoftmaxCrossEntropy's per-sample losses, as torch's reduction."""

    def forward(self, logits, labels):
        self.losses = [SoftmaxCrossEntropy() for _ in labels]
        per_sample = [f.forward(z, y) for f, z, y in zip(self.losses, logits, labels, strict=True)]
        return float(np.mean(per_sample))

    def backward(self):
        return np.stack([f.backward() for f in self.losses]) / len(self.losses)  # (N, K)


def cross_entropy():
    return _CrossEntropy()
