"""A deep network with column vectors: activations are (features, m) for a batch of m
examples, W[l] is (n_l, n_{l-1}) and b[l] is (n_l, 1); parameters and gradients live
in dicts keyed "W1", "b1", "dW1", ...
"""

import numpy as np


def linear_forward(A, W, b):
    Z = W @ A + b
    return Z, (A, W, b)


def linear_backward(dZ, cache):
    """dZ: (n_l, m) -> dA_prev (n_{l-1}, m), dW (n_l, n_{l-1}), db (n_l, 1)."""
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * dZ @ A_prev.T
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def relu(Z):
    return np.maximum(0, Z), Z


def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def softmax(Z):
    """Column-wise softmax of (K, m) scores."""
    e = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return e / np.sum(e, axis=0, keepdims=True)


def compute_cost(AL, Y):
    """Cross-entropy of softmax outputs AL against one-hot Y, both (K, m)."""
    m = Y.shape[1]
    return -np.sum(Y * np.log(AL + 1e-8)) / m


def softmax_cost_backward(AL, Y):
    """dZ of the last layer (the 1 / m is taken in linear_backward)."""
    return AL - Y


def initialize_adam(parameters):
    v = {"d" + k: np.zeros_like(p) for k, p in parameters.items()}
    s = {"d" + k: np.zeros_like(p) for k, p in parameters.items()}
    return v, s


def update_parameters_with_adam(
    parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8
):
    for key in parameters:
        g = grads["d" + key]
        v["d" + key] = beta1 * v["d" + key] + (1 - beta1) * g
        s["d" + key] = beta2 * s["d" + key] + (1 - beta2) * g**2
        parameters[key] = parameters[key] - learning_rate * v["d" + key] / (
            np.sqrt(s["d" + key]) + epsilon
        )
    return parameters, v, s
