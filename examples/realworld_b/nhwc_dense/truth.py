"""Truth for nhwc_dense: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NAN,
    TORCHS,
    Agreement,
    Divergence,
    adapter,
    close,
    conv_agrees,
    expect,
    flatten_agrees,
    relu_agrees,
    rng,
    run_layer,
    run_steps,
    torch_adam,
    torch_ce,
    torch_linear,
    torch_pool,
)

A = adapter("nhwc_dense")
BOTH = ("float64", "float32")


def conv_square_only():
    """n_W is computed from n_H_prev: too few columns when W > H, a crash when W < H."""
    r = rng(1)
    w = r.standard_normal((2, 1, 3, 3))
    wide = A.conv2d(w, None, 1, 0).forward(r.standard_normal((1, 1, 5, 8)))
    expect(wide.shape == (1, 2, 3, 3), f"W > H: shape {wide.shape}, torch's (1, 2, 3, 6)")
    try:
        A.conv2d(w, None, 1, 0).forward(r.standard_normal((1, 1, 8, 5)))
    except ValueError:
        return
    raise AssertionError("W < H did not raise")


def conv_right_on_square_inputs():
    configs = [(2, 2, 6, 6, 3, 3, 1, 0, True), (1, 3, 7, 7, 2, 3, 2, 1, False)]
    conv_agrees(A, BOTH, configs + [(2, 1, 5, 5, 4, 1, 1, 0, True)])


def pool_output_size_h_over_stride():
    """n_H = n_H_prev // stride: extra windows past the edge when stride < f."""
    x = rng(2).standard_normal((1, 1, 6, 6))
    y = A.maxpool2d(3, 1).forward(x)
    expect(y.shape == (1, 1, 6, 6), f"shape {y.shape}; torch's (1, 1, 4, 4)")
    y = A.maxpool2d(2, 2).forward(x)
    expect(close(y, torch_pool(x, 2, 2, np.ones((1, 1, 3, 3)))["y"]), "right at stride == f")


def pool_every_tied_max():
    """x == max(window): each tied maximum gets the whole gradient; at NaN, none does."""
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]], [[[NAN, 1.0], [2.0, 0.0]]]])
    dy = np.array([[[[2.0]]], [[[5.0]]]])
    ours, t = run_layer(A.maxpool2d(2, 2), x, dy), torch_pool(x, 2, 2, dy)
    expect(ours["dx"][0, 0].sum() == 4.0 and t["dx"][0, 0].sum() == 2.0, "tie: both maxima")
    expect(t["dx"][1, 0, 0, 0] == 5.0 and ours["dx"][1, 0].sum() == 0.0, "NaN: no gradient")


def linear_gradients_over_n():
    """dweights and dbiases divided by the batch size; dinputs right."""
    r = rng(3)
    x, w, b, dy = (r.standard_normal(s) for s in [(4, 5), (3, 5), (3,), (4, 3)])
    ours, t = run_layer(A.linear(w, b), x, dy), torch_linear(x, w, b, dy)
    expect(close(ours["weight"] * 4, t["weight"]) and close(ours["bias"] * 4, t["bias"]), "/N")
    expect(close(ours["y"], t["y"]) and close(ours["dx"], t["dx"]), "y, dx right")


def loss_clipped():
    """-log(clip(p, 1e-7, 1 - 1e-7)): never above 16.1, and ~1e-7 for a sure answer."""
    z = np.array([[30.0, 0.0, -1.0], [0.0, 40.0, 1.0]])
    f = A.cross_entropy()
    loss = f.forward(z, np.array([1, 1]))
    t = torch_ce(z, np.array([1, 1]))
    expect(loss < 8.1 and t["loss"] > 14.9, f"loss {loss}, torch {t['loss']}")
    expect(close(f.backward(), t["dlogits"]), "dlogits right")


def loss_right_at_moderate_logits():
    for dtype in BOTH:
        r = rng(4)
        z, y = (2 * r.standard_normal((6, 5))).astype(dtype), r.integers(0, 5, 6)
        f = A.cross_entropy()
        loss, dz = f.forward(z, y), f.backward()
        t = torch_ce(z, y)
        expect(close(loss, t["loss"], dtype) and close(dz, t["dlogits"], dtype), "loss")


def adam_eps_inside_sqrt():
    """m_hat / sqrt(v_hat + eps): far from torch's where gradients are small."""
    params = [np.ones(3)]
    grads = [[np.array([1e-6, 1.0, -1e-5])] for _ in range(2)]
    want = torch_adam(params, grads, 0.1, (0.9, 0.999), 1e-8)
    got = run_steps(A.adam(params, 0.1, (0.9, 0.999), 1e-8), params, grads)
    expect(not close(got[0][0], want[0][0]), "step 1 differs")
    expect(abs(got[0][0][0] - 1) < 0.002 and abs(want[0][0][0] - 1) > 0.09, "tiny gradient")


DIVERGENCES = [
    Divergence(
        "Conv2d",
        "output width computed from the height (square inputs only)",
        ("conv_assumes_square_input", "signature:only-at:non-square"),
        conv_square_only,
    ),
    Divergence(
        "MaxPool2d",
        "output size H // stride",
        ("pool_output_size_h_over_stride", "signature:only-at:stride"),
        pool_output_size_h_over_stride,
    ),
    Divergence(
        "MaxPool2d",
        "x == max mask: every tied maximum gets the gradient, a NaN window gets none",
        ("pool_ties_to_every_max", "signature:only-at:ties"),
        pool_every_tied_max,
    ),
    Divergence(
        "Linear",
        "dW and db divided by the batch size",
        ("linear_gradients_divided_by_batch", "signature:ratio:1/N"),
        linear_gradients_over_n,
    ),
    Divergence(
        "CrossEntropy",
        "probabilities clipped to [1e-7, 1 - 1e-7] in the loss",
        ("loss_probabilities_clipped_like_keras", "signature:only-at:large"),
        loss_clipped,
    ),
    Divergence(
        "Adam",
        "eps inside the square root",
        ("adam_eps_inside_sqrt", "signature:adam:eps-inside-sqrt"),
        adam_eps_inside_sqrt,
    ),
]

AGREES = [
    Agreement("ReLU", lambda: relu_agrees(A, BOTH)),
    Agreement("Flatten", lambda: flatten_agrees(A, BOTH)),
]

RIGHT_PARTS = [conv_right_on_square_inputs, loss_right_at_moderate_logits]

CONVENTIONS = {
    "kernel orientation": TORCHS,  # cross-correlation; fails on non-square inputs only
    "tie rule": DIFFERS,
    "ReLU'(0)": TORCHS,
    "loss reduction": TORCHS,  # a mean; fails where the clip bites
    "Adam variant": DIFFERS,
    "NaN propagation": DIFFERS,  # the pool's x == max mask gives a NaN window no gradient
}
