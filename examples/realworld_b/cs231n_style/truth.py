"""Truth for cs231n_style: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NAN,
    TORCHS,
    Agreement,
    Divergence,
    adam_gradients,
    adapter,
    close,
    conv_agrees,
    expect,
    flatten_agrees,
    linear_agrees,
    rng,
    run_layer,
    run_steps,
    torch_adam,
    torch_ce,
    torch_conv,
    torch_pool,
    torch_relu,
)

A = adapter("cs231n_style")
BOTH = ("float64", "float32")


def conv_dx_empty_at_padding_zero():
    """dx_pad[:, :, pad:-pad, pad:-pad] is [0:0] at pad 0; y and dw are right."""
    r = rng(1)
    x, w = r.standard_normal((2, 2, 5, 6)), r.standard_normal((3, 2, 3, 3))
    dy = r.standard_normal((2, 3, 3, 4))
    ours, t = run_layer(A.conv2d(w, None, 1, 0), x, dy), torch_conv(x, w, None, 1, 0, dy)
    expect(ours["dx"].shape == (2, 2, 0, 0) and t["dx"].shape == x.shape, "empty dx")
    expect(close(ours["y"], t["y"]) and close(ours["weight"], t["weight"]), "y, dw right")


def conv_right_with_padding():
    """With padding > 0 the same conv is torch's in every output (and any stride)."""
    conv_agrees(A, BOTH, [(2, 2, 5, 7, 3, 3, 1, 1, True), (1, 3, 8, 6, 2, 3, 2, 2, False)])


def relu_backward_blocks_nan():
    """dout * (x > 0): 0 at NaN, where torch passes the gradient; the forward keeps NaN."""
    x, dy = np.array([[NAN, -1.0, 2.0]]), np.array([[1.5, 2.5, -3.5]])
    ours, t = run_layer(A.relu(), x, dy), torch_relu(x, dy)
    expect(np.isnan(ours["y"][0, 0]), "forward keeps NaN")
    expect(t["dx"][0, 0] == 1.5 and ours["dx"][0, 0] == 0, "backward at NaN")


def pool_first_nan():
    """argmax takes the first NaN of a window; torch's kernel keeps the last one."""
    x = np.array([[NAN, 1.0], [NAN, 2.0]])[None, None]
    dy = np.array([[3.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(t["dx"][0, 0, 1, 0] == 3.0 and ours["dx"][0, 0, 0, 0] == 3.0, "first vs last NaN")


def pool_right_without_nan():
    """Ties, overlaps, strides, non-square inputs, one NaN per window: torch's."""
    for dtype in BOTH:
        r = rng(2)
        for shape, k, s in [((2, 3, 6, 7), 2, 2), ((1, 2, 7, 5), 3, 1), ((2, 1, 9, 8), 2, 3)]:
            x = np.round(r.standard_normal(shape)).astype(dtype)  # many ties
            x[0, 0, 0, 0] = NAN
            Ho, Wo = (shape[2] - k) // s + 1, (shape[3] - k) // s + 1
            dy = r.standard_normal((shape[0], shape[1], Ho, Wo)).astype(dtype)
            ours, t = run_layer(A.maxpool2d(k, s), x, dy), torch_pool(x, k, s, dy)
            expect(ours["y"].dtype == dtype and ours["dx"].dtype == dtype, "dtype")
            expect(close(ours["y"], t["y"], dtype) and close(ours["dx"], t["dx"], dtype), "pool")


def loss_inf_at_large_logits():
    """-log of the label's softmax probability, after a correct max-subtraction: it is 0
    when the label's logit is far below the row's max, and the loss inf."""
    for dtype in BOTH:
        z = np.array([[1e4, -1e4, 0.0], [0.1, 0.2, 0.3]], dtype=dtype)
        y = np.array([1, 0])
        f = A.cross_entropy()
        loss, dz = f.forward(z, y), f.backward()
        t = torch_ce(z, y)
        expect(np.isinf(loss) and np.isfinite(t["loss"]), "inf loss")
        expect(close(dz, t["dlogits"], dtype), "dlogits right")


def loss_right_at_moderate_logits():
    for dtype in BOTH:
        r = rng(3)
        z, y = (3 * r.standard_normal((6, 5))).astype(dtype), r.integers(0, 5, 6)
        f = A.cross_entropy()
        loss, dz = f.forward(z, y), f.backward()
        t = torch_ce(z, y)
        expect(close(loss, t["loss"], dtype) and close(dz, t["dlogits"], dtype), "loss")
        expect(np.asarray(dz).dtype == dtype, "dtype")


def adam_correction_without_step():
    """m / (1 - beta1), v / (1 - beta2): torch's at step 1, not from step 2 on."""
    r = rng(4)
    params = [r.standard_normal(5)]
    grads = adam_gradients(5, [(5,)], 3, np.float64)
    want = torch_adam(params, grads, 0.01, (0.9, 0.999), 1e-8)
    got = run_steps(A.adam(params, 0.01, (0.9, 0.999), 1e-8), params, grads)
    expect(close(got[0][0], want[0][0]), "step 1 right")
    expect(not close(got[1][0], want[1][0]), "step 2 wrong")


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "dx unpadded with [pad:-pad]: empty at padding 0",
        ("conv_dx_empty_at_padding_zero", "signature:empty-output"),
        conv_dx_empty_at_padding_zero,
    ),
    Divergence(
        "ReLU",
        "backward dout * (x > 0) blocks the gradient at NaN (the forward keeps NaN)",
        ("signature:only-at:nan",),
        relu_backward_blocks_nan,
    ),
    Divergence(
        "MaxPool2d",
        "a window with several NaN sends its gradient to the first NaN, torch's to the last",
        ("signature:only-at:nan",),
        pool_first_nan,
    ),
    Divergence(
        "CrossEntropy",
        "-log of the label's softmax probability: inf once it underflows to 0",
        ("loss_log_of_underflowed_softmax", "signature:only-at:large"),
        loss_inf_at_large_logits,
    ),
    Divergence(
        "Adam",
        "bias correction without the step count",
        ("adam_bias_correction_without_step", "signature:adam:correction-without-step"),
        adam_correction_without_step,
    ),
]

AGREES = [
    Agreement("Linear", lambda: linear_agrees(A, BOTH)),
    Agreement("Flatten", lambda: flatten_agrees(A, BOTH)),
]

# Not layers that agree (each diverges above), but the parts of them that do: what a
# report may not call wrong.
RIGHT_PARTS = [conv_right_with_padding, pool_right_without_nan, loss_right_at_moderate_logits]

CONVENTIONS = {
    "kernel orientation": TORCHS,  # a cross-correlation whose dx is empty at padding 0
    "tie rule": TORCHS,  # argmax: the first maximum
    "ReLU'(0)": TORCHS,
    "loss reduction": TORCHS,
    "Adam variant": DIFFERS,
    "NaN propagation": DIFFERS,  # ReLU's backward at NaN
}
