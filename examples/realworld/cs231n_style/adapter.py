"""cs_layers (cs231n-style (out, cache) functions) <-> the suite."""

import numpy as np
from cs_layers import (
    adam as adam_update,
)
from cs_layers import (
    affine_backward,
    affine_forward,
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
    relu_backward,
    relu_forward,
    softmax_loss,
)

name = "realworld/cs231n_style"
dtypes = ("float64", "float32")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class Layer:
    def __init__(self, forward, backward, params=(), extra=None, with_bias=True):
        self.f, self.b, self.params, self.extra, self.with_bias = (
            forward,
            backward,
            params,
            extra,
            with_bias,
        )

    def forward(self, x):
        args = (x, *self.params) + (() if self.extra is None else (self.extra,))
        out, self.cache = self.f(*args)
        return out

    def backward(self, dy):
        grads = self.b(dy, self.cache)
        if not self.params:
            return grads
        dx, dw, db = grads
        self.grads = {"weight": dw, "bias": db} if self.with_bias else {"weight": dw}
        return dx


def conv2d(weight, bias, stride=1, padding=0):
    (s, s2), (p, p2) = _pair(stride), _pair(padding)
    if s != s2 or p != p2:
        raise NotImplementedError("one stride and one pad for both axes")
    b = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()
    return Layer(
        conv_forward_naive,
        conv_backward_naive,
        (weight.copy(), b),
        {"stride": s, "pad": p},
        bias is not None,
    )


def linear(weight, bias):
    b = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()
    layer = Layer(affine_forward, affine_backward, (weight.T.copy(), b), None, bias is not None)
    backward = layer.backward

    def transposed(dy):
        dx = backward(dy)
        layer.grads["weight"] = layer.grads["weight"].T  # (D, M) -> torch's (M, D)
        return dx

    layer.backward = transposed
    return layer


def relu():
    return Layer(relu_forward, relu_backward)


def maxpool2d(kernel_size, stride=None):
    (kh, kw), s = _pair(kernel_size), _pair(kernel_size if stride is None else stride)
    if s[0] != s[1]:
        raise NotImplementedError("one stride for both axes")
    return Layer(
        max_pool_forward_naive,
        max_pool_backward_naive,
        (),
        {"pool_height": kh, "pool_width": kw, "stride": s[0]},
    )


class Loss:
    def forward(self, logits, labels):
        loss, self.dx = softmax_loss(logits, labels)
        return float(loss)

    def backward(self):
        return self.dx


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.params = params
        self.configs = [
            {"learning_rate": lr, "beta1": betas[0], "beta2": betas[1], "epsilon": eps}
            for _ in params
        ]

    def step(self, grads):
        for p, g, config in zip(self.params, grads, self.configs, strict=True):
            p[...], _ = adam_update(p, g, config)


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
