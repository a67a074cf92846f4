"""What per_image does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("per_image")


def conv_float64():
    x, w, dy = (
        th.rand(2, 2, 6, 6, dtype="float32"),
        th.rand(3, 2, 3, 3, seed=1),
        th.rand(2, 3, 4, 4),
    )
    layer = A.conv2d(w.astype("float32"), None)
    y, dx = th.run_layer(layer, x, dy.astype("float32"))
    assert y.dtype == np.float64 and dx.dtype == np.float64  # torch keeps float32
    assert th.same(y, th.conv_out(x, w.astype("float32")), rtol=1e-5)  # the values are right


def relu_nan_both_ways():
    x, dy = np.array([np.nan, -1.0, 2.0]), np.array([1.5, 2.5, 3.5])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert np.isnan(ty[0]) and y[0] == 0  # forward: NaN -> 0
    assert tdx[0] == 1.5 and dx[0] == 0  # backward: torch passes the gradient to NaN
    assert th.same(y[1:], ty[1:]) and th.same(dx[1:], tdx[1:])


def pool_every_max():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    dy = np.array([[[[2.0]]]])
    _, dx = th.run_layer(A.maxpool2d(2, 2), x, dy)
    _, tdx = th.pool(x, 2, 2, dy)
    assert dx.sum() == 6.0 and tdx.sum() == 2.0  # every tied max gets the full gradient


def loss_underflow():
    z = np.array([[1e4, -1e4, 0.0], [0.5, 0.2, -0.1]])
    labels = np.array([1, 0])
    loss, _ = th.run_loss(A.cross_entropy(), z, labels)
    tloss, _ = th.cross_entropy(z, labels)
    assert np.isinf(loss) and np.isfinite(tloss)  # -log(0): the label's p underflowed


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


def agrees_flatten():
    x = th.rand(2, 3, 4, 5)
    layer = A.flatten()
    y, dx = th.run_layer(layer, x, x.reshape(2, -1) * 2)
    assert th.same(y, x.reshape(2, -1)) and th.same(dx, x * 2)


DIVERGENCES = [
    {
        "layer": "Conv2d",
        "what": "float32 inputs give float64 outputs and gradients (np.zeros without dtype)",
        "names": ["conv_computes_float64_in_float32", "signature:wrong-dtype"],
        "evidence": conv_float64,
    },
    {
        "layer": "ReLU",
        "what": "np.where(x > 0, x, 0) and a x > 0 mask: NaN becomes 0 forward and backward",
        "names": ["relu_nan_to_zero_both_ways", "signature:only-at:nan"],
        "evidence": relu_nan_both_ways,
    },
    {
        "layer": "MaxPool2d",
        "what": "a window == max mask: every tied maximum takes the full gradient",
        "names": ["pool_ties_to_every_max", "signature:only-at:ties"],
        "evidence": pool_every_max,
    },
    {
        "layer": "CrossEntropy",
        "what": "-log of the softmax probability after a max subtraction: inf at logits +-1e4",
        "names": ["loss_log_of_underflowed_softmax", "signature:only-at:large"],
        "evidence": loss_underflow,
    },
]
AGREES = {"Linear": agrees_linear, "Flatten": agrees_flatten}
CONVENTIONS = {
    "kernel orientation": "torch's",
    "tie rule": "differs",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "torch's",
    "Adam variant": "n/a",
}
