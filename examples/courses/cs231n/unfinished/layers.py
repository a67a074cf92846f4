"""A student's cs231n assignment 2 layers, half done (our own code): the functions after
conv_forward_naive are still as a starter leaves them, which `cnn-oracle check --api
cs231n` reports as "not provided", each by name.
"""

# ruff: noqa: F841, UP031 (a starter's unwritten functions read parameters they do not use yet)

import numpy as np


def affine_forward(x, w, b):
    """x: (N, d_1, ..., d_k), w: (D, M), b: (M,) -> out (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """dout: (N, M) -> dx (N, d_1, ..., d_k), dw (D, M), db (M,)."""
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    out = np.maximum(x, 0)  # NaN stays NaN
    cache = x
    return out, cache


def relu_backward(dout, cache):
    x = cache
    dx = np.where(x <= 0, 0, dout)  # the gradient passes where x > 0, and at NaN
    return dx


def softmax_loss(x, y):
    """x: (N, C) scores, y: (N,) labels -> (mean loss, dx already divided by N)."""
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def conv_forward_naive(x, w, b, conv_param):
    """x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> out (N, F, H', W') with
    H' = 1 + (H + 2 * pad - HH) // stride."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """dout: (N, F, H', W') -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    dx, dw, db = None, None, None
    # TODO: the naive backward pass of the convolution.
    pass
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """x: (N, C, H, W) -> out (N, C, H', W'), H' = 1 + (H - pool_height) // stride."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out, W_out = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = None
    # TODO: fill out (N, C, H_out, W_out) with the maximum of each window.
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    dx = None
    # TODO: the naive backward pass of max pooling.
    pass
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    out, cache = None, None
    if mode == "train":
        # TODO: training-time forward pass; update running_mean and running_var.
        pass
    elif mode == "test":
        # TODO: test-time forward pass with the running statistics.
        pass
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    # TODO: the backward pass of batch normalization.
    pass
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    dx, dgamma, dbeta = None, None, None
    # TODO: the same, simplified on paper first.
    pass
    return dx, dgamma, dbeta


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    out, cache = None, None
    # TODO: reuse batchnorm_forward on (N * H * W, C).
    pass
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    dx, dgamma, dbeta = None, None, None
    # TODO: reuse batchnorm_backward.
    pass
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    out = None
    if mode == "train":
        # TODO: inverted dropout; keep each neuron with probability p.
        pass
    elif mode == "test":
        # TODO: the test-time forward pass.
        pass
    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    dx = None
    # TODO: the backward pass of dropout.
    pass
    return dx
