"""Truth for torch_lookalike: what its code does against torch, read from the code by hand."""

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
    torch_pool,
    torch_relu,
)

A = adapter("torch_lookalike")
BOTH = ("float64", "float32")


def relu_writes_into_dy():
    """grad[x <= 0] = 0; return grad: the caller's upstream gradient is changed."""
    x, dy = np.array([[-1.0, 2.0]]), np.array([[3.0, 4.0]])
    layer = A.relu()
    layer.forward(x)
    dx = layer.backward(dy)
    expect(list(dy[0]) == [0.0, 4.0] and dx is dy, "writes dy")


def relu_right_otherwise():
    """On copies, ReLU is torch's: NaN kept forward, gradient passed at NaN, 0 at 0."""
    for dtype in BOTH:
        x = rng(1).standard_normal((3, 6)).astype(dtype)
        x.flat[:3] = [NAN, 0.0, -0.0]
        dy = rng(2).standard_normal((3, 6)).astype(dtype)
        layer = A.relu()
        y = layer.forward(x)
        dx = layer.backward(dy.copy())
        t = torch_relu(x, dy)
        expect(close(y, t["y"], dtype) and close(dx, t["dx"], dtype), "relu")


def pool_raises_on_nan():
    """A window holding NaN has no x == max: one winner short, and the reshape raises."""
    x = np.array([[NAN, 1.0], [2.0, 3.0]])[None, None]
    try:
        A.maxpool2d(2, 2).forward(x)
    except ValueError:
        return
    raise AssertionError("no error on NaN")


def pool_right_without_nan():
    """Ties (the first maximum), overlaps, strides, non-square inputs: torch's."""
    for dtype in BOTH:
        r = rng(3)
        for shape, k, s in [((2, 3, 6, 7), 2, 2), ((1, 2, 7, 5), 3, 1), ((2, 1, 9, 8), 2, 3)]:
            x = np.round(r.standard_normal(shape)).astype(dtype)
            Ho, Wo = (shape[2] - k) // s + 1, (shape[3] - k) // s + 1
            dy = r.standard_normal((shape[0], shape[1], Ho, Wo)).astype(dtype)
            ours, t = run_layer(A.maxpool2d(k, s), x, dy), torch_pool(x, k, s, dy)
            expect(ours["dx"].dtype == dtype, "dtype")
            expect(close(ours["y"], t["y"], dtype) and close(ours["dx"], t["dx"], dtype), "pool")


def loss_gradient_float64():
    """np.zeros((N, K)) for the one-hot: float32 logits get float64 dlogits (right values)."""
    z, y = rng(4).standard_normal((3, 4)).astype(np.float32), np.array([0, 3, 1])
    f = A.cross_entropy()
    loss, dz = f.forward(z, y), f.backward()
    t = torch_ce(z, y)
    expect(dz.dtype == np.float64 and close(dz, t["dlogits"], np.float32), "float64 dlogits")
    expect(close(loss, t["loss"], np.float32), "loss right")


def loss_right_in_float64():
    r = rng(5)
    for scale in (2.0, 1e4):
        z, y = scale * r.standard_normal((5, 4)), r.integers(0, 4, 5)
        f = A.cross_entropy()
        loss, dz = f.forward(z, y), f.backward()
        t = torch_ce(z, y)
        expect(close(loss, t["loss"]) and close(dz, t["dlogits"]), f"scale {scale}")


def adam_moments_reset():
    """state is read but never written back: m and v restart at every step while t goes
    on, so step t is (1 - b1) g / (1 - b1**t) over sqrt((1 - b2) g**2 / (1 - b2**t))."""
    params = [np.zeros(4)]
    grads = adam_gradients(6, [(4,)], 3, np.float64)
    got = run_steps(A.adam(params, 0.01, (0.9, 0.999), 1e-8), params, grads)
    want = torch_adam([np.zeros(4)], grads, 0.01, (0.9, 0.999), 1e-8)
    expect(close(got[0][0], want[0][0]) and not close(got[1][0], want[1][0]), "from step 2")
    b1, b2, t = 0.9, 0.999, 2
    g = grads[1][0]
    step = 0.01 * ((1 - b1) * g / (1 - b1**t)) / (np.sqrt((1 - b2) * g**2 / (1 - b2**t)) + 1e-8)
    expect(close(got[1][0], got[0][0] - step), "step 2 from fresh moments")


DIVERGENCES = [
    Divergence(
        "ReLU",
        "backward writes into the upstream gradient it is given",
        ("relu_backward_writes_into_dy", "signature:writes-input"),
        relu_writes_into_dy,
    ),
    Divergence(
        "MaxPool2d",
        "raises on a window holding NaN (a first-max pool otherwise right)",
        ("signature:raises", "signature:only-at:nan"),
        pool_raises_on_nan,
    ),
    Divergence(
        "CrossEntropy",
        "float32 logits get float64 dlogits (a float64 one-hot)",
        ("signature:wrong-dtype",),
        loss_gradient_float64,
    ),
    Divergence(
        "Adam",
        "moments restart at every step while the step count goes on",
        ("signature:adam:moments-reset", "signature:state:resets"),
        adam_moments_reset,
    ),
]

AGREES = [
    Agreement(
        "Conv2d",
        lambda: conv_agrees(
            A,
            BOTH,
            [
                (2, 2, 6, 7, 3, 3, 1, 0, True),
                (1, 3, 7, 5, 2, 3, 2, 1, False),
                (2, 1, 5, 5, 4, 1, 1, 0, True),
                (1, 2, 9, 8, 2, 2, 3, 2, True),
            ],
        ),
    ),
    Agreement("Linear", lambda: linear_agrees(A, BOTH)),
    Agreement("Flatten", lambda: flatten_agrees(A, BOTH)),
]

RIGHT_PARTS = [relu_right_otherwise, pool_right_without_nan, loss_right_in_float64]

CONVENTIONS = {
    "kernel orientation": TORCHS,
    "tie rule": TORCHS,
    "ReLU'(0)": TORCHS,
    "loss reduction": TORCHS,
    "Adam variant": DIFFERS,
    "NaN propagation": DIFFERS,  # the pool raises on NaN
}
