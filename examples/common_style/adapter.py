"""The suite's adapter for network.py: hand each layer copies of torch's arrays, turn the
dense weights (out, in) <-> (in, out), and report the gradients in torch's names."""

from network import SGD, Conv2D, CrossEntropy, Dense, Flatten, MaxPool2D, ReLU, Sigmoid, Softmax

name = "common_style"
dtypes = ("float64", "float32")


def _copy(a):
    return None if a is None else a.copy()


class _WithGrads:
    """A Conv2D or Dense whose gradients read as torch's grads dict."""

    def __init__(self, layer, weight_grad):
        self.layer, self.weight_grad = layer, weight_grad

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        self.grads = {"weight": self.weight_grad(self.layer)}
        if self.layer.bias is not None:
            self.grads["bias"] = self.layer.d_bias
        return dx


def conv2d(weight, bias, stride, padding):
    if weight.shape[2] != weight.shape[3]:
        raise NotImplementedError("square filters only")
    return _WithGrads(Conv2D(weight.copy(), _copy(bias), stride, padding), lambda c: c.d_filters)


def linear(weight, bias):
    return _WithGrads(Dense(weight.T.copy(), _copy(bias)), lambda d: d.d_weights.T)


def maxpool2d(kernel_size, stride):
    return MaxPool2D(kernel_size, stride)


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    if dampening or weight_decay or nesterov:
        raise NotImplementedError("SGD with momentum only: no dampening, weight decay, Nesterov")
    return SGD(params, lr, momentum)  # updates the suite's arrays in place


relu, flatten, sigmoid, softmax = ReLU, Flatten, Sigmoid, Softmax
cross_entropy_from_probabilities = CrossEntropy
