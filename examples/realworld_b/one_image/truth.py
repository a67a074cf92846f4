"""Truth for one_image: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NA,
    NAN,
    TORCHS,
    Agreement,
    Divergence,
    adapter,
    close,
    expect,
    flatten_agrees,
    linear_agrees,
    rng,
    run_layer,
    torch_ce,
    torch_conv,
    torch_pool,
    torch_relu,
)

A = adapter("one_image")
BOTH = ("float64", "float32")


def conv_returns_float64():
    """np.zeros(...) without a dtype: float32 images come back as float64, same values."""
    r = rng(1)
    x = r.standard_normal((2, 2, 6, 5)).astype(np.float32)
    w = r.standard_normal((3, 2, 3, 3)).astype(np.float32)
    dy = r.standard_normal((2, 3, 4, 3)).astype(np.float32)
    ours = run_layer(A.conv2d(w, None, 1, 0), x, dy)
    t = torch_conv(x, w, None, 1, 0, dy)
    expect(ours["y"].dtype == np.float64 and ours["dx"].dtype == np.float64, "dtype")
    expect(close(ours["y"], t["y"], np.float32) and close(ours["dx"], t["dx"], np.float32), "vals")


def relu_nan_to_zero_both_ways():
    x = np.array([[NAN, -1.0, 2.0]])
    dy = np.array([[1.5, 2.5, -3.5]])
    ours, t = run_layer(A.relu(), x, dy), torch_relu(x, dy)
    expect(np.isnan(t["y"][0, 0]) and ours["y"][0, 0] == 0, "forward: NaN -> 0")
    expect(t["dx"][0, 0] == 1.5 and ours["dx"][0, 0] == 0, "backward: blocked at NaN")


def pool_every_tied_max():
    """(window == top) * d_out: each tied maximum gets the whole gradient, and a window
    holding NaN gives none (NaN == NaN is false), where torch picks one position."""
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]], [[[NAN, 1.0], [2.0, 0.0]]]])  # (2, 1, 2, 2)
    dy = np.array([[[[2.0]]], [[[5.0]]]])
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(ours["dx"][0, 0].sum() == 4.0 and t["dx"][0, 0].sum() == 2.0, "tie: both maxima")
    expect(t["dx"][1, 0, 0, 0] == 5.0 and ours["dx"][1, 0].sum() == 0.0, "NaN: no gradient")
    expect(np.isnan(ours["y"][1, 0, 0, 0]), "the forward keeps NaN")


def loss_without_max_subtraction():
    """exp(logits) before any max is taken: exp overflows to inf from logits of ~710
    (float64) or ~89 (float32) on, and the loss is NaN or inf; torch's is finite."""
    for dtype, big in ((np.float64, 1000.0), (np.float32, 100.0)):
        z = np.array([[big, 0.0, -1.0], [0.5, 0.2, 0.1]], dtype=dtype)
        y = np.array([1, 0])
        f = A.cross_entropy()
        loss = f.forward(z, y)
        expect(not np.isfinite(loss) and np.isfinite(torch_ce(z, y)["loss"]), f"{dtype}")


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "float32 inputs come back as float64 (np.zeros without a dtype), right values",
        ("signature:wrong-dtype",),
        conv_returns_float64,
    ),
    Divergence(
        "ReLU",
        "NaN becomes 0 forward (np.where(x > 0, x, 0)) and blocks the gradient (x > 0 mask)",
        ("relu_nan_to_zero_both_ways", "signature:only-at:nan"),
        relu_nan_to_zero_both_ways,
    ),
    Divergence(
        "MaxPool2d",
        "x == max mask: every tied maximum gets the gradient, a NaN window gets none",
        ("pool_ties_to_every_max", "signature:only-at:ties"),
        pool_every_tied_max,
    ),
    Divergence(
        "CrossEntropy",
        "softmax without max-subtraction: NaN loss and gradient at large logits",
        ("loss_softmax_without_max_subtraction", "signature:only-at:large"),
        loss_without_max_subtraction,
    ),
]

AGREES = [
    Agreement("Linear", lambda: linear_agrees(A, BOTH)),
    Agreement("Flatten", lambda: flatten_agrees(A, BOTH)),
]

CONVENTIONS = {
    "kernel orientation": TORCHS,  # cross-correlation; fails only on its dtype
    "tie rule": DIFFERS,
    "ReLU'(0)": TORCHS,  # d_out * (x > 0): 0 at 0
    "loss reduction": TORCHS,  # the adapter averages the per-image losses, as torch
    "Adam variant": NA,  # SGD inside backward, no Adam
    "NaN propagation": DIFFERS,
}
