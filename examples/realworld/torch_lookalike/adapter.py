"""tinytorch (a PyTorch look-alike, torch's layouts) <-> the suite."""

import numpy as np
import tinytorch as tt

name = "realworld/torch_lookalike"
dtypes = ("float64", "float32")


def _one(v):
    v = (v, v) if isinstance(v, int) else tuple(v)
    if v[0] != v[1]:
        raise NotImplementedError("one value for both axes")
    return v[0]


class Layer:
    def __init__(self, module):
        self.module = module

    def forward(self, x):
        return self.module(x)

    def backward(self, dy):
        dx = self.module.backward(dy)
        params = {k: getattr(self.module, k, None) for k in ("weight", "bias")}
        self.grads = {k: p.grad for k, p in params.items() if p is not None}
        return dx


def _copy(a):
    return None if a is None else a.copy()


def conv2d(weight, bias, stride=1, padding=0):
    return Layer(tt.Conv2d(weight.copy(), _copy(bias), _one(stride), _one(padding)))


def linear(weight, bias):
    return Layer(tt.Linear(weight.copy(), _copy(bias)))


def relu():
    return Layer(tt.ReLU())


def maxpool2d(kernel_size, stride=None):
    return Layer(tt.MaxPool2d(_one(kernel_size), None if stride is None else _one(stride)))


def flatten():
    return Layer(tt.Flatten())


class Loss:
    def forward(self, logits, labels):
        self.f = tt.CrossEntropyLoss()
        return float(self.f.forward(logits, labels))

    def backward(self):
        return self.f.backward()


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.ps = [tt.Parameter(p) for p in params]  # the suite's arrays, updated in place
        self.opt = tt.Adam(self.ps, lr, betas, eps)

    def step(self, grads):
        for p, g in zip(self.ps, grads, strict=True):
            p.grad = np.asarray(g)
        self.opt.step()


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
