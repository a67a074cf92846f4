"""What keras_like does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("keras_like")


def conv_flipped():
    x, w = th.rand(2, 2, 6, 6), th.rand(3, 2, 3, 3, seed=1)
    y = A.conv2d(w, None).forward(x)
    assert not th.same(y, th.conv_out(x, w))
    assert th.same(y, th.conv_out(x, w[:, :, ::-1, ::-1].copy()))  # true convolution


def pool_square_only():
    x = th.rand(1, 1, 4, 6)
    y = A.maxpool2d(2, 2).forward(x)
    assert y.shape == (1, 1, 2, 2) and th.pool_out(x, 2, 2).shape == (1, 1, 2, 3)
    x = th.rand(1, 2, 6, 6)
    dy = th.rand(1, 2, 3, 3, seed=1)
    y, dx = th.run_layer(A.maxpool2d(2, 2), x, dy)
    ty, tdx = th.pool(x, 2, 2, dy)
    assert th.same(y, ty) and th.same(dx, tdx)  # square inputs are right


def flatten_channels_last():
    x = th.rand(2, 3, 2, 2)
    y = A.flatten().forward(x)
    assert th.same(y, x.transpose(0, 2, 3, 1).reshape(2, -1))


def relu_one_at_zero():
    x, dy = np.array([-1.0, 0.0, 2.0, np.nan]), np.array([1.0, 2.0, 3.0, 4.0])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert th.same(y, ty) and tdx[1] == 0 and dx[1] == 2.0
    assert th.same(dx[[0, 2, 3]], tdx[[0, 2, 3]])


def loss_clipped():
    z, labels = np.array([[1e4, -1e4, 0.0], [0.5, 0.2, -0.1]]), np.array([1, 0])
    loss, _ = th.run_loss(A.cross_entropy(), z, labels)
    tloss, _ = th.cross_entropy(z, labels)
    assert abs(tloss - 1e4) < 1 and loss < 20  # -log(1e-7) = 16.1 at most


def adam_no_correction():
    params, grads = th.adam_case()
    ours, theirs = th.adam_ours(A, params, grads), th.adam(params, grads)
    step_ours, step_torch = ours[0][0] - params[0], theirs[0][0] - params[0]
    assert np.allclose(step_ours / step_torch, np.sqrt(1000) / 10, rtol=1e-3)  # ~3.16x


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)


DIVERGENCES = [
    {
        "layer": "Conv2d",
        "what": "a flipped kernel (true convolution)",
        "names": ["conv_flipped_kernel", "signature:permuted:flipped"],
        "evidence": conv_flipped,
    },
    {
        "layer": "MaxPool2d",
        "what": "the output size from x.shape[1] for both axes: wrong on non-square inputs",
        "names": [
            "pool_assumes_square_input",
            "signature:only-at:non-square",
            "signature:wrong-shape",
        ],
        "evidence": pool_square_only,
    },
    {
        "layer": "Flatten",
        "what": "flattens NHWC: features in (H, W, C) order",
        "names": ["flatten_channels_last", "signature:permuted:channels-last"],
        "evidence": flatten_channels_last,
    },
    {
        "layer": "ReLU",
        "what": "np.where(x < 0, 0, dy): ReLU'(0) = 1",
        "names": ["relu_gradient_at_zero_is_one", "signature:only-at:zeros"],
        "evidence": relu_one_at_zero,
    },
    {
        "layer": "CrossEntropy",
        "what": "probabilities clipped at 1e-7: the loss is capped at 16.1",
        "names": ["loss_probabilities_clipped_like_keras", "signature:only-at:large"],
        "evidence": loss_clipped,
    },
    {
        "layer": "Adam",
        "what": "no bias correction",
        "names": ["adam_no_bias_correction", "signature:adam:no-bias-correction"],
        "evidence": adam_no_correction,
    },
]
AGREES = {"Linear": agrees_linear}
CONVENTIONS = {
    "kernel orientation": "differs",
    "tie rule": "torch's",
    "ReLU'(0)": "differs",
    "NaN propagation": "torch's",
    "loss reduction": "torch's",
    "Adam variant": "differs",
}
