"""Truth for autograd: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NAN,
    TORCHS,
    Agreement,
    Divergence,
    adam_agrees,
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

A = adapter("autograd")
F64 = ("float64",)


def conv_flipped_kernel():
    """True convolution: torch's cross-correlation with the kernel turned by 180 degrees,
    forward and backward (stride and padding right)."""
    r = rng(1)
    x, w, b = r.standard_normal((2, 2, 7, 6)), r.standard_normal((3, 2, 3, 3)), np.ones(3)
    dy = r.standard_normal((2, 3, 4, 3))
    ours = run_layer(A.conv2d(w, b, 2, 1), x, dy)
    flipped = torch_conv(x, w[:, :, ::-1, ::-1].copy(), b, 2, 1, dy)
    expect(not close(ours["y"], torch_conv(x, w, b, 2, 1, dy)["y"]), "not torch's")
    expect(close(ours["y"], flipped["y"]) and close(ours["dx"], flipped["dx"]), "flipped")
    expect(close(ours["weight"], flipped["weight"][:, :, ::-1, ::-1]), "dw flipped back")


def relu_gradient_one_at_zero():
    """(x >= 0) * grad: ReLU'(0) = 1 (at -0.0 too); torch's is 0."""
    x, dy = np.array([[0.0, -0.0, 1.0, -1.0]]), np.array([[2.0, 3.0, 4.0, 5.0]])
    ours, t = run_layer(A.relu(), x, dy), torch_relu(x, dy)
    expect(list(ours["dx"][0]) == [2, 3, 4, 0] and list(t["dx"][0]) == [0, 0, 4, 0], "x = 0")


def relu_backward_blocks_nan():
    """NaN >= 0 is false: no gradient at NaN; the forward keeps NaN (np.maximum)."""
    x, dy = np.array([[NAN, -1.0, 2.0]]), np.array([[1.5, 2.5, -3.5]])
    ours, t = run_layer(A.relu(), x, dy), torch_relu(x, dy)
    expect(np.isnan(ours["y"][0, 0]) and ours["dx"][0, 0] == 0 and t["dx"][0, 0] == 1.5, "NaN")


def pool_ties_split_evenly():
    x = np.array([[1.0, 3.0], [3.0, 3.0]])[None, None]
    dy = np.array([[6.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(list(ours["dx"].ravel()) == [0, 2, 2, 2] and list(t["dx"].ravel()) == [0, 6, 0, 0], "")


def pool_nan_window_gradient_nan():
    """A window holding NaN has no hit (NaN == NaN is false): 0 / 0, NaN gradients over
    the whole window; torch sends the gradient to the NaN."""
    x = np.array([[NAN, 1.0], [2.0, 0.0]])[None, None]
    dy = np.array([[5.0]])[None, None]
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(np.isnan(ours["y"]).all() and np.isnan(ours["dx"]).all(), "NaN dx")
    expect(np.isfinite(t["dx"]).all(), "torch finite")


def pool_right_without_ties_or_nan():
    r = rng(2)
    for shape, k in [((2, 3, 6, 7), 2), ((1, 2, 9, 6), 3)]:
        x = r.standard_normal(shape)
        Ho, Wo = shape[2] // k, shape[3] // k
        dy = r.standard_normal((shape[0], shape[1], Ho, Wo))
        ours, t = run_layer(A.maxpool2d(k, k), x, dy), torch_pool(x, k, k, dy)
        expect(close(ours["y"], t["y"]) and close(ours["dx"], t["dx"]), "pool")


def loss_summed():
    r = rng(3)
    z, y = r.standard_normal((4, 5)), r.integers(0, 5, 4)
    f = A.cross_entropy()
    loss, dz = f.forward(z, y), f.backward()
    t = torch_ce(z, y)
    expect(close(loss, 4 * t["loss"]) and close(dz, 4 * t["dlogits"]), "N times")


def loss_overflows():
    """exp(logits) with no max subtracted: inf / inf = NaN from ~710 on."""
    z, y = np.array([[800.0, 0.0], [1.0, 2.0]]), np.array([0, 1])
    f = A.cross_entropy()
    loss = f.forward(z, y)
    expect(np.isnan(loss) and np.isfinite(torch_ce(z, y)["loss"]), f"loss {loss}")


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "true convolution (the kernel flipped)",
        ("conv_flipped_kernel", "signature:permuted:flipped"),
        conv_flipped_kernel,
    ),
    Divergence(
        "ReLU",
        "ReLU'(0) = 1 (a >= 0 mask)",
        ("relu_gradient_at_zero_is_one", "signature:only-at:zeros"),
        relu_gradient_one_at_zero,
    ),
    Divergence(
        "ReLU",
        "backward blocks the gradient at NaN (NaN >= 0 is false)",
        ("signature:only-at:nan",),
        relu_backward_blocks_nan,
    ),
    Divergence(
        "MaxPool2d",
        "ties share the gradient evenly",
        ("pool_ties_split_evenly", "signature:only-at:ties"),
        pool_ties_split_evenly,
    ),
    Divergence(
        "MaxPool2d",
        "a window holding NaN gets NaN gradients (0 / 0)",
        ("signature:only-at:nan",),
        pool_nan_window_gradient_nan,
    ),
    Divergence(
        "CrossEntropy",
        "the loss summed over the batch, not averaged",
        ("loss_summed_not_averaged", "signature:ratio:N"),
        loss_summed,
    ),
    Divergence(
        "CrossEntropy",
        "softmax without max-subtraction: NaN at large logits",
        ("loss_softmax_without_max_subtraction", "signature:only-at:large"),
        loss_overflows,
    ),
]

AGREES = [
    Agreement("Linear", lambda: linear_agrees(A, F64)),
    Agreement("Flatten", lambda: flatten_agrees(A, F64)),
    Agreement("Adam", lambda: adam_agrees(A, F64)),
]

RIGHT_PARTS = [pool_right_without_ties_or_nan]

CONVENTIONS = {
    "kernel orientation": DIFFERS,
    "tie rule": DIFFERS,
    "ReLU'(0)": DIFFERS,
    "loss reduction": DIFFERS,
    "Adam variant": TORCHS,
    "NaN propagation": DIFFERS,
}
