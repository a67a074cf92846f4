"""Adapter for nhwc_conv.py (channels-last functions) and dense_objects.py (objects that
keep output / dinputs / dweights as attributes)."""

import numpy as np
from dense_objects import (
    Activation_ReLU,
    Activation_Softmax_Loss_CategoricalCrossentropy,
    Layer_Dense,
    Optimizer_Adam,
)
from nhwc_conv import conv_backward, conv_forward, pool_backward, pool_forward

name = "specimen: NHWC functions, (in, out) dense objects"
dtypes = ("float64", "float32")


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class _Conv:
    def __init__(self, weight, bias, stride, padding):
        self.W = weight.transpose(2, 3, 1, 0).copy()  # (O, C, k, k) -> (k, k, C, O)
        O = len(weight)
        self.has_bias = bias is not None
        b = bias if self.has_bias else np.zeros(O, dtype=weight.dtype)
        self.b = b.reshape(1, 1, 1, O).copy()
        self.hparameters = {"stride": stride, "pad": padding}

    def forward(self, x):
        Z, self.cache = conv_forward(_nhwc(x), self.W, self.b, self.hparameters)
        return _nchw(Z)

    def backward(self, dy):
        dA, dW, db = conv_backward(_nhwc(dy), self.cache)
        self.grads = {"weight": dW.transpose(3, 2, 0, 1)}
        if self.has_bias:
            self.grads["bias"] = db.ravel()
        return _nchw(dA)


def conv2d(weight, bias, stride, padding):
    return _Conv(weight, bias, stride, padding)


class _Pool:
    def __init__(self, kernel_size, stride):
        self.hparameters = {"f": kernel_size, "stride": stride}

    def forward(self, x):
        A, self.cache = pool_forward(_nhwc(x), self.hparameters)
        return _nchw(A)

    def backward(self, dy):
        return _nchw(pool_backward(_nhwc(dy), self.cache))


def maxpool2d(kernel_size, stride):
    return _Pool(kernel_size, stride)


class _Object:
    """An object that keeps output and dinputs as attributes."""

    def __init__(self, obj, bias=None):
        self.obj, self.bias = obj, bias

    def forward(self, x):
        self.obj.forward(x)
        return self.obj.output

    def backward(self, dy):
        self.obj.backward(dy)
        if isinstance(self.obj, Layer_Dense):
            self.grads = {"weight": self.obj.dweights.T}
            if self.bias is not None:
                self.grads["bias"] = self.obj.dbiases.ravel()
        return self.obj.dinputs


def linear(weight, bias):
    dense = Layer_Dense(weight.shape[1], weight.shape[0])
    dense.weights = weight.T.copy()
    dense.biases = (np.zeros(len(weight), weight.dtype) if bias is None else bias)[None].copy()
    return _Object(dense, bias)


def relu():
    return _Object(Activation_ReLU())


class _Flatten:
    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


def flatten():
    return _Flatten()


class _Loss:
    def forward(self, logits, labels):
        self.obj, self.labels = Activation_Softmax_Loss_CategoricalCrossentropy(), labels
        loss = self.obj.forward(logits, labels)
        return float(loss)

    def backward(self):
        self.obj.backward(self.obj.output, self.labels)
        return self.obj.dinputs


def cross_entropy():
    return _Loss()


class _Param:
    """One parameter, as the optimizer expects a layer: `weights` and `dweights`."""

    def __init__(self, array):
        self.weights = array  # the array itself: the optimizer updates it in place


class _Adam:
    def __init__(self, params, lr, betas, eps):
        self.layers = [_Param(p) for p in params]
        self.opt = Optimizer_Adam(lr, eps, *betas)

    def step(self, grads):
        self.opt.pre_update_params()
        for layer, g in zip(self.layers, grads, strict=True):
            layer.dweights = g
            self.opt.update_params(layer)
        self.opt.post_update_params()


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
