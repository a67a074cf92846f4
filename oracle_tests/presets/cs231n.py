"""cs231n, assignment 2: the suite's adapter for the course's layers.py and optim.py.

    cnn-oracle check --api cs231n path/to/cs231n          the folder with layers.py, optim.py
    cnn-oracle check --api cs231n --fast path/to/cs231n   conv and pooling from fast_layers.py

This is an ordinary adapter (docs/adapter.md): each factory builds the course's
forward/backward pair from arrays in torch's layouts. Every translation is written out:
- affine_forward's w is (D, M), torch's weight transposed: w = weight.T, dweight = dw.T.
- conv_forward_naive's w is (F, C, HH, WW), torch's own; conv_param = {'stride', 'pad'}.
- max_pool_forward_naive: pool_param = {'pool_height': k, 'pool_width': k, 'stride': s}.
- batchnorm_forward's bn_param['momentum'] weighs the RUNNING statistics (running =
  m * running + (1 - m) * batch); torch's momentum weighs the batch: m = 1 - torch's.
  The running statistics handed in go into bn_param; eval() sets mode 'test', where the
  course defines no backward (those checks are "not provided").
- dropout_forward gets p = 1 - torch's p: the KEEP probability, as the starter has it
  since 2019. Code that reads p as the drop probability (the 2017-18 starter) drops the
  other share, and the "Dropout p meaning" convention reports what the code does.
- sgd, sgd_momentum, rmsprop, adam: (w, dw, config) -> (next_w, config), one config per
  parameter, kept between steps; next_w is written into the suite's arrays. Adam's m, v
  and t are left to the student's own config.setdefault, whatever the starter's year.
- cs231n has no flatten (affine_forward reshapes by itself): the preset has none either.
Only float64 is declared: the course checks its layers in float64, and a naive layer's
`np.zeros(...)` output is float64 whatever its input.
"""

import os

import numpy as np

from . import FAST_VAR
from ._loading import course_path, from_modules

API = {
    "affine_forward": "affine_forward(x, w, b)",
    "affine_backward": "affine_backward(dout, cache)",
    "relu_forward": "relu_forward(x)",
    "relu_backward": "relu_backward(dout, cache)",
    "conv_forward_naive": "conv_forward_naive(x, w, b, conv_param)",
    "conv_backward_naive": "conv_backward_naive(dout, cache)",
    "max_pool_forward_naive": "max_pool_forward_naive(x, pool_param)",
    "max_pool_backward_naive": "max_pool_backward_naive(dout, cache)",
    "softmax_loss": "softmax_loss(x, y)",
    "batchnorm_forward": "batchnorm_forward(x, gamma, beta, bn_param)",
    "batchnorm_backward": "batchnorm_backward(dout, cache)",
    "batchnorm_backward_alt": "batchnorm_backward_alt(dout, cache)",
    "spatial_batchnorm_forward": "spatial_batchnorm_forward(x, gamma, beta, bn_param)",
    "spatial_batchnorm_backward": "spatial_batchnorm_backward(dout, cache)",
    "dropout_forward": "dropout_forward(x, dropout_param)",
    "dropout_backward": "dropout_backward(dout, cache)",
    "conv_forward_fast": "conv_forward_fast(x, w, b, conv_param)",
    "conv_backward_fast": "conv_backward_fast(dout, cache)",
    "max_pool_forward_fast": "max_pool_forward_fast(x, pool_param)",
    "max_pool_backward_fast": "max_pool_backward_fast(dout, cache)",
    "sgd": "sgd(w, dw, config)",
    "sgd_momentum": "sgd_momentum(w, dw, config)",
    "rmsprop": "rmsprop(w, dw, config)",
    "adam": "adam(w, dw, config)",
}
FAST = os.environ.get(FAST_VAR) == "1"  # cnn-oracle check --api cs231n --fast
KIND = "fast" if FAST else "naive"
CONV = (f"conv_forward_{KIND}", f"conv_backward_{KIND}")
POOL = (f"max_pool_forward_{KIND}", f"max_pool_backward_{KIND}")
student = from_modules(
    "cs231n",
    course_path("cs231n", "the folder holding layers.py and optim.py"),
    ("layers", "optim", "fast_layers") if FAST else ("layers", "optim"),
    API,
)
student.check_api(API)
# batchnorm_backward, or the _alt one where only that is written.
BN_BACKWARD = (
    "batchnorm_backward_alt"
    if student.unwritten("batchnorm_backward") and not student.unwritten("batchnorm_backward_alt")
    else "batchnorm_backward"
)
# factory -> the student's functions it calls
PIECES = {
    "linear": ("affine_forward", "affine_backward"),
    "relu": ("relu_forward", "relu_backward"),
    "conv2d": CONV,
    "maxpool2d": POOL,
    "cross_entropy": ("softmax_loss",),
    "batchnorm1d": ("batchnorm_forward", BN_BACKWARD),
    "batchnorm2d": ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
    "dropout": ("dropout_forward", "dropout_backward"),
    "sgd": ("sgd", "sgd_momentum"),
    "rmsprop": ("rmsprop",),
    "adam": ("adam",),
}
name = student.header(
    PIECES,
    [
        "batchnorm gets momentum = 1 - torch's, dropout p = 1 - torch's (the keep probability)",
        "float64 only",
    ],
)
dtypes = ("float64",)


