"""Truth for im2col: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    NA,
    NAN,
    TORCHS,
    Agreement,
    Divergence,
    adapter,
    close,
    expect,
    relu_agrees,
    rng,
    run_layer,
    run_steps,
    torch_ce,
    torch_conv,
    torch_flatten,
    torch_linear,
    torch_pool,
    torch_sgd,
)

A = adapter("im2col")
BOTH = ("float64", "float32")


def conv_dx_raises_at_stride():
    """col2im is called without the stride: its stride-1 index arrays do not fit the
    patches of a strided conv, and np.add.at raises; y and dW are right."""
    r = rng(1)
    x, w = r.standard_normal((2, 2, 7, 6)), r.standard_normal((3, 2, 3, 3))
    dy = r.standard_normal((2, 3, 3, 2))
    layer = A.conv2d(w, None, 2, 0)
    expect(close(layer.forward(x), torch_conv(x, w, None, 2, 0, dy)["y"]), "y right")
    try:
        layer.backward(dy)
    except ValueError:
        return
    raise AssertionError("no error at stride 2")


def conv_right_at_stride_one():
    for dtype in BOTH:
        for i, (N, C, H, W, O, k, p) in enumerate([(2, 2, 5, 7, 3, 3, 1), (1, 3, 6, 6, 2, 1, 0)]):
            r = rng(10 + i)
            x, w = r.standard_normal((N, C, H, W)), r.standard_normal((O, C, k, k))
            x, w, b = x.astype(dtype), w.astype(dtype), r.standard_normal(O).astype(dtype)
            dy = r.standard_normal((N, O, H + 2 * p - k + 1, W + 2 * p - k + 1)).astype(dtype)
            ours, t = run_layer(A.conv2d(w, b, 1, p), x, dy), torch_conv(x, w, b, 1, p, dy)
            for key in t:
                expect(ours[key].dtype == dtype and close(ours[key], t[key], dtype), key)


def pool_square_only():
    """Both output sizes from x.shape[2]: too few columns when W > H, an IndexError when
    W < H."""
    x = rng(2).standard_normal((1, 1, 4, 6))
    y = A.maxpool2d(2, 2).forward(x)
    expect(y.shape == (1, 1, 2, 2), f"shape {y.shape}; torch's (1, 1, 2, 3)")
    try:
        A.maxpool2d(2, 2).forward(x.transpose(0, 1, 3, 2))
    except IndexError:
        return
    raise AssertionError("W < H did not raise")


def pool_first_nan():
    x = np.array([[NAN, 1.0], [NAN, 2.0]])[None, None]
    dy = np.array([[3.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(t["dx"][0, 0, 1, 0] == 3.0 and ours["dx"][0, 0, 0, 0] == 3.0, "first vs last NaN")


def pool_right_on_square_inputs():
    """Ties (argmax: the first), overlaps, strides, one NaN per window: torch's."""
    for dtype in BOTH:
        r = rng(3)
        for shape, k, s in [((2, 3, 6, 6), 2, 2), ((1, 2, 7, 7), 3, 1), ((2, 1, 9, 9), 2, 3)]:
            x = np.round(r.standard_normal(shape)).astype(dtype)
            x[0, 0, 0, 0] = NAN
            Ho = (shape[2] - k) // s + 1
            dy = r.standard_normal((shape[0], shape[1], Ho, Ho)).astype(dtype)
            ours, t = run_layer(A.maxpool2d(k, s), x, dy), torch_pool(x, k, s, dy)
            expect(ours["dx"].dtype == dtype, "dtype")
            expect(close(ours["y"], t["y"], dtype) and close(ours["dx"], t["dx"], dtype), "pool")


def flatten_w_h_c():
    x, dy = rng(4).standard_normal((2, 3, 2, 4)), rng(5).standard_normal((2, 24))
    ours = run_layer(A.flatten(), x, dy)
    expect(not close(ours["y"], torch_flatten(x, dy)["y"]), "not torch's")
    expect(close(ours["y"], x.transpose(0, 3, 2, 1).reshape(2, -1)), "(W, H, C) order")


def linear_weight_reshaped():
    """load_torch reshapes the (out, in) weight to (in, out) instead of transposing it."""
    r = rng(6)
    x, w, b, dy = (r.standard_normal(s) for s in [(4, 5), (3, 5), (3,), (4, 3)])
    ours = run_layer(A.linear(w, b), x, dy)
    expect(not close(ours["y"], torch_linear(x, w, b, dy)["y"]), "not torch's")
    as_read = w.reshape(5, 3).T.copy()  # the (out, in) weight it effectively uses
    expect(close(ours["y"], torch_linear(x, as_read, b, dy)["y"]), "x @ w.reshape(in, out)")


def loss_binary_ce():
    """-mean over N*K entries of y log p + (1 - y) log(1 - p); dlogits right."""
    r = rng(7)
    z, y = r.standard_normal((4, 5)), r.integers(0, 5, 4)
    f = A.cross_entropy()
    loss, dz = f.forward(z, y), f.backward()
    t = torch_ce(z, y)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(5)[y]
    bce = -np.mean(onehot * np.log(p) + (1 - onehot) * np.log(1 - p))
    expect(not close(loss, t["loss"]) and close(loss, bce), "binary CE")
    expect(close(dz, t["dlogits"]), "dlogits right")


def sgd_agrees():
    for dtype in BOTH:
        r = rng(8)
        params = [r.standard_normal(4).astype(dtype), r.standard_normal((2, 3)).astype(dtype)]
        grads = [[r.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(3)]
        want = torch_sgd(params, grads, 0.1)
        got = run_steps(A.sgd(params, 0.1), params, grads)
        for g, t in zip(got, want, strict=True):
            for a, b in zip(g, t, strict=True):
                expect(a.dtype == dtype and close(a, b, dtype), "SGD")


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "dx raises at stride > 1 (col2im called without the stride)",
        ("signature:raises", "signature:only-at:stride"),
        conv_dx_raises_at_stride,
    ),
    Divergence(
        "MaxPool2d",
        "output columns computed from the height (square inputs only)",
        ("pool_assumes_square_input", "signature:only-at:non-square"),
        pool_square_only,
    ),
    Divergence(
        "MaxPool2d",
        "a window with several NaN sends its gradient to the first NaN, torch's to the last",
        ("signature:only-at:nan",),
        pool_first_nan,
    ),
    Divergence(
        "Flatten",
        "(W, H, C) order",
        ("flatten_w_h_c", "signature:permuted:(W, H, C) order"),
        flatten_w_h_c,
    ),
    Divergence(
        "Linear",
        "the torch weight reshaped to (in, out), not transposed",
        ("linear_weight_reshaped_not_transposed",),
        linear_weight_reshaped,
    ),
    Divergence(
        "CrossEntropy",
        "binary cross-entropy over the N*K softmax outputs",
        ("loss_binary_ce_for_multiclass",),
        loss_binary_ce,
    ),
]

AGREES = [
    Agreement("ReLU", lambda: relu_agrees(A, BOTH)),
    Agreement("SGD", sgd_agrees),
]

RIGHT_PARTS = [conv_right_at_stride_one, pool_right_on_square_inputs]

CONVENTIONS = {
    "kernel orientation": TORCHS,
    "tie rule": TORCHS,
    "ReLU'(0)": TORCHS,
    "loss reduction": TORCHS,  # a mean over the batch (and the classes)
    "Adam variant": NA,
    "NaN propagation": TORCHS,  # one NaN per window: it wins, and gets the gradient
}
