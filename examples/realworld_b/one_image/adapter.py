"""Adapter for one_image_cnn.py: torch's batches in NCHW <-> one (H, W, C) image at a time.

The layers learn inside backward(d_out, learn_rate). To read a gradient exactly, the
weights are set to -0.0 and the step taken with learn_rate 1: -0.0 - g = -g.
"""

import numpy as np
from one_image_cnn import Conv, Dense, Flatten, MaxPool, ReLU, SoftmaxCrossEntropy

name = "specimen: one image at a time"
dtypes = ("float64", "float32")


def _hwc(a):
    return a.transpose(1, 2, 0) if a.ndim == 3 else a


def _chw(a):
    return a.transpose(2, 0, 1) if a.ndim == 3 else a


class _PerImage:
    """Runs a one-image layer over a batch. `params` maps torch's names to (attribute,
    gradient -> torch layout); `learned` lists every attribute its backward steps."""

    def __init__(self, layer, params=None, learned=()):
        self.layer, self.params = layer, params or {}
        self.learned = set(learned) | {a for a, _ in self.params.values()}

    def forward(self, x):
        self.x = np.array(x)
        return np.stack([_chw(self.layer.forward(_hwc(s))) for s in self.x])

    def backward(self, dy):
        keep = {a: getattr(self.layer, a) for a in self.learned}
        grads = {k: 0 for k in self.params}
        dx = []
        for s, d in zip(self.x, dy, strict=True):
            for a, v in keep.items():
                setattr(self.layer, a, v.copy())  # the step lands on a copy
            self.layer.forward(_hwc(s))
            dx.append(_chw(self.layer.backward(_hwc(d), 1.0)))
            if not keep:
                continue
            for a, v in keep.items():
                setattr(self.layer, a, np.full_like(v, -0.0))
            self.layer.backward(_hwc(d), 1.0)
            for k, (a, to_torch) in self.params.items():
                grads[k] = grads[k] - to_torch(getattr(self.layer, a))
        for a, v in keep.items():
            setattr(self.layer, a, v)
        self.grads = grads
        return np.stack(dx)


def conv2d(weight, bias, stride=1, padding=0):
    if bias is not None or stride != 1 or padding != 0:
        raise NotImplementedError("Conv: stride 1, no padding, no bias only")
    layer = Conv(weight.shape[0], weight.shape[2], weight.shape[1])
    layer.filters = weight.transpose(0, 2, 3, 1).copy()  # (O, C, k, k) -> (O, k, k, C)
    return _PerImage(layer, {"weight": ("filters", lambda g: g.transpose(0, 3, 1, 2))})


def linear(weight, bias):
    layer = Dense(weight.shape[1], weight.shape[0])
    layer.weights = weight.T.copy()  # (out, in) -> (in, out)
    params = {"weight": ("weights", lambda g: g.T)}
    if bias is None:
        layer.biases = np.zeros(weight.shape[0], dtype=weight.dtype)
    else:
        layer.biases = bias.copy()
        params["bias"] = ("biases", lambda g: g)
    return _PerImage(layer, params, ("weights", "biases"))


def relu():
    return _PerImage(ReLU())


def maxpool2d(kernel_size, stride=None):
    if stride not in (None, kernel_size):
        raise NotImplementedError("MaxPool: stride equal to the window only")
    return _PerImage(MaxPool(kernel_size))


class _Flatten:
    """The layer flattens (H, W, C); torch flattens (C, H, W): reorder both ways."""

    def forward(self, x):
        self.layer, self.shape = Flatten(), x.shape[1:]
        C, H, W = self.shape
        return np.stack([_chw(self.layer.forward(_hwc(s)).reshape(H, W, C)).ravel() for s in x])

    def backward(self, dy):
        return np.stack(
            [_chw(self.layer.backward(_hwc(d.reshape(self.shape)).ravel(), 1.0)) for d in dy]
        )


def flatten():
    return _Flatten()


class _CrossEntropy:
    """torch's mean over the batch of the per-image losses."""

    def forward(self, logits, labels):
        self.losses = [SoftmaxCrossEntropy() for _ in labels]
        pairs = zip(self.losses, logits, labels, strict=True)
        return float(np.mean([f.forward(z, y) for f, z, y in pairs]))

    def backward(self):
        return np.stack([f.backward() for f in self.losses]) / len(self.losses)


def cross_entropy():
    return _CrossEntropy()
