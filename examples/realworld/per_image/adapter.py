"""per_image_net <-> the suite: batches of NCHW images run one (H, W, C) image at a time.

The layers learn inside backward(d_out, learn_rate); the gradients are recovered exactly
by setting each parameter to -0.0 and taking one step of learn rate 1 (-0.0 - g = -g).
"""

import numpy as np
from per_image_net import Conv, Dense, Flatten, MaxPool, ReLU, SoftmaxCrossEntropy

name = "realworld/per_image"
dtypes = ("float64", "float32")


def _hwc(s):
    return s.transpose(1, 2, 0) if s.ndim == 3 else s


def _chw(s):
    return s.transpose(2, 0, 1) if s.ndim == 3 else s


class Batched:
    def __init__(self, layer, params=(), to_torch=()):
        self.layer, self.params, self.to_torch = layer, params, to_torch

    def forward(self, x):
        self.x = np.array(x)
        return np.stack([_chw(self.layer.forward(_hwc(s))) for s in self.x])

    def backward(self, dy):
        kept = {p: getattr(self.layer, p) for p in self.params}
        grads = {p: 0 for p in self.params}
        dx = []
        for s, d in zip(self.x, dy, strict=True):
            self.layer.forward(_hwc(s))  # the layer caches one image: this one
            for p in self.params:  # the step lands on copies
                setattr(self.layer, p, kept[p].copy())
            dx.append(_chw(self.layer.backward(_hwc(d), 1.0)))
            if self.params:
                for p in self.params:
                    setattr(self.layer, p, np.full_like(kept[p], -0.0))
                self.layer.backward(_hwc(d), 1.0)  # -0.0 - 1.0 * g = -g, exactly
                for p in self.params:
                    grads[p] = grads[p] - getattr(self.layer, p)
                    setattr(self.layer, p, kept[p])
        self.grads = {k: f(grads[p]) for p, (k, f) in zip(self.params, self.to_torch, strict=False)}
        return np.stack(dx)


def conv2d(weight, bias, stride=1, padding=0):
    if bias is not None or stride not in (1, (1, 1)) or padding not in (0, (0, 0)):
        raise NotImplementedError("Conv: stride 1, no padding, no bias")
    layer = Conv(weight.shape[0], weight.shape[2], weight.shape[1])
    layer.filters = weight.transpose(0, 2, 3, 1).copy()
    return Batched(layer, ("filters",), (("weight", lambda g: g.transpose(0, 3, 1, 2)),))


def linear(weight, bias):
    layer = Dense(weight.shape[1], weight.shape[0])
    layer.weights = weight.T.copy()
    layer.biases = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()
    names = ("weights",) if bias is None else ("weights", "biases")
    return Batched(layer, names, (("weight", lambda g: g.T), ("bias", lambda g: g)))


def relu():
    return Batched(ReLU())


def maxpool2d(kernel_size, stride=None):
    k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    if stride not in (None, kernel_size, k) or kernel_size not in (k, (k, k)):
        raise NotImplementedError("MaxPool: square windows, stride = size")
    return Batched(MaxPool(k))


class _Flatten:
    """Flatten orders the features (H, W, C); torch orders them (C, H, W): reorder."""

    def forward(self, x):
        self.shape, (C, H, W) = x.shape, x.shape[1:]
        layer = Flatten()
        return np.stack([_chw(layer.forward(_hwc(s)).reshape(H, W, C)).ravel() for s in x])

    def backward(self, dy):
        return dy.reshape(self.shape)


def flatten():
    return _Flatten()


class _Loss:
    def forward(self, logits, labels):
        self.parts = [SoftmaxCrossEntropy() for _ in labels]
        losses = [f.forward(z, y) for f, z, y in zip(self.parts, logits, labels, strict=True)]
        return float(np.mean(losses))

    def backward(self):
        return np.stack([f.backward() for f in self.parts]) / len(self.parts)


def cross_entropy():
    return _Loss()
