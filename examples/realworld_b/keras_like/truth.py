"""Truth for keras_like: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NAN,
    TORCHS,
    Divergence,
    adapter,
    close,
    expect,
    rng,
    run_layer,
    run_steps,
    torch_adam,
    torch_ce,
    torch_conv,
    torch_flatten,
    torch_linear,
    torch_pool,
    torch_relu,
)

A = adapter("keras_like")
BOTH = ("float64", "float32")


def _conv_case(stride, seed=1):
    r = rng(seed)
    x, w, b = r.standard_normal((2, 2, 7, 6)), r.standard_normal((3, 2, 3, 3)), np.ones(3)
    Ho, Wo = (7 - 3) // stride + 1, (6 - 3) // stride + 1
    return x, w, b, r.standard_normal((2, 3, Ho, Wo))


def conv_ignores_stride():
    """self.strides is kept and never read: every position is computed at any stride."""
    x, w, b, _ = _conv_case(2)
    y = A.conv2d(w, b, 2, 0).forward(x)
    expect(y.shape == (2, 3, 5, 4), f"shape {y.shape}; torch's (2, 3, 3, 2)")


def conv_grads_accumulate():
    """grads["kernel"] += ...: a second backward adds to the first (the model clears them
    after its optimizer step, which a single layer never takes)."""
    x, w, b, dy = _conv_case(1)
    layer = A.conv2d(w, b, 1, 0)
    run_layer(layer, x, dy)
    second = run_layer(layer, x, dy)
    t = torch_conv(x, w, b, 1, 0, dy)
    expect(close(second["weight"], 2 * t["weight"]) and close(second["bias"], 2 * t["bias"]), "")
    expect(close(second["y"], t["y"]) and close(second["dx"], t["dx"]), "y, dx right")


def conv_right_at_stride_one_first_call():
    """At stride 1 a fresh layer's first backward is torch's (padding and 1x1 too)."""
    for dtype in BOTH:
        for i, cfg in enumerate([(2, 2, 5, 7, 3, 3, 1), (1, 3, 6, 6, 2, 1, 0)]):
            N, C, H, W, O, k, p = cfg
            r = rng(30 + i)
            x, w = r.standard_normal((N, C, H, W)).astype(dtype), r.standard_normal((O, C, k, k))
            w, b = w.astype(dtype), r.standard_normal(O).astype(dtype)
            dy = r.standard_normal((N, O, H + 2 * p - k + 1, W + 2 * p - k + 1)).astype(dtype)
            ours, t = run_layer(A.conv2d(w, b, 1, p), x, dy), torch_conv(x, w, b, 1, p, dy)
            for key in t:
                expect(ours[key].dtype == dtype and close(ours[key], t[key], dtype), key)


def relu_nan_to_zero_both_ways():
    x, dy = np.array([[NAN, -1.0, 2.0]]), np.array([[1.5, 2.5, -3.5]])
    ours, t = run_layer(A.relu(), x, dy), torch_relu(x, dy)
    expect(np.isnan(t["y"][0, 0]) and ours["y"][0, 0] == 0, "forward")
    expect(t["dx"][0, 0] == 1.5 and ours["dx"][0, 0] == 0, "backward")


def pool_overlap_overwrites():
    """dx[..] = dy[..]: a pixel that wins two overlapping windows keeps the last one's
    gradient only; torch adds them."""
    x = np.array([[0.0, 9.0, 1.0], [2.0, 3.0, 4.0]])[None, None]  # 9 wins both windows
    dy = np.array([[1.0, 2.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 1), x, dy), torch_pool(x, 2, 1, dy)
    expect(ours["dx"][0, 0, 0, 1] == 2.0 and t["dx"][0, 0, 0, 1] == 3.0, "overwrite")


def pool_first_nan():
    x = np.array([[NAN, 1.0], [NAN, 2.0]])[None, None]
    dy = np.array([[3.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(t["dx"][0, 0, 1, 0] == 3.0 and ours["dx"][0, 0, 0, 0] == 3.0, "first vs last NaN")


def pool_right_without_overlap():
    """Ties (argmax: the first), strides >= the window, one NaN per window: torch's."""
    for dtype in BOTH:
        r = rng(2)
        for shape, k, s in [((2, 3, 6, 7), 2, 2), ((1, 2, 9, 8), 2, 3)]:
            x = np.round(r.standard_normal(shape)).astype(dtype)
            x[0, 0, 0, 0] = NAN
            Ho, Wo = (shape[2] - k) // s + 1, (shape[3] - k) // s + 1
            dy = r.standard_normal((shape[0], shape[1], Ho, Wo)).astype(dtype)
            ours, t = run_layer(A.maxpool2d(k, s), x, dy), torch_pool(x, k, s, dy)
            expect(close(ours["y"], t["y"], dtype) and close(ours["dx"], t["dx"], dtype), "pool")


def flatten_channels_last():
    x = rng(3).standard_normal((2, 3, 2, 4))
    dy = rng(4).standard_normal((2, 24))
    ours = run_layer(A.flatten(), x, dy)
    expect(not close(ours["y"], torch_flatten(x, dy)["y"]), "not torch's")
    expect(close(ours["y"], x.transpose(0, 2, 3, 1).reshape(2, -1)), "(H, W, C) order")


