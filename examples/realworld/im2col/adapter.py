"""im2col_cnn (batched NCHW, torch's layouts) <-> the suite: almost a pass-through."""

import im2col_cnn as ic
import numpy as np

name = "realworld/im2col"
dtypes = ("float64", "float32")


def _one(v):
    v = (v, v) if isinstance(v, int) else tuple(v)
    if v[0] != v[1]:
        raise NotImplementedError("one value for both axes")
    return v[0]


class WithGrads:
    def __init__(self, layer, has_bias):
        self.layer, self.has_bias = layer, has_bias

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        self.grads = {"weight": self.layer.dW}
        if self.has_bias:
            self.grads["bias"] = self.layer.db
        return dx


def _bias(weight, bias):
    return np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()


def conv2d(weight, bias, stride=1, padding=0):
    layer = ic.Conv(weight.copy(), _bias(weight, bias), _one(stride), _one(padding))
    return WithGrads(layer, bias is not None)


def linear(weight, bias):
    return WithGrads(ic.Dense(weight.copy(), _bias(weight, bias)), bias is not None)


def relu():
    return ic.ReLU()


def maxpool2d(kernel_size, stride=None):
    k = _one(kernel_size)
    if stride is not None and _one(stride) != k:
        raise NotImplementedError("the reshape pool needs stride = kernel size")
    return ic.MaxPool(k)


class Loss:
    def forward(self, logits, labels):
        self.f = ic.SoftmaxLoss()
        return float(self.f.forward(logits, labels))

    def backward(self):
        return self.f.backward()


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.opt = ic.Adam(params, lr, betas[0], betas[1], eps)

    def step(self, grads):
        self.opt.update(grads)


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
