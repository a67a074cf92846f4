"""Adapter for colvec_net.py: torch's rows (N, features) <-> its columns (features, m)."""

import numpy as np
from colvec_net import (
    compute_cost,
    initialize_adam,
    linear_backward,
    linear_forward,
    relu_backward,
    softmax,
    softmax_cost_backward,
    update_parameters_with_adam,
)
from colvec_net import relu as relu_forward

name = "specimen: column-vector layers"
dtypes = ("float64", "float32")


class _Linear:
    def __init__(self, weight, bias):
        self.W = weight.copy()  # (n_l, n_{l-1}): torch's layout already
        self.has_bias = bias is not None
        b = bias if self.has_bias else np.zeros(len(weight), dtype=weight.dtype)
        self.b = b.reshape(-1, 1).copy()

    def forward(self, x):
        Z, self.cache = linear_forward(x.T, self.W, self.b)
        return Z.T

    def backward(self, dy):
        dA_prev, dW, db = linear_backward(dy.T, self.cache)
        self.grads = {"weight": dW}
        if self.has_bias:
            self.grads["bias"] = db.ravel()
        return dA_prev.T


def linear(weight, bias):
    return _Linear(weight, bias)


class _ReLU:
    """Elementwise: any layout will do."""

    def forward(self, x):
        A, self.cache = relu_forward(x)
        return A

    def backward(self, dy):
        return relu_backward(dy, self.cache)


def relu():
    return _ReLU()


class _Loss:
    def forward(self, logits, labels):
        self.AL = softmax(logits.T)  # (K, m)
        self.Y = np.eye(self.AL.shape[0], dtype=logits.dtype)[labels].T  # one-hot (K, m)
        return float(compute_cost(self.AL, self.Y))

    def backward(self):
        return softmax_cost_backward(self.AL, self.Y).T


def cross_entropy():
    return _Loss()


class _Adam:
    def __init__(self, params, lr, betas, eps):
        self.params = {f"W{i + 1}": p for i, p in enumerate(params)}
        self.v, self.s = initialize_adam(self.params)
        self.t, self.hyper = 0, {"learning_rate": lr, "beta1": betas[0], "beta2": betas[1]}
        self.hyper["epsilon"] = eps

    def step(self, grads):
        self.t += 1
        g = {f"dW{i + 1}": d for i, d in enumerate(grads)}
        new, self.v, self.s = update_parameters_with_adam(
            dict(self.params), g, self.v, self.s, self.t, **self.hyper
        )
        for k, p in self.params.items():
            p[...] = new[k]  # the suite's arrays, updated in place


def adam(params, lr, betas, eps):
    return _Adam(params, lr, betas, eps)
