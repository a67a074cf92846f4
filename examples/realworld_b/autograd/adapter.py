"""Adapter for tensor_engine.py, a tiny autograd engine (float64 only).

Each layer keeps its input; backward rebuilds the little graph from it, sends dy into
it and reads the gradients off the leaves, so no gradient is left over from a call
before (the engine, like any autograd, adds into .grad).
"""

from tensor_engine import Adam, Tensor, max_pool2d
from tensor_engine import conv2d as conv
from tensor_engine import cross_entropy as nll

name = "specimen: a tiny autograd engine"
dtypes = ("float64",)


class _Layer:
    def __init__(self, fn, params=None):
        self.fn, self.params = fn, params or {}

    def forward(self, x):
        self.x = x.copy()
        return self.fn(Tensor(self.x), **self.params).data

    def backward(self, dy):
        for p in self.params.values():
            if p is not None:
                p.grad[...] = 0
        x = Tensor(self.x)
        self.fn(x, **self.params).backward(dy)
        self.grads = {k: p.grad.copy() for k, p in self.params.items() if p is not None}
        return x.grad


def _params(weight, bias):
    return {"weight": Tensor(weight.copy()), "bias": None if bias is None else Tensor(bias.copy())}


def conv2d(weight, bias, stride, padding):
    params = _params(weight, bias)
    return _Layer(lambda x, weight, bias: conv(x, weight, bias, stride, padding), params)


def _linear(x, weight, bias):
    y = x @ weight.T()
    return y if bias is None else y + bias


def linear(weight, bias):
    return _Layer(_linear, _params(weight, bias))


def relu():
    return _Layer(lambda x: x.relu())


def maxpool2d(kernel_size, stride):
    if stride != kernel_size:
        raise NotImplementedError("max_pool2d: stride equal to the window only")
    return _Layer(lambda x: max_pool2d(x, kernel_size))


def flatten():
    return _Layer(lambda x: x.reshape(x.shape[0], -1))


class _Loss:
    def forward(self, logits, labels):
        self.logits = Tensor(logits.copy())
        self.loss = nll(self.logits, labels)
        return float(self.loss.data)

    def backward(self):
        self.loss.backward()
        return self.logits.grad


def cross_entropy():
    return _Loss()


class _Adam:
    def __init__(self, params, lr, betas, eps):
        self.tensors = [Tensor(p) for p in params]  # float64: the very arrays, no copy
        self.opt = Adam(self.tensors, lr, betas, eps)

    def step(self, grads):
        for t, g in zip(self.tensors, grads, strict=True):
            t.grad = g.copy()
        self.opt.step()


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
