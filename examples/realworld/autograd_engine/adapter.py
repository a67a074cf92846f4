"""minigrad (a tiny autograd engine) <-> the suite: each layer is a Tensor graph."""

import minigrad as mg
import numpy as np

name = "realworld/autograd_engine"
dtypes = ("float64", "float32")


class Graph:
    def __init__(self, build, params=()):
        self.build, self.params = build, params

    def forward(self, x):
        self.x = mg.Tensor(np.array(x))
        self.y = self.build(self.x)
        return self.y.data

    def backward(self, dy):
        self.y.backward(np.array(dy))
        self.grads = {k: p.grad.copy() for k, p in self.params}
        return self.x.grad


def linear(weight, bias):
    layer = mg.Linear(weight.shape[1], weight.shape[0], bias is not None)
    layer.weight = mg.Tensor(weight.copy())
    params = [("weight", layer.weight)]
    if bias is not None:
        layer.bias = mg.Tensor(bias.copy())
        params.append(("bias", layer.bias))
    return Graph(layer, params)


def relu():
    return Graph(lambda x: x.relu())


def flatten():
    return Graph(lambda x: x.reshape(x.data.shape[0], -1))


class Loss:
    def forward(self, logits, labels):
        self.z = mg.Tensor(np.array(logits))
        self.loss = self.z.cross_entropy(labels)
        return float(self.loss.data)

    def backward(self):
        self.loss.backward()
        return self.z.grad


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.tensors = [mg.Tensor(p) for p in params]  # np.asarray: the same arrays
        self.opt = mg.Adam(self.tensors, lr, betas, eps)

    def step(self, grads):
        for t, g in zip(self.tensors, grads, strict=True):
            t.grad = g
        self.opt.step()


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
