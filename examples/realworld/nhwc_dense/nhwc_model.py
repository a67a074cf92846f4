"""A CNN on NHWC arrays in the deeplearning.ai notebook manner: W (f, f, C_in, C_out),
b (1, 1, 1, C_out), hparameters dicts, and dense weights (in, out)."""

import numpy as np


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def conv_forward(A_prev, W, b, hparameters):
    pad = hparameters["pad"]
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H, n_W = n_H_prev + 2 * pad - f + 1, n_W_prev + 2 * pad - f + 1
    A_pad = zero_pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    for h in range(n_H):
        for w in range(n_W):
            a_slice = A_pad[:, h : h + f, w : w + f, :]
            Z[:, h, w, :] = np.tensordot(a_slice, W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0]
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    pad = hparameters["pad"]
    f = W.shape[0]
    _, n_H_prev, n_W_prev, _ = A_prev.shape
    A_pad = zero_pad(A_prev, pad)
    dA_pad, dW = np.zeros_like(A_pad), np.zeros_like(W)
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, -1)
    for h in range(dZ.shape[1]):
        for w in range(dZ.shape[2]):
            a_slice = A_pad[:, h : h + f, w : w + f, :]
            dW += np.tensordot(a_slice, dZ[:, h, w, :], axes=(0, 0))
            dA_pad[:, h : h + f, w : w + f, :] += np.tensordot(dZ[:, h, w, :], W, axes=(1, 3))
    dA_prev = dA_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    return dA_prev, dW, db


def pool_forward(A_prev, hparameters):
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H, n_W = n_H_prev // stride, n_W_prev // stride
    A = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    for h in range(n_H):
        for w in range(n_W):
            window = A_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            A[:, h, w, :] = window.max(axis=(1, 2))
    return A, (A_prev, hparameters)


def create_mask_from_window(x):
    return x == np.max(x)


def pool_backward(dA, cache):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros_like(A_prev)
    for i in range(A_prev.shape[0]):
        for h in range(dA.shape[1]):
            for w in range(dA.shape[2]):
                for c in range(dA.shape[3]):
                    rows = slice(h * stride, h * stride + f)
                    cols = slice(w * stride, w * stride + f)
                    mask = create_mask_from_window(A_prev[i, rows, cols, c])
                    dA_prev[i, rows, cols, c] += mask * dA[i, h, w, c]
    return dA_prev


def relu_forward(Z):
    return np.maximum(0, Z), Z


def relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def flatten_forward(A):
    return A.reshape(A.shape[0], -1), A.shape


def flatten_backward(dF, shape):
    return dF.reshape(shape)


def dense_forward(A, W, b):
    """W (n_in, n_out), b (1, n_out)."""
    return A @ W + b, (A, W)


def dense_backward(dZ, cache):
    A, W = cache
    return dZ @ W.T, A.T @ dZ, dZ.sum(axis=0, keepdims=True)


def softmax_cross_entropy(Z, y):
    shifted = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    m = Z.shape[0]
    cost = -np.mean(np.log(P[np.arange(m), y] + 1e-8))
    Y = np.eye(Z.shape[1], dtype=Z.dtype)[y]
    return cost, (P - Y) / m
