"""What nhwc_dense does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("nhwc_dense")


def conv_ignores_stride():
    x, w = th.rand(1, 2, 7, 7), th.rand(3, 2, 3, 3, seed=1)
    y = A.conv2d(w, None, 2, 0).forward(x)
    assert y.shape == (1, 3, 5, 5) and th.conv_out(x, w, 2).shape == (1, 3, 3, 3)
    assert th.same(y, th.conv_out(x, w, 1))  # computed as stride 1
    assert th.same(A.conv2d(w, None, 1, 1).forward(x), th.conv_out(x, w, 1, 1))


def pool_every_max():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    dy = np.array([[[[2.0]]]])
    _, dx = th.run_layer(A.maxpool2d(2, 2), x, dy)
    assert dx.sum() == 6.0 and th.pool(x, 2, 2, dy)[1].sum() == 2.0


def pool_h_over_stride():
    x = th.rand(1, 1, 6, 6)
    y = A.maxpool2d(3, 2).forward(x)
    assert y.shape == (1, 1, 3, 3) and th.pool_out(x, 3, 2).shape == (1, 1, 2, 2)
    assert th.same(y[:, :, :2, :2], th.pool_out(x, 3, 2))


def flatten_channels_last():
    x = th.rand(2, 3, 2, 2)
    y = A.flatten().forward(x)
    assert th.same(y, x.transpose(0, 2, 3, 1).reshape(2, -1)) and not th.same(y, x.reshape(2, -1))


def loss_p_plus_eps():
    z, labels = np.array([[1e4, -1e4, 0.0], [0.5, 0.2, -0.1]]), np.array([1, 0])
    loss, _ = th.run_loss(A.cross_entropy(), z, labels)
    tloss, _ = th.cross_entropy(z, labels)
    assert abs(tloss - 1e4) < 1 and abs(loss - -np.log(1e-8) / 2 - 0.2) < 1  # log(1e-8) caps it


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


def agrees_relu():
    x, dy = th.rand(2, 3, 4, 4), th.rand(2, 3, 4, 4, seed=1)
    x[0, 0, 0, :2] = [0.0, np.nan]
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert th.same(y, ty) and th.same(dx, tdx)


DIVERGENCES = [
    {
        "layer": "Conv2d",
        "what": "the stride is ignored: every conv is computed at stride 1",
        "names": ["conv_ignores_stride", "signature:only-at:stride", "signature:wrong-shape"],
        "evidence": conv_ignores_stride,
    },
    {
        "layer": "MaxPool2d",
        "what": "a window == max mask: every tied maximum takes the full gradient",
        "names": ["pool_ties_to_every_max", "signature:only-at:ties"],
        "evidence": pool_every_max,
    },
    {
        "layer": "MaxPool2d",
        "what": "output size H // stride: extra (partial) windows when stride != kernel",
        "names": ["pool_output_size_h_over_stride", "signature:wrong-shape"],
        "evidence": pool_h_over_stride,
    },
    {
        "layer": "Flatten",
        "what": "flattens NHWC: features in (H, W, C) order",
        "names": ["flatten_channels_last", "signature:permuted:channels-last"],
        "evidence": flatten_channels_last,
    },
    {
        "layer": "CrossEntropy",
        "what": "-log(p + 1e-8): capped near 18.4 where torch's loss is 1e4",
        "names": ["loss_log_of_p_plus_eps", "signature:only-at:large"],
        "evidence": loss_p_plus_eps,
    },
]
AGREES = {"Linear": agrees_linear, "ReLU": agrees_relu}
CONVENTIONS = {
    "kernel orientation": "torch's",
    "tie rule": "differs",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "torch's",
    "Adam variant": "n/a",
}
