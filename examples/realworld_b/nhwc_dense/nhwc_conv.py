"""Convolution and pooling on channels-last batches (m, n_H, n_W, n_C), step by step:
W is (f, f, n_C_prev, n_C), b is (1, 1, 1, n_C), and each forward returns (out, cache).
"""

import numpy as np


def zero_pad(X, pad):
    """(m, n_H, n_W, n_C) -> (m, n_H + 2 pad, n_W + 2 pad, n_C), zeros around."""
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_H_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    for h in range(n_H):
        vert_start = h * stride
        for w in range(n_W):
            horiz_start = w * stride
            a_slice = A_prev_pad[:, vert_start : vert_start + f, horiz_start : horiz_start + f, :]
            Z[:, h, w, :] = np.tensordot(a_slice, W, axes=([1, 2, 3], [0, 1, 2])) + b.ravel()
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    """dZ: (m, n_H, n_W, n_C) -> dA_prev (like A_prev), dW (like W), db (like b)."""
    A_prev, W, b, hparameters = cache
    stride, pad = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    (m, n_H, n_W, n_C) = dZ.shape
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW = np.zeros_like(W)
    db = dZ.sum(axis=(0, 1, 2)).reshape(b.shape)
    for h in range(n_H):
        vert = slice(h * stride, h * stride + f)
        for w in range(n_W):
            horiz = slice(w * stride, w * stride + f)
            dA_prev_pad[:, vert, horiz, :] += np.tensordot(dZ[:, h, w, :], W, axes=([1], [3]))
            dW += np.tensordot(A_prev_pad[:, vert, horiz, :], dZ[:, h, w, :], axes=([0], [0]))
    dA_prev = dA_prev_pad[:, pad : pad + A_prev.shape[1], pad : pad + A_prev.shape[2], :]
    return dA_prev, dW, db


def create_mask_from_window(x):
    """x: windows (m, f, f, n_C) -> True where a window holds its maximum."""
    return x == np.max(x, axis=(1, 2), keepdims=True)


def pool_forward(A_prev, hparameters):
    """Max pooling of f x f windows, `stride` apart: (m, n_H, n_W, n_C)."""
    (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = n_H_prev // stride, n_W_prev // stride
    A = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    for h in range(n_H):
        for w in range(n_W):
            a_slice = A_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            A[:, h, w, :] = np.max(a_slice, axis=(1, 2))
    return A, (A_prev, hparameters)


def pool_backward(dA, cache):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros_like(A_prev)
    for h in range(dA.shape[1]):
        for w in range(dA.shape[2]):
            vert = slice(h * stride, h * stride + f)
            horiz = slice(w * stride, w * stride + f)
            mask = create_mask_from_window(A_prev[:, vert, horiz, :])
            dA_prev[:, vert, horiz, :] += mask * dA[:, h, w, None, None, :]
    return dA_prev
