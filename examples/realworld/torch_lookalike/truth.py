"""What torch_lookalike does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("torch_lookalike")


def conv_dx_stride():
    x, w, b = th.rand(1, 2, 7, 7), th.rand(3, 2, 3, 3, seed=1), th.rand(3, seed=2)
    layer = A.conv2d(w, b, 2, 0)
    y = layer.forward(x)
    dy = th.rand(*y.shape, seed=3)
    dx = layer.backward(dy)
    ty, tdx, tdw, tdb = th.conv(x, w, b, 2, 0, dy)
    assert th.same(y, ty) and th.same(layer.grads["weight"], tdw) and not th.same(dx, tdx)
    layer = A.conv2d(w, b, 1, 1)
    y = layer.forward(x)
    dx = layer.backward(th.rand(*y.shape, seed=3))
    assert th.same(dx, th.conv(x, w, b, 1, 1, th.rand(*y.shape, seed=3))[1])  # stride 1 right


def pool_h_over_stride():
    x = th.rand(1, 1, 6, 6)
    y = A.maxpool2d(3, 2).forward(x)
    assert y.shape == (1, 1, 3, 3) and th.pool_out(x, 3, 2).shape == (1, 1, 2, 2)


def loss_float64():
    z, labels = th.rand(4, 10, dtype="float32"), np.array([1, 0, 9, 3])
    loss, dz = th.run_loss(A.cross_entropy(), z, labels)
    tloss, tdz = th.cross_entropy(z, labels)
    assert dz.dtype == np.float64 and th.same(dz, tdz, rtol=1e-5) and th.same(loss, tloss, 1e-5)


def adam_t_per_param():
    params, grads = th.adam_case()
    ours, theirs = th.adam_ours(A, params, grads), th.adam(params, grads)
    assert th.same(ours[0][0], theirs[0][0]) and not th.same(ours[0][1], theirs[0][1], rtol=1e-4)


def agrees_linear():
    x, w, b, dy = th.rand(3, 5), th.rand(4, 5, seed=1), th.rand(4, seed=2), th.rand(3, 4, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"], tdw) and th.same(layer.grads["bias"], tdb)
    layer = A.linear(w, None)  # and without a bias
    y, dx = th.run_layer(layer, x, dy)
    assert th.same(y, ty - b) and th.same(dx, tdx) and set(layer.grads) == {"weight"}


def agrees_relu():
    x, dy = np.array([-1.0, 0.0, 2.0, np.nan]), np.array([1.0, 2.0, 3.0, 4.0])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert th.same(y, ty) and th.same(dx, tdx)


def agrees_flatten():
    x = th.rand(2, 3, 4, 5)
    y, dx = th.run_layer(A.flatten(), x, x.reshape(2, -1) * 2)
    assert th.same(y, x.reshape(2, -1)) and th.same(dx, x * 2)


DIVERGENCES = [
    {
        "layer": "Conv2d",
        "what": "dx scattered at i, j instead of i * stride, j * stride: wrong for stride > 1",
        "names": ["conv_dx_ignores_stride", "signature:only-at:stride"],
        "evidence": conv_dx_stride,
    },
    {
        "layer": "MaxPool2d",
        "what": "output size H // stride",
        "names": ["pool_output_size_h_over_stride", "signature:wrong-shape"],
        "evidence": pool_h_over_stride,
    },
    {
        "layer": "CrossEntropy",
        "what": "a float64 one-hot (np.eye): float32 logits give a float64 gradient",
        "names": ["signature:wrong-dtype"],
        "evidence": loss_float64,
    },
    {
        "layer": "Adam",
        "what": "the step count advanced once per parameter, not once per step",
        "names": ["adam_step_count_per_parameter", "signature:adam:t-per-parameter"],
        "evidence": adam_t_per_param,
    },
]
AGREES = {"Linear": agrees_linear, "ReLU": agrees_relu, "Flatten": agrees_flatten}
CONVENTIONS = {
    "kernel orientation": "torch's",
    "tie rule": "torch's",
    "ReLU'(0)": "torch's",
    "NaN propagation": "torch's",
    "loss reduction": "torch's",
    "Adam variant": "differs",
}
