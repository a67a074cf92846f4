"""What cs231n_style does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("cs231n_style")


def conv_dx_empty():
    x, w, b, dy = (
        th.rand(2, 2, 5, 5),
        th.rand(3, 2, 3, 3, seed=1),
        th.rand(3, seed=2),
        th.rand(2, 3, 3, 3, seed=3),
    )
    layer = A.conv2d(w, b, 1, 0)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.conv(x, w, b, 1, 0, dy)
    assert (
        th.same(y, ty) and th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)
    )
    assert dx.size == 0 and tdx.shape == x.shape  # [P:-P] at P = 0 is empty
    layer = A.conv2d(w, b, 2, 1)  # with padding, every output is right
    y, dx = th.run_layer(layer, x, th.rand(2, 3, 3, 3, seed=4))
    ty, tdx, _, _ = th.conv(x, w, b, 2, 1, th.rand(2, 3, 3, 3, seed=4))
    assert th.same(y, ty) and th.same(dx, tdx)


def pool_raises_on_nan():
    x = th.rand(1, 1, 4, 4)
    x[0, 0, 0, 0] = np.nan
    y = A.maxpool2d(2, 2).forward(x)
    assert np.isnan(y[0, 0, 0, 0]) and th.same(y, th.pool_out(x, 2, 2))  # forward is fine
    layer = A.maxpool2d(2, 2)
    layer.forward(x)
    try:
        layer.backward(np.ones((1, 1, 2, 2)))
    except ValueError:
        pass  # list.index(NaN): NaN != NaN; torch routes the gradient to the NaN
    else:
        raise AssertionError("expected a raise")


def pool_overwrites():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four overlapping 2x2 windows at stride 1
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    _, dx = th.run_layer(A.maxpool2d(2, 1), x, dy)
    _, tdx = th.pool(x, 2, 1, dy)
    assert tdx[0, 0, 1, 1] == 10.0 and dx[0, 0, 1, 1] == 4.0  # the last window's only


def adam_eps_inside():
    params, grads = th.adam_case()
    params[0][0, 0], grads[0][0][0, 0] = 1.0, 1e-6  # a tiny gradient: eps matters
    ours = th.adam_ours(A, params, grads)
    theirs = th.adam(params, grads)
    assert not th.same(ours[0][0], theirs[0][0], rtol=1e-4)


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


def agrees_relu():
    x, dy = np.array([-1.0, 0.0, 2.0, np.nan]), np.array([1.0, 2.0, 3.0, 4.0])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert th.same(y, ty) and th.same(dx, tdx)


def agrees_loss():
    z, labels = th.rand(4, 10) * 3, np.array([1, 0, 9, 3])
    loss, dz = th.run_loss(A.cross_entropy(), z, labels)
    tloss, tdz = th.cross_entropy(z, labels)
    assert th.same(loss, tloss) and th.same(dz, tdz)
    loss, _ = th.run_loss(A.cross_entropy(), z * 1e4, labels)
    assert th.same(loss, th.cross_entropy(z * 1e4, labels)[0])


DIVERGENCES = [
    {
        "layer": "Conv2d",
        "what": "dx unpadded with [P:-P]: empty at padding 0 (the forward and dW, db are right)",
        "names": [
            "conv_dx_empty_at_padding_zero",
            "signature:empty-output",
            "signature:only-at:padding",
        ],
        "evidence": conv_dx_empty,
    },
    {
        "layer": "MaxPool2d",
        "what": "backward finds the max with list.index(window.max()): raises on a NaN window",
        "names": ["signature:raises", "signature:only-at:nan"],
        "evidence": pool_raises_on_nan,
    },
    {
        "layer": "MaxPool2d",
        "what": "overlapping windows overwrite (=) a shared winner's gradient",
        "names": ["pool_overlapping_gradients_overwrite"],
        "evidence": pool_overwrites,
    },
    {
        "layer": "Adam",
        "what": "eps inside the square root",
        "names": ["adam_eps_inside_sqrt", "signature:adam:eps-inside-sqrt"],
        "evidence": adam_eps_inside,
    },
]
AGREES = {"Linear": agrees_linear, "ReLU": agrees_relu, "CrossEntropy": agrees_loss}
CONVENTIONS = {
    "kernel orientation": "torch's",
    "tie rule": "torch's",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "torch's",
    "Adam variant": "differs",
}
