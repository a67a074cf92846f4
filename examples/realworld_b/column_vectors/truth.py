"""Truth for column_vectors: what its code does against torch, read from the code by hand."""

import numpy as np
from truthlib import (
    DIFFERS,
    NA,
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
    torch_adam,
    torch_ce,
    torch_linear,
)

A = adapter("column_vectors")
BOTH = ("float64", "float32")


def linear_gradients_over_m():
    """dW and db carry the 1 / m that the loss left out; dA_prev is right."""
    r = rng(1)
    x, w, b, dy = (r.standard_normal(s) for s in [(5, 4), (3, 4), (3,), (5, 3)])
    ours, t = run_layer(A.linear(w, b), x, dy), torch_linear(x, w, b, dy)
    expect(close(ours["weight"] * 5, t["weight"]) and close(ours["bias"] * 5, t["bias"]), "/m")
    expect(close(ours["y"], t["y"]) and close(ours["dx"], t["dx"]), "y, dx right")


def loss_log_of_p_plus_eps():
    """-log(p + 1e-8): off wherever p is small, and never above 18.4."""
    z = np.array([[0.0, 30.0, 1.0], [2.0, 0.5, 0.1]])
    f = A.cross_entropy()
    loss = f.forward(z, np.array([0, 0]))
    t = torch_ce(z, np.array([0, 0]))["loss"]
    expect(loss < 9.5 and t > 15.0, f"loss {loss}, torch {t}")


def loss_gradient_not_over_n():
    """dZ = AL - Y: N times torch's dlogits (the 1 / m sits in linear_backward)."""
    r = rng(2)
    z, y = r.standard_normal((4, 5)), r.integers(0, 5, 4)
    f = A.cross_entropy()
    f.forward(z, y)
    expect(close(f.backward(), 4 * torch_ce(z, y)["dlogits"]), "N times")


def adam_without_bias_correction():
    """m / (sqrt(v) + eps): the first step is ~3.16 x torch's."""
    params = [np.zeros(3)]
    grads = [[np.array([0.5, -2.0, 1.0])]]
    got = run_steps(A.adam(params, 0.01, (0.9, 0.999), 1e-8), params, grads)
    want = torch_adam([np.zeros(3)], grads, 0.01, (0.9, 0.999), 1e-8)
    ratio = got[0][0] / want[0][0]
    expect(np.allclose(ratio, 0.1 / np.sqrt(0.001), rtol=1e-5), f"x {ratio}")


DIVERGENCES = [
    Divergence(
        "Linear",
        "dW and db divided by the batch size (the 1 / m of the loss taken here)",
        ("linear_gradients_divided_by_batch", "signature:ratio:1/N"),
        linear_gradients_over_m,
    ),
    Divergence(
        "CrossEntropy",
        "loss -log(p + 1e-8)",
        ("loss_log_of_p_plus_eps", "signature:only-at:large"),
        loss_log_of_p_plus_eps,
    ),
    Divergence(
        "CrossEntropy",
        "dlogits AL - Y, not divided by the batch size",
        ("loss_gradient_not_divided_by_batch", "signature:ratio:N"),
        loss_gradient_not_over_n,
    ),
    Divergence(
        "Adam",
        "no bias correction",
        ("adam_no_bias_correction", "signature:adam:no-bias-correction"),
        adam_without_bias_correction,
    ),
]

AGREES = [Agreement("ReLU", lambda: relu_agrees(A, BOTH))]

CONVENTIONS = {
    "kernel orientation": NA,
    "tie rule": NA,
    "ReLU'(0)": TORCHS,
    "loss reduction": DIFFERS,  # the loss is a mean, its gradient a sum
    "Adam variant": DIFFERS,
    "NaN propagation": TORCHS,  # ReLU, the only piece it concerns here, is torch's
}
