"""nhwc_model (NHWC arrays, HWIO filters, dense (in, out)) <-> the suite's NCHW."""

import nhwc_model as nm
import numpy as np

name = "realworld/nhwc_dense"
dtypes = ("float64", "float32")


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


def _nchw(x):
    return x.transpose(0, 3, 1, 2)


def _one(v):
    v = (v, v) if isinstance(v, int) else tuple(v)
    if v[0] != v[1]:
        raise NotImplementedError("one value for both axes")
    return v[0]


class Conv:
    def __init__(self, weight, bias, stride, padding):
        self.W = weight.transpose(2, 3, 1, 0).copy()  # (O, C, kH, kW) -> (kH, kW, C, O)
        if weight.shape[2] != weight.shape[3]:
            raise NotImplementedError("square filters only")
        self.has_bias = bias is not None
        b = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias
        self.b = b.reshape(1, 1, 1, -1).copy()
        self.hp = {"stride": _one(stride), "pad": _one(padding)}

    def forward(self, x):
        Z, self.cache = nm.conv_forward(_nhwc(x), self.W, self.b, self.hp)
        return _nchw(Z)

    def backward(self, dy):
        dA, dW, db = nm.conv_backward(_nhwc(dy), self.cache)
        self.grads = {"weight": dW.transpose(3, 2, 0, 1)}
        if self.has_bias:
            self.grads["bias"] = db.reshape(-1)
        return _nchw(dA)


def conv2d(weight, bias, stride=1, padding=0):
    return Conv(weight, bias, stride, padding)


class Pool:
    def __init__(self, k, s):
        self.hp = {"f": _one(k), "stride": _one(s)}

    def forward(self, x):
        A, self.cache = nm.pool_forward(_nhwc(x), self.hp)
        return _nchw(A)

    def backward(self, dy):
        return _nchw(nm.pool_backward(_nhwc(dy), self.cache))


def maxpool2d(kernel_size, stride=None):
    return Pool(kernel_size, kernel_size if stride is None else stride)


class Simple:
    def __init__(self, fwd, bwd, to=lambda x: x, back=lambda x: x):
        self.fwd, self.bwd, self.to, self.back = fwd, bwd, to, back

    def forward(self, x):
        out, self.cache = self.fwd(self.to(x) if x.ndim == 4 else x)
        return self.back(out) if out.ndim == 4 else out

    def backward(self, dy):
        dx = self.bwd(self.to(dy) if dy.ndim == 4 else dy, self.cache)
        return self.back(dx) if dx.ndim == 4 else dx


def relu():
    return Simple(nm.relu_forward, nm.relu_backward, _nhwc, _nchw)


def flatten():
    return Simple(nm.flatten_forward, nm.flatten_backward, _nhwc, _nchw)


class Dense:
    def __init__(self, weight, bias):
        self.W, self.has_bias = weight.T.copy(), bias is not None
        self.b = (np.zeros(weight.shape[0], weight.dtype) if bias is None else bias).reshape(1, -1)

    def forward(self, x):
        out, self.cache = nm.dense_forward(x, self.W, self.b)
        return out

    def backward(self, dy):
        dx, dW, db = nm.dense_backward(dy, self.cache)
        self.grads = {"weight": dW.T}
        if self.has_bias:
            self.grads["bias"] = db.reshape(-1)
        return dx


def linear(weight, bias):
    return Dense(weight, bias.copy() if bias is not None else None)


class Loss:
    def forward(self, logits, labels):
        cost, self.dZ = nm.softmax_cross_entropy(logits, labels)
        return float(cost)

    def backward(self):
        return self.dZ


def cross_entropy():
    return Loss()
