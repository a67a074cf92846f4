"""What autograd_engine does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("autograd_engine")


def linear_accumulates():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx) and th.same(layer.grads["weight"], tdw)
    th.run_layer(layer, x, dy)  # the same call again: the weights' grads are never zeroed
    assert th.same(layer.grads["weight"], 2 * tdw) and th.same(layer.grads["bias"], 2 * tdb)


def relu_nan_backward():
    x, dy = np.array([np.nan, -1.0, 2.0]), np.array([1.5, 2.5, 3.5])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert th.same(y, ty)  # np.maximum keeps NaN
    assert tdx[0] == 1.5 and dx[0] == 0  # the x > 0 mask drops it


def adam_moments_reset():
    params, grads = th.adam_case()
    ours, theirs = th.adam_ours(A, params, grads), th.adam(params, grads)
    assert th.same(ours[0][0], theirs[0][0]) and not th.same(ours[2][0], theirs[2][0], rtol=1e-4)


def agrees_loss():
    z, labels = th.rand(4, 10) * 3, np.array([1, 0, 9, 3])
    for scale in (1.0, 1e4):
        loss, dz = th.run_loss(A.cross_entropy(), z * scale, labels)
        tloss, tdz = th.cross_entropy(z * scale, labels)
        assert th.same(loss, tloss) and th.same(dz, tdz)


def agrees_flatten():
    x = th.rand(2, 3, 4, 5)
    y, dx = th.run_layer(A.flatten(), x, x.reshape(2, -1) * 2)
    assert th.same(y, x.reshape(2, -1)) and th.same(dx, x * 2)


DIVERGENCES = [
    {
        "layer": "Linear",
        "what": "parameter gradients accumulate across backward calls (+=, never zeroed)",
        "names": ["linear_layer_accumulates_grads", "signature:state:accumulates"],
        "evidence": linear_accumulates,
    },
    {
        "layer": "ReLU",
        "what": "backward masks with x > 0: the gradient at NaN is 0 (the forward keeps NaN)",
        "names": ["signature:only-at:nan"],
        "evidence": relu_nan_backward,
    },
    {
        "layer": "Adam",
        "what": "m and v made fresh inside step() while t goes on",
        "names": ["signature:adam:moments-reset", "signature:state:step-dependent"],
        "evidence": adam_moments_reset,
    },
]
AGREES = {"CrossEntropy": agrees_loss, "Flatten": agrees_flatten}
CONVENTIONS = {
    "kernel orientation": "n/a",
    "tie rule": "n/a",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "torch's",
    "Adam variant": "differs",
}
