"""Adapter for im2col_net.py (NCHW, torch's conv layout; dense layers load torch's
weights through their own load_torch)."""

import numpy as np
from im2col_net import SGD, Conv, Dense, Flatten, MaxPool, ReLU, SoftmaxCrossEntropy

name = "specimen: an im2col CNN"
dtypes = ("float64", "float32")


class _Layer:
    def __init__(self, layer, grads=None):
        self.layer, self.read_grads = layer, grads

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        if self.read_grads:
            self.grads = self.read_grads()
        return dx


def conv2d(weight, bias, stride, padding):
    b = np.zeros(len(weight), dtype=weight.dtype) if bias is None else bias.copy()
    conv = Conv(weight.copy(), b, stride, padding)

    def grads():
        return {"weight": conv.dW} if bias is None else {"weight": conv.dW, "bias": conv.db}

    return _Layer(conv, grads)


def linear(weight, bias):
    dense = Dense(weight.shape[1], weight.shape[0])
    dense.load_torch(weight, np.zeros(len(weight), weight.dtype) if bias is None else bias)

    def grads():
        dW, db = dense.torch_grads()
        return {"weight": dW} if bias is None else {"weight": dW, "bias": db}

    return _Layer(dense, grads)


def relu():
    return _Layer(ReLU())


def maxpool2d(kernel_size, stride):
    return _Layer(MaxPool(kernel_size, stride))


def flatten():
    return _Layer(Flatten())


class _Loss:
    def forward(self, logits, labels):
        self.f = SoftmaxCrossEntropy()
        return float(self.f.forward(logits, labels))

    def backward(self):
        return self.f.backward()


def cross_entropy():
    return _Loss()


def sgd(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
    if momentum or dampening or weight_decay or nesterov:
        raise NotImplementedError("plain SGD only")
    return SGD(params, lr)
