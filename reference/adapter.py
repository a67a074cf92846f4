"""The reference's door into the conformance suite (`cnn-oracle check` with no argument).

The reference already speaks torch's layouts, so the adapter only hands each layer
copies of the weights the suite gives it, and stands a zero bias in for `bias=None`
(whose gradient it then does not report). The suite reaches the reference through
this file exactly as it reaches anyone else's implementation.
"""

import numpy as np

from .heads import (
    BCELoss,
    CrossEntropyFromProbabilities,
    LeakyReLU,
    MSELoss,
    Sigmoid,
    Softmax,
    Tanh,
)
from .layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
)
from .loss import SoftmaxCrossEntropy
from .optim import SGD, Adam, RMSprop

name = "reference"
dtypes = ("float64", "float32")


class _Parametrised:
    """A Conv2d or Linear holding copies of the given weight and bias (zeros for None)."""

    def __init__(self, layer, weight: np.ndarray, bias: np.ndarray | None):
        self.layer, self.has_bias = layer, bias is not None
        zeros = np.zeros(weight.shape[0], dtype=weight.dtype)
        layer.params = {"weight": weight.copy(), "bias": zeros if bias is None else bias.copy()}
        layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.layer.backward(dy)

    @property
    def grads(self) -> dict:
        g = self.layer.grads
        return dict(g) if self.has_bias else {"weight": g["weight"]}


def conv2d(weight, bias, stride, padding):
    O, C, k, k2 = weight.shape
    if k != k2:
        raise NotImplementedError(f"square kernels only, got {k}x{k2}")
    return _Parametrised(Conv2d(C, O, k, stride, padding, dtype=weight.dtype), weight, bias)


def linear(weight, bias):
    out_features, in_features = weight.shape
    return _Parametrised(Linear(in_features, out_features, dtype=weight.dtype), weight, bias)


def relu():
    return ReLU()


def maxpool2d(kernel_size, stride):
    return MaxPool2d(kernel_size, stride)


def flatten():
    return Flatten()


def cross_entropy():
    return SoftmaxCrossEntropy()


def adam(params, lr, betas, eps):
    return Adam(params, lr=lr, betas=betas, eps=eps)  # updates the suite's arrays in place


def _batchnorm(cls, weight, bias, running_mean, running_var, eps, momentum):
    """A BatchNorm in training mode on copies of the given parameters and statistics."""
    layer = cls(
        len(weight),
        eps,
        momentum,  # torch's meaning already: running = (1 - m) * running + m * batch
        running_mean=running_mean,
        running_var=running_var,
        dtype=weight.dtype,
    )
    layer.params = {"weight": weight.copy(), "bias": bias.copy()}
    return layer


def batchnorm2d(weight, bias, running_mean, running_var, eps, momentum):
    return _batchnorm(BatchNorm2d, weight, bias, running_mean, running_var, eps, momentum)


def batchnorm1d(weight, bias, running_mean, running_var, eps, momentum):
    return _batchnorm(BatchNorm1d, weight, bias, running_mean, running_var, eps, momentum)


# Every dropout layer the suite builds draws from a Generator seeded alike, so that the
# reference's run is reproducible, and so is its replay in the diagnosis (which builds
# the layer again on the same seed; anyone else's random masks cannot be replayed).
DROPOUT_SEED = 0


def dropout(p):
    return Dropout(p, rng=np.random.default_rng(DROPOUT_SEED))


def avgpool2d(kernel_size, stride):
    return AvgPool2d(kernel_size, stride)


def softmax():
    return Softmax()


def sigmoid():
    return Sigmoid()


def tanh():
    return Tanh()


def leaky_relu(negative_slope):
    return LeakyReLU(negative_slope)


def mse_loss():
    return MSELoss()


def bce_loss():
    return BCELoss()


def cross_entropy_from_probabilities():
    return CrossEntropyFromProbabilities()


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    return SGD(params, lr, momentum, dampening, weight_decay, nesterov)  # in place


def rmsprop(params, lr, alpha, eps, weight_decay, momentum):
    return RMSprop(params, lr, alpha, eps, weight_decay, momentum)  # in place
