"""deep_nn (column vectors (features, N)) <-> the suite's rows (N, features)."""

import deep_nn as dn
import numpy as np

name = "realworld/column_vectors"
dtypes = ("float64", "float32")


class Linear:
    def __init__(self, weight, bias):
        self.W, self.has_bias = weight.copy(), bias is not None
        self.b = (np.zeros(weight.shape[0], weight.dtype) if bias is None else bias).reshape(-1, 1)

    def forward(self, x):
        Z, self.cache = dn.linear_forward(x.T, self.W, self.b)
        return Z.T

    def backward(self, dy):
        dA, dW, db = dn.linear_backward(dy.T, self.cache)
        self.grads = {"weight": dW}
        if self.has_bias:
            self.grads["bias"] = db.reshape(-1)
        return dA.T


def linear(weight, bias):
    return Linear(weight, bias)


class ReLU:
    def forward(self, x):
        A, self.Z = dn.relu(x)  # elementwise: any layout
        return A

    def backward(self, dy):
        return dn.relu_backward(dy, self.Z)


def relu():
    return ReLU()


class Loss:
    def forward(self, logits, labels):
        cost, self.dZ = dn.softmax_cost(logits.T, labels)
        return float(cost)

    def backward(self):
        return self.dZ.T


def cross_entropy():
    return Loss()


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.params = {f"W{i}": p for i, p in enumerate(params)}
        self.v, self.s = dn.initialize_adam(self.params)
        self.t, self.lr, self.betas, self.eps = 0, lr, betas, eps

    def step(self, grads):
        self.t += 1
        g = {f"dW{i}": x for i, x in enumerate(grads)}
        dn.update_parameters_with_adam(
            self.params, g, self.v, self.s, self.t, self.lr, *self.betas, self.eps
        )


def adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return Adam(params, lr, betas, eps)
