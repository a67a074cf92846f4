"""Vectorised conv and max pooling with the API of cs231n's fast_layers.py (our own code,
with NumPy's sliding windows where the course compiles an im2col in Cython).

`cnn-oracle check --api cs231n --fast` checks these instead of the naive layers.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _windows(x, kh, kw, stride):
    """(N, C, H, W) -> (N, C, H', W', kh, kw): a view of every window."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def conv_forward_fast(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = _windows(xp, w.shape[2], w.shape[3], stride)  # (N, C, H', W', HH, WW)
    out = np.einsum("nchwij,fcij->nfhw", cols, w) + b[None, :, None, None]
    return out, (x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    H_out, W_out = dout.shape[2], dout.shape[3]
    dw = np.einsum("nchwij,nfhw->fcij", _windows(xp, HH, WW, stride), dout)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    for i in range(HH):
        for j in range(WW):
            rows = slice(i, i + stride * (H_out - 1) + 1, stride)
            cols = slice(j, j + stride * (W_out - 1) + 1, stride)
            dxp[:, :, rows, cols] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    return dxp[:, :, pad : pad + H, pad : pad + W], dw, db


def max_pool_forward_fast(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = _windows(x, ph, pw, s).max(axis=(4, 5))
    return out, (x, pool_param)


def max_pool_backward_fast(dout, cache):
    """Each window's gradient to its first maximum (to its last NaN, where it holds NaN)."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    flat = _windows(x, ph, pw, s).reshape(N, C, H_out, W_out, ph * pw)
    nan = np.isnan(flat)
    last_nan = ph * pw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    k = np.where(nan.any(axis=-1), last_nan, np.argmax(flat, axis=-1))
    r, q = np.divmod(k, pw)
    n, c, i, j = np.indices((N, C, H_out, W_out))
    dx = np.zeros_like(x)
    np.add.at(dx, (n, c, i * s + r, j * s + q), dout)
    return dx
