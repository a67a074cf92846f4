"""What im2col does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("im2col")


def pool_split():
    x, dy = np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), np.array([[[[3.0]]]])
    _, dx = th.run_layer(A.maxpool2d(2, 2), x, dy)
    _, tdx = th.pool(x, 2, 2, dy)
    assert th.same(dx, [[[[1.0, 1.0], [0.0, 1.0]]]]) and tdx[0, 0, 0, 0] == 3.0


def pool_nan_window():
    x, dy = np.array([[[[np.nan, 1.0], [0.0, 2.0]]]]), np.array([[[[3.0]]]])
    y, dx = th.run_layer(A.maxpool2d(2, 2), x, dy)
    ty, tdx = th.pool(x, 2, 2, dy)
    assert np.isnan(y).all() and np.isnan(ty).all()
    assert np.isnan(dx).all() and tdx[0, 0, 0, 0] == 3.0  # 0/0: NaN over the whole window


def relu_writes_dy():
    x, dy = np.array([-1.0, 2.0]), np.array([5.0, 6.0])
    layer = A.relu()
    layer.forward(x)
    layer.backward(dy)
    assert dy[0] == 0.0  # the caller's upstream gradient was changed; torch never does


def loss_writes_logits():
    z, labels = th.rand(3, 4), np.array([0, 1, 2])
    kept = z.copy()
    loss, dz = th.run_loss(A.cross_entropy(), z, labels)
    tloss, tdz = th.cross_entropy(kept, labels)
    assert th.same(loss, tloss) and th.same(dz, tdz)  # the values are right
    loss_obj = A.cross_entropy()
    loss_obj.forward(z, labels)
    assert not th.same(z, kept)  # ... but the logits were shifted in place


def agrees_conv():
    x, w, b = th.rand(2, 2, 7, 6), th.rand(3, 2, 3, 2, seed=1), th.rand(3, seed=2)
    for stride, pad in ((1, 0), (2, 1)):
        layer = A.conv2d(w, b, stride, pad)
        y = layer.forward(x)
        dy = th.rand(*y.shape, seed=3)
        dx = layer.backward(dy)
        ty, tdx, tdw, tdb = th.conv(x, w, b, stride, pad, dy)
        assert th.same(y, ty) and th.same(dx, tdx)
        assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


def agrees_adam():
    params, grads = th.adam_case(steps=5)
    ours, theirs = th.adam_ours(A, params, grads), th.adam(params, grads)
    for o, t in zip(ours, theirs, strict=True):
        assert all(th.same(a, b) for a, b in zip(o, t, strict=True))


DIVERGENCES = [
    {
        "layer": "MaxPool2d",
        "what": "a tied window's gradient split evenly among its maxima",
        "names": ["pool_ties_split_evenly", "signature:only-at:ties"],
        "evidence": pool_split,
    },
    {
        "layer": "MaxPool2d",
        "what": "a window holding NaN gets NaN gradients everywhere (0/0)",
        "names": ["signature:only-at:nan"],
        "evidence": pool_nan_window,
    },
    {
        "layer": "ReLU",
        "what": "backward zeroes the upstream gradient in place (dout[x <= 0] = 0)",
        "names": ["relu_backward_writes_into_dy", "signature:writes-input"],
        "evidence": relu_writes_dy,
    },
    {
        "layer": "CrossEntropy",
        "what": "the loss subtracts the row max from the logits in place",
        "names": ["loss_writes_into_logits", "signature:writes-input"],
        "evidence": loss_writes_logits,
    },
]
AGREES = {"Conv2d": agrees_conv, "Linear": agrees_linear, "Adam": agrees_adam}
CONVENTIONS = {
    "kernel orientation": "torch's",
    "tie rule": "differs",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "torch's",
    "Adam variant": "torch's",
}