def run(fn: str, *args):
    """The student's `fn` on args; a result of None (or None first) is a starter stub."""
    out = student.call(fn, student.get(fn), *args)
    if out is None or (isinstance(out, tuple) and out and out[0] is None):
        student.stub_returned_none(fn)
    return out


# --- Layers -------------------------------------------------------------------------
class Layer:
    """A cs231n forward/backward pair: forward(x, *args) -> (out, cache), and
    backward(dout, cache) -> dx, or (dx, dw, db) for a layer with parameters."""

    def __init__(self, forward: str, backward: str, *args):
        student.require(forward, backward)  # not provided while either is a stub
        self.pair, self.args = (forward, backward), args

    def forward(self, x):
        out, self.cache = run(self.pair[0], x, *self.args)
        return out

    def backward(self, dy):
        return run(self.pair[1], dy, self.cache)


class Parametrised(Layer):
    """conv or affine: backward's (dx, dw, db) become dx and grads {"weight", "bias"}."""

    def __init__(self, forward, backward, w, b, has_bias, *args, to_torch=lambda dw: dw):
        super().__init__(forward, backward, w, b, *args)
        self.has_bias, self.to_torch = has_bias, to_torch

    def backward(self, dy):
        dx, dw, db = run(self.pair[1], dy, self.cache)
        self.grads = {"weight": self.to_torch(dw)}
        if self.has_bias:
            self.grads["bias"] = db
        return dx


def _bias(weight, bias):
    return np.zeros(weight.shape[0], weight.dtype) if bias is None else bias.copy()


def linear(weight, bias):
    # affine's w is (D, M): torch's weight (M, D) transposed, and so is its gradient.
    w, b = np.ascontiguousarray(weight.T), _bias(weight, bias)  # (D, M), (M,)
    return Parametrised(*PIECES["linear"], w, b, bias is not None, to_torch=lambda dw: dw.T)


def conv2d(weight, bias, stride, padding):
    conv_param = {"stride": stride, "pad": padding}
    return Parametrised(*CONV, weight.copy(), _bias(weight, bias), bias is not None, conv_param)


def relu():
    return Layer(*PIECES["relu"])


def maxpool2d(kernel_size, stride):
    pool_param = {"pool_height": kernel_size, "pool_width": kernel_size, "stride": stride}
    return Layer(*POOL, pool_param)


class SoftmaxLoss:
    """softmax_loss(x, y) -> (loss, dx): the mean loss, and dx already divided by N."""

    def __init__(self):
        student.require("softmax_loss")

    def forward(self, logits, labels):
        loss, self.dx = run("softmax_loss", logits, labels)
        return loss

    def backward(self):
        return self.dx