def linear_grads_accumulate():
    r = rng(5)
    x, w, b, dy = (r.standard_normal(s) for s in [(4, 5), (3, 5), (3,), (4, 3)])
    layer = A.linear(w, b)
    run_layer(layer, x, dy)
    second = run_layer(layer, x, dy)
    t = torch_linear(x, w, b, dy)
    expect(close(second["weight"], 2 * t["weight"]) and close(second["bias"], 2 * t["bias"]), "")


def loss_writes_into_logits():
    z = np.array([[1.0, 2.0, 3.0]])
    A.cross_entropy().forward(z, np.array([0]))
    expect(list(z[0]) == [-2.0, -1.0, 0.0], f"logits now {z}")


def loss_inf_at_large_logits():
    z, y = np.array([[1e4, -1e4, 0.0], [0.1, 0.2, 0.3]]), np.array([1, 0])
    loss = A.cross_entropy().forward(z.copy(), y)
    expect(np.isinf(loss) and np.isfinite(torch_ce(z, y)["loss"]), f"loss {loss}")


def loss_right_at_moderate_logits():
    for dtype in BOTH:
        r = rng(6)
        z, y = (2 * r.standard_normal((6, 5))).astype(dtype), r.integers(0, 5, 6)
        f = A.cross_entropy()
        loss, dz = f.forward(z.copy(), y), f.backward()
        t = torch_ce(z, y)
        expect(close(loss, t["loss"], dtype) and close(dz, t["dlogits"], dtype), "loss")


def adam_step_count_per_parameter():
    """iterations += 1 per variable: with two parameters, the second one's first step
    is corrected with t = 2; one parameter alone is torch's."""
    r = rng(7)
    params = [r.standard_normal(3), r.standard_normal(2)]
    grads = [[r.standard_normal(3), r.standard_normal(2)] for _ in range(2)]
    start = [p.copy() for p in params]
    got = run_steps(A.adam(params, 0.01, (0.9, 0.999), 1e-8), params, grads)
    want = torch_adam(start, grads, 0.01, (0.9, 0.999), 1e-8)
    expect(close(got[0][0], want[0][0]) and not close(got[0][1], want[0][1]), "t per param")
    one = [start[0].copy()]
    alone = run_steps(A.adam(one, 0.01, (0.9, 0.999), 1e-8), one, [[g[0]] for g in grads])
    expect(
        close(
            alone[-1][0],
            torch_adam([start[0]], [[g[0]] for g in grads], 0.01, (0.9, 0.999), 1e-8)[-1][0],
        ),
        "one param right",
    )


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "the stride is ignored",
        ("conv_ignores_stride", "signature:only-at:stride"),
        conv_ignores_stride,
    ),
    Divergence(
        "Conv2d",
        "gradients accumulate across backward calls (+=, cleared by the model only)",
        ("conv_layer_accumulates_grads", "signature:state:accumulates"),
        conv_grads_accumulate,
    ),
    Divergence(
        "ReLU",
        "NaN becomes 0 both ways (np.where(x > 0, ...) forward and backward)",
        ("relu_nan_to_zero_both_ways", "signature:only-at:nan"),
        relu_nan_to_zero_both_ways,
    ),
    Divergence(
        "MaxPool2d",
        "overlapping windows overwrite a shared winner's gradient (= instead of +=)",
        ("pool_overlapping_gradients_overwrite", "signature:only-at:stride"),
        pool_overlap_overwrites,
    ),
    Divergence(
        "MaxPool2d",
        "a window with several NaN sends its gradient to the first NaN, torch's to the last",
        ("signature:only-at:nan",),
        pool_first_nan,
    ),
    Divergence(
        "Flatten",
        "channels-last order (H, W, C)",
        ("flatten_channels_last", "signature:permuted:channels-last"),
        flatten_channels_last,
    ),
    Divergence(
        "Linear",
        "gradients accumulate across backward calls",
        ("linear_layer_accumulates_grads", "signature:state:accumulates"),
        linear_grads_accumulate,
    ),
    Divergence(
        "CrossEntropy",
        "subtracts the row max from the caller's logits in place",
        ("loss_writes_into_logits", "signature:writes-input"),
        loss_writes_into_logits,
    ),
    Divergence(
        "CrossEntropy",
        "-log of the label's softmax probability: inf once it underflows",
        ("loss_log_of_underflowed_softmax", "signature:only-at:large"),
        loss_inf_at_large_logits,
    ),
    Divergence(
        "Adam",
        "the step count advances once per parameter, not once per step",
        ("adam_step_count_per_parameter", "signature:adam:t-per-parameter"),
        adam_step_count_per_parameter,
    ),
]

AGREES = []

RIGHT_PARTS = [
    conv_right_at_stride_one_first_call,
    pool_right_without_overlap,
    loss_right_at_moderate_logits,
]

CONVENTIONS = {
    "kernel orientation": TORCHS,
    "tie rule": TORCHS,
    "ReLU'(0)": TORCHS,
    "loss reduction": TORCHS,
    "Adam variant": DIFFERS,
    "NaN propagation": DIFFERS,  # ReLU
}
