"""kerasish (NHWC, kernels (kh, kw, in, out) and (in, out)) <-> the suite's torch layouts."""

import kerasish as K
import numpy as np

name = "realworld/keras_like"
dtypes = ("float64", "float32")


def _one(v):
    v = (v, v) if isinstance(v, int) else tuple(v)
    if v[0] != v[1]:
        raise NotImplementedError("one value for both axes")
    return v[0]


class Wrapped:
    """A one-layer Sequential; NCHW <-> NHWC for 4-D arrays; grads to torch's layouts."""

    def __init__(self, layer, to_torch=None, has_bias=True):
        self.model, self.to_torch, self.has_bias = K.Sequential([layer]), to_torch, has_bias

    def forward(self, x):
        y = self.model.forward(x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)
        return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y

    def backward(self, dy):
        dx = self.model.backward(dy.transpose(0, 2, 3, 1) if dy.ndim == 4 else dy)
        if self.to_torch:
            g = self.model.layers[0].grads
            self.grads = {"weight": self.to_torch(g["kernel"])}
            if self.has_bias:
                self.grads["bias"] = g["bias"]
        return dx.transpose(0, 3, 1, 2) if dx.ndim == 4 else dx


def conv2d(weight, bias, stride=1, padding=0):
    if _one(padding) != 0:
        raise NotImplementedError("padding='valid' only")
    b = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()
    layer = K.Conv2D(weight.transpose(2, 3, 1, 0).copy(), b, _one(stride))
    return Wrapped(layer, lambda g: g.transpose(3, 2, 0, 1), bias is not None)


def linear(weight, bias):
    b = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()
    return Wrapped(K.Dense(weight.T.copy(), b), lambda g: g.T, bias is not None)


def relu():
    return Wrapped(K.ReLU())


def maxpool2d(kernel_size, stride=None):
    return Wrapped(K.MaxPooling2D(_one(kernel_size), None if stride is None else _one(stride)))


def flatten():
    return Wrapped(K.Flatten())


class Loss:
    def forward(self, logits, labels):
        self.f = K.SoftmaxCategoricalCrossentropy()
        return float(self.f.forward(logits, labels))

    def backward(self):
        return self.f.backward()


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.params, self.opt = params, K.Adam(lr, betas[0], betas[1], eps)

    def step(self, grads):
        self.opt.apply_gradients(list(zip(grads, self.params, strict=True)))


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