def cross_entropy():
    return SoftmaxLoss()


class BatchNorm(Layer):
    """batchnorm_forward(x, gamma, beta, bn_param), spatial_ on NCHW; the running
    statistics live in bn_param, which the course's code updates."""

    def __init__(self, pair, weight, bias, running_mean, running_var, eps, momentum):
        self.bn_param = {
            "mode": "train",
            "eps": eps,
            "momentum": 1.0 - momentum,  # cs231n's m weighs the running statistics
            "running_mean": running_mean.copy(),
            "running_var": running_var.copy(),
        }
        super().__init__(*pair, weight.copy(), bias.copy(), self.bn_param)

    @property
    def running_mean(self):
        return self.bn_param["running_mean"]

    @property
    def running_var(self):
        return self.bn_param["running_var"]

    def backward(self, dy):
        if self.bn_param["mode"] != "train":
            raise NotImplementedError(f"{self.pair[1]} is defined for mode 'train' only")
        dx, dgamma, dbeta = run(self.pair[1], dy, self.cache)
        self.grads = {"weight": dgamma, "bias": dbeta}
        return dx

    def eval(self):
        self.bn_param["mode"] = "test"

    def train(self):
        self.bn_param["mode"] = "train"


def batchnorm1d(weight, bias, running_mean, running_var, eps, momentum):
    return BatchNorm(PIECES["batchnorm1d"], weight, bias, running_mean, running_var, eps, momentum)


def batchnorm2d(weight, bias, running_mean, running_var, eps, momentum):
    return BatchNorm(PIECES["batchnorm2d"], weight, bias, running_mean, running_var, eps, momentum)


class Dropout(Layer):
    """dropout_forward(x, dropout_param): p is the keep probability; mode train/test."""

    def __init__(self, p):
        if p == 1:
            raise NotImplementedError("cs231n's dropout divides by its keep probability 1 - p = 0")
        self.dropout_param = {"mode": "train", "p": 1.0 - p}
        super().__init__(*PIECES["dropout"], self.dropout_param)

    def eval(self):
        self.dropout_param["mode"] = "test"

    def train(self):
        self.dropout_param["mode"] = "train"


def dropout(p):
    return Dropout(p)


# --- Optimizers ---------------------------------------------------------------------
class Optimizer:
    """An update rule (w, dw, config) -> (next_w, config), one config per parameter."""

    def __init__(self, rule: str, params: list, config: dict):
        student.require(rule)
        self.rule, self.params = rule, params
        self.configs = [dict(config) for _ in params]

    def step(self, grads):
        for i, (w, dw) in enumerate(zip(self.params, grads, strict=True)):
            next_w, self.configs[i] = run(self.rule, w, dw, self.configs[i])
            w[...] = next_w  # the suite's array, updated in place


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    if dampening or weight_decay or nesterov:
        raise NotImplementedError("cs231n's sgd has no dampening, weight decay or Nesterov")
    if momentum:
        # v = momentum * v - lr * dw; w += v: torch's momentum for a constant lr.
        return Optimizer("sgd_momentum", params, {"learning_rate": lr, "momentum": momentum})
    return Optimizer("sgd", params, {"learning_rate": lr})


def rmsprop(params, lr, alpha, eps, weight_decay, momentum):
    if weight_decay or momentum:
        raise NotImplementedError("cs231n's rmsprop has no weight decay or momentum")
    config = {"learning_rate": lr, "decay_rate": alpha, "epsilon": eps}
    return Optimizer("rmsprop", params, config)


def adam(params, lr, betas, eps):
    config = {"learning_rate": lr, "beta1": betas[0], "beta2": betas[1], "epsilon": eps}
    return Optimizer("adam", params, config)


# A piece none of whose functions the student's files define is not offered at all.
for _factory, _names in PIECES.items():
    if not any(student.has(n) for n in _names):
        del globals()[_factory]
