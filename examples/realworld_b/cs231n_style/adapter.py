"""Adapter for the (out, cache) functions of cs231n_layers.py and cs231n_optim.py."""

import numpy as np
from cs231n_layers import (
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
from cs231n_optim import adam as adam_rule

name = "specimen: cs231n-style functions"
dtypes = ("float64", "float32")


class _Pair:
    """A forward/backward function pair as a layer; `grad_names` names the backward's
    extra outputs in torch's terms (None: not reported), `to_torch` maps them."""

    def __init__(self, forward, backward, args=(), grad_names=(), to_torch=None):
        self.f, self.b, self.args = forward, backward, args
        self.grad_names, self.to_torch = grad_names, to_torch or {}

    def forward(self, x):
        out, self.cache = self.f(x, *self.args)
        return out

    def backward(self, dy):
        if not self.grad_names:
            return self.b(dy, self.cache)
        dx, *rest = self.b(dy, self.cache)
        self.grads = {
            k: self.to_torch.get(k, lambda g: g)(g)
            for k, g in zip(self.grad_names, rest, strict=True)
            if k is not None
        }
        return dx


def conv2d(weight, bias, stride, padding):
    b = np.zeros(len(weight), dtype=weight.dtype) if bias is None else bias.copy()
    params = {"stride": stride, "pad": padding}
    names = ("weight", None if bias is None else "bias")
    return _Pair(conv_forward_naive, conv_backward_naive, (weight.copy(), b, params), names)


def linear(weight, bias):
    b = np.zeros(len(weight), dtype=weight.dtype) if bias is None else bias.copy()
    names = ("weight", None if bias is None else "bias")
    w = weight.T.copy()  # (out, in) -> (D, M)
    return _Pair(affine_forward, affine_backward, (w, b), names, {"weight": lambda g: g.T})


def relu():
    return _Pair(relu_forward, relu_backward)


def maxpool2d(kernel_size, stride):
    param = {"pool_height": kernel_size, "pool_width": kernel_size, "stride": stride}
    return _Pair(max_pool_forward_naive, max_pool_backward_naive, (param,))


class _Flatten:
    """affine_forward reads its input as (N, D) itself; as a layer of its own, a reshape."""

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


def flatten():
    return _Flatten()


class _Loss:
    def forward(self, logits, labels):
        loss, self.dx = softmax_loss(logits, labels)
        return float(loss)

    def backward(self):
        return self.dx


def cross_entropy():
    return _Loss()


class _Adam:
    """One config per parameter, as the update rule expects."""

    def __init__(self, params, lr, betas, eps):
        self.params = params
        self.configs = [
            {"learning_rate": lr, "beta1": betas[0], "beta2": betas[1], "epsilon": eps}
            for _ in params
        ]

    def step(self, grads):
        for p, g, config in zip(self.params, grads, self.configs, strict=True):
            p[...], _ = adam_rule(p, g, config)


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
