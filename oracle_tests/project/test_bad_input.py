"""Misuse of the layers, the loss and the network: one ValueError that names the layer
and shows what was expected against what was given, never a NumPy broadcasting trace.
"""

import re

import numpy as np
import pytest

from reference import Conv2d, Flatten, Linear, MaxPool2d, ReLU, SeedCNN, SoftmaxCrossEntropy


def x(*shape, dtype=np.float32):
    """A deterministic input of `shape` (values are irrelevant to these checks)."""
    return (np.arange(np.prod(shape)).reshape(shape) / 7).astype(dtype)


def conv(x_):
    return Conv2d(1, 8, 3).forward(x_)


def pool(x_):
    return MaxPool2d(2).forward(x_)


def net(x_):
    return SeedCNN(0).forward(x_)


def case(id_, call, arg, *patterns):
    return pytest.param(call, arg, list(patterns), id=id_)


# Each message must name the layer, what it expected and what it was given.
FORWARD_CASES = [
    case("conv_3d", conv, x(1, 28, 28), "Conv2d", "4-D", r"\(1, 28, 28\)"),
    case("conv_5d", conv, x(1, 1, 1, 5, 5), "Conv2d", "4-D", "5-D"),
    case("conv_channels", conv, x(2, 3, 8, 8), "Conv2d", "1 input channels", "got 3"),
    case("conv_too_small", conv, x(1, 1, 2, 5), "Conv2d", r"\(2, 5\)", "3x3"),
    case("conv_int", conv, x(1, 1, 5, 5, dtype=np.int64), "Conv2d", "floating", "int64"),
    case("conv_bool", conv, x(1, 1, 5, 5) > 0, "Conv2d", "floating", "bool"),
    case("pool_3d", pool, x(8, 4, 4), "MaxPool2d", "4-D", "3-D"),
    case("pool_too_small", pool, x(1, 1, 1, 6), "MaxPool2d", r"\(1, 6\)", "2x2"),
    case("pool_int", pool, x(1, 1, 4, 4, dtype=np.int32), "MaxPool2d", "floating", "int32"),
    case("relu_int", ReLU().forward, x(3, 4, dtype=np.int64), "ReLU", "floating", "int64"),
    case("linear_3d", Linear(6, 2).forward, x(1, 2, 3), "Linear", "2-D", "3-D"),
    case("linear_features", Linear(6, 2).forward, x(4, 5), "Linear", "6 input", "got 5"),
    case("linear_uint8", Linear(6, 2).forward, x(4, 6, dtype=np.uint8), "Linear", "uint8"),
    case("flatten_1d", Flatten().forward, x(5), "Flatten", "2-D", r"\(5,\)"),
    case("net_3d_images", net, x(2, 28, 28), "SeedCNN", r"\(N, 1, 28, 28\)", r"\(2, 28, 28\)"),
    case("net_rgb_images", net, x(2, 3, 28, 28), "SeedCNN", r"\(N, 1, 28, 28\)", "3, 28, 28"),
    case("net_uint8_images", net, x(2, 1, 28, 28, dtype=np.uint8), "Conv2d", "uint8"),
    # Without the model's own check, 32x32 images would reach the first Linear as
    # 8*15*15 = 1800 features instead of 1352 and fail there, far from the cause.
    case("net_32px_images", net, x(2, 1, 32, 32), "SeedCNN", r"\(N, 1, 28, 28\)", "32, 32"),
]

LOSS_CASES = [
    case("1d_logits", x(10), np.array([3]), "2-D", r"\(10,\)"),
    case("int_logits", x(2, 10, dtype=np.int64), np.array([1, 2]), "floating", "int64"),
    case("label_too_big", x(2, 10), np.array([1, 10]), r"\[0, 9\]", "to 10"),
    case("label_negative", x(2, 10), np.array([-1, 3]), r"\[0, 9\]", "from -1"),
    case("labels_column", x(2, 10), np.array([[1], [2]]), r"\(2,\)", r"\(2, 1\)"),
    case("labels_too_few", x(3, 10), np.array([1, 2]), r"\(3,\)", r"\(2,\)"),
    case("float_labels", x(2, 10), np.array([1.0, 2.0]), "integer", "float64"),
]


def assert_message(excinfo, patterns):
    message = str(excinfo.value)
    missing = [p for p in patterns if not re.search(p, message)]
    assert not missing, f"message {message!r} lacks {missing}"


@pytest.mark.parametrize("call, arg, patterns", FORWARD_CASES)
def test_bad_forward_input_raises_value_error_naming_layer_expected_and_actual(call, arg, patterns):
    with pytest.raises(ValueError) as excinfo:
        call(arg)
    assert_message(excinfo, patterns)


@pytest.mark.parametrize("logits, labels, patterns", LOSS_CASES)
def test_bad_loss_input_raises_value_error_naming_the_loss_expected_and_actual(
    logits, labels, patterns
):
    with pytest.raises(ValueError) as excinfo:
        SoftmaxCrossEntropy().forward(logits, labels)
    assert_message(excinfo, ["SoftmaxCrossEntropy", *patterns])


BACKWARD_LAYERS = {
    "Conv2d": (lambda: Conv2d(1, 2, 3), (1, 2, 3, 3)),
    "MaxPool2d": (lambda: MaxPool2d(2), (1, 1, 2, 2)),
    "ReLU": (lambda: ReLU(), (2, 3)),
    "Flatten": (lambda: Flatten(), (2, 4)),
    "Linear": (lambda: Linear(4, 3), (2, 3)),
}


@pytest.mark.parametrize("name", BACKWARD_LAYERS)
def test_backward_before_forward_raises_value_error_naming_the_layer(name):
    make, dy_shape = BACKWARD_LAYERS[name]
    with pytest.raises(ValueError, match=rf"^{name}: backward\(\) called before forward\(\)"):
        make().backward(x(*dy_shape))


def test_loss_backward_before_forward_raises_value_error_naming_the_loss():
    with pytest.raises(ValueError, match=r"^SoftmaxCrossEntropy: backward\(\) called before"):
        SoftmaxCrossEntropy().backward()


def test_model_backward_before_forward_raises_value_error_naming_the_last_layer():
    with pytest.raises(ValueError, match=r"^Linear: backward\(\) called before forward\(\)"):
        SeedCNN(0).backward(x(2, 10))


GRAD_SHAPE_CASES = {
    "Conv2d": (lambda: Conv2d(1, 2, 3), (1, 1, 5, 5), (1, 2, 3, 4), r"\(1, 2, 3, 3\)"),
    "MaxPool2d": (lambda: MaxPool2d(2), (1, 1, 4, 4), (1, 1, 4, 4), r"\(1, 1, 2, 2\)"),
    "ReLU": (lambda: ReLU(), (2, 3), (3, 2), r"\(2, 3\)"),
    "Flatten": (lambda: Flatten(), (2, 1, 2, 2), (2, 3), r"\(2, 4\)"),
    "Linear": (lambda: Linear(4, 3), (2, 4), (2, 4), r"\(2, 3\)"),
}


@pytest.mark.parametrize("name", GRAD_SHAPE_CASES)
def test_upstream_gradient_of_wrong_shape_raises_value_error_naming_both_shapes(name):
    make, x_shape, dy_shape, expected = GRAD_SHAPE_CASES[name]
    layer = make()
    layer.forward(x(*x_shape))
    with pytest.raises(ValueError) as excinfo:
        layer.backward(x(*dy_shape))
    assert_message(excinfo, [f"^{name}", expected, re.escape(str(dy_shape))])
