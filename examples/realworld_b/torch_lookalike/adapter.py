"""Adapter for nn_clone.py, a clone of torch.nn: the layouts are torch's already, so
this only hands the weights over and reads the Parameters' .grad."""

from nn_clone import (
    Adam,
    Conv2d,
    CrossEntropyLoss,
    Flatten,
    Linear,
    MaxPool2d,
    Parameter,
    ReLU,
)

name = "specimen: a torch.nn clone"
dtypes = ("float64", "float32")


class _Module:
    def __init__(self, module):
        self.module = module

    def forward(self, x):
        return self.module(x)

    def backward(self, dy):
        dx = self.module.backward(dy)
        self.grads = {
            k: getattr(self.module, k).grad.copy()
            for k in ("weight", "bias")
            if getattr(self.module, k, None) is not None
        }
        return dx


def _load(module, weight, bias):
    module.weight = Parameter(weight.copy())
    module.bias = None if bias is None else Parameter(bias.copy())
    return _Module(module)


def conv2d(weight, bias, stride, padding):
    O, C, k, _ = weight.shape
    return _load(Conv2d(C, O, k, stride, padding, bias is not None), weight, bias)


def linear(weight, bias):
    return _load(Linear(weight.shape[1], weight.shape[0], bias is not None), weight, bias)


def relu():
    return _Module(ReLU())


def maxpool2d(kernel_size, stride):
    return _Module(MaxPool2d(kernel_size, stride))


def flatten():
    return _Module(Flatten())


class _Loss:
    def forward(self, logits, labels):
        self.f = CrossEntropyLoss()
        return float(self.f(logits, labels))

    def backward(self):
        return self.f.backward()


def cross_entropy():
    return _Loss()


class _Adam:
    def __init__(self, params, lr, betas, eps):
        self.params = [Parameter(p) for p in params]  # the suite's arrays, updated in place
        self.opt = Adam(self.params, lr, betas, eps)

    def step(self, grads):
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g
        self.opt.step()


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
