"""A fully connected net on column vectors (features, N), in the deeplearning.ai course's
manner: parameters in dicts keyed W1, b1, ..., W (n_l, n_{l-1}), b (n_l, 1)."""

import numpy as np


def linear_forward(A, W, b):
    return W @ A + b, (A, W, b)


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T / m
    db = np.sum(dZ, axis=1, keepdims=True) / m
    return W.T @ dZ, dW, db


def relu(Z):
    return np.where(Z > 0, Z, 0), Z


def relu_backward(dA, Z):
    return dA * (Z > 0)


def softmax_cost(ZL, y):
    """ZL (classes, m), y (m,) integer labels: the cost and dZL."""
    shifted = ZL - ZL.max(axis=0, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))
    m = ZL.shape[1]
    cost = -np.sum(log_p[y, np.arange(m)])
    dZL = np.exp(log_p)
    dZL[y, np.arange(m)] -= 1
    return cost, dZL


def initialize_adam(parameters):
    v, s = {}, {}
    for key, value in parameters.items():
        v["d" + key], s["d" + key] = np.zeros_like(value), np.zeros_like(value)
    return v, s


def update_parameters_with_adam(
    parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8
):
    for key in parameters:
        g = grads["d" + key]
        v["d" + key] = beta1 * v["d" + key] + (1 - beta1) * g
        s["d" + key] = beta2 * s["d" + key] + (1 - beta2) * g**2
        v_corrected = v["d" + key] / (1 - beta1)
        s_corrected = s["d" + key] / (1 - beta2)
        parameters[key] -= learning_rate * v_corrected / (np.sqrt(s_corrected) + epsilon)
    return parameters, v, s
