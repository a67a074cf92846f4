"""nnfs ("Neural Networks from Scratch in Python"): the suite's adapter for the book's classes.

    cnn-oracle check --api nnfs path/to/your_network.py

This is an ordinary adapter (docs/adapter.md) built from the book's classes, found in
PATH. The file is NEVER run: the book's scripts train at module level, so only the class
and function definitions the adapter maps, the definitions they use, constants and the
imports those need are executed (oracle_tests/presets/_loading.py, from_source).
Every translation is written out:
- Layer_Dense(n_inputs, n_neurons): weights are (in, out), torch's weight transposed, and
  biases (1, out). forward(inputs) sets .output (forward(inputs, training) in the later
  chapters is accepted too); backward(dvalues) sets .dinputs, .dweights, .dbiases.
- Activation_ReLU, Activation_Softmax (its Jacobian backward), Activation_Sigmoid: the
  same forward/backward, no parameters.
- Loss_CategoricalCrossentropy.forward(y_pred, y_true) gives the per-sample losses (their
  mean is the loss) and backward(dvalues, y_true) the gradient: the suite's
  cross_entropy_from_probabilities. Loss_BinaryCrossentropy and Loss_MeanSquaredError
  the same, as bce_loss and mse_loss (torch's means over all elements).
- Activation_Softmax_Loss_CategoricalCrossentropy as cross_entropy (logits in): in the
  earlier chapters forward(inputs, y_true) returns the loss; in the later ones the class
  has only backward(dvalues, y_true), and the loss is then your Activation_Softmax and
  Loss_CategoricalCrossentropy, as the book's Model computes it.
- Layer_Dropout(rate): rate is the DROP probability, torch's p, passed as it is.
- Optimizer_SGD(learning_rate, decay, momentum), Optimizer_RMSprop(learning_rate, decay,
  epsilon, rho) with rho = torch's alpha, Optimizer_Adam(learning_rate, decay, epsilon,
  beta_1, beta_2). decay is the book's learning-rate decay, not a weight decay: it is 0.
  A step is pre_update_params(), update_params(layer) for each parameter-holding layer,
  post_update_params(): each of the suite's parameters is the .weights of one small
  layer made for it (with .dweights its gradient, and a zero bias), and the result is
  written back into the suite's array.
Only float64 is declared: the book's layers start from np.random.randn, in float64.
"""

import inspect

import numpy as np

from ._loading import course_path, from_source

API = {
    "Layer_Dense": "Layer_Dense(n_inputs, n_neurons)",
    "Activation_ReLU": "Activation_ReLU()",
    "Activation_Softmax": "Activation_Softmax()",
    "Activation_Sigmoid": "Activation_Sigmoid()",
    "Loss_CategoricalCrossentropy": "Loss_CategoricalCrossentropy()",
    "Activation_Softmax_Loss_CategoricalCrossentropy": (
        "Activation_Softmax_Loss_CategoricalCrossentropy()"
    ),
    "Loss_BinaryCrossentropy": "Loss_BinaryCrossentropy()",
    "Loss_MeanSquaredError": "Loss_MeanSquaredError()",
    "Layer_Dropout": "Layer_Dropout(rate)",
    "Optimizer_SGD": "Optimizer_SGD(learning_rate, decay, momentum)",
    "Optimizer_RMSprop": "Optimizer_RMSprop(learning_rate, decay, epsilon, rho)",
    "Optimizer_Adam": "Optimizer_Adam(learning_rate, decay, epsilon, beta_1, beta_2)",
}
student = from_source("nnfs", course_path("nnfs", "the .py file with the book's classes"), API)
student.check_api(API)
# The methods each class must have: forward(inputs[, training]) and backward(dvalues[, y]).
METHODS = {
    "Layer_Dense": ("forward", "backward"),
    "Activation_ReLU": ("forward", "backward"),
    "Activation_Softmax": ("forward", "backward"),
    "Activation_Sigmoid": ("forward", "backward"),
    "Loss_CategoricalCrossentropy": ("forward", "backward"),
    "Loss_BinaryCrossentropy": ("forward", "backward"),
    "Loss_MeanSquaredError": ("forward", "backward"),
    "Layer_Dropout": ("forward", "backward"),
    "Optimizer_SGD": ("update_params",),
    "Optimizer_RMSprop": ("update_params",),
    "Optimizer_Adam": ("update_params",),
}
COMBINED = "Activation_Softmax_Loss_CategoricalCrossentropy"
# The backward-only form computes its loss with the two classes the book's Model uses.
COMBINED_FORWARD = (
    (f"{COMBINED}.forward",)
    if student.has(f"{COMBINED}.forward")
    else ("Activation_Softmax.forward", "Loss_CategoricalCrossentropy.forward")
)
# factory -> the student's methods it calls
PIECES = {
    "linear": ("Layer_Dense.forward", "Layer_Dense.backward"),
    "relu": ("Activation_ReLU.forward", "Activation_ReLU.backward"),
    "softmax": ("Activation_Softmax.forward", "Activation_Softmax.backward"),
    "sigmoid": ("Activation_Sigmoid.forward", "Activation_Sigmoid.backward"),
    "cross_entropy": (*COMBINED_FORWARD, f"{COMBINED}.backward"),
    "cross_entropy_from_probabilities": (
        "Loss_CategoricalCrossentropy.forward",
        "Loss_CategoricalCrossentropy.backward",
    ),
    "bce_loss": ("Loss_BinaryCrossentropy.forward", "Loss_BinaryCrossentropy.backward"),
    "mse_loss": ("Loss_MeanSquaredError.forward", "Loss_MeanSquaredError.backward"),
    "dropout": ("Layer_Dropout.forward", "Layer_Dropout.backward"),
    "sgd": ("Optimizer_SGD.update_params",),
    "rmsprop": ("Optimizer_RMSprop.update_params",),
    "adam": ("Optimizer_Adam.update_params",),
}
name = student.header(PIECES, ["never run: only its definitions and imports", "float64 only"])
dtypes = ("float64",)


def _takes_training(method) -> bool:
    """forward(inputs, training), as in the book's later chapters, or forward(inputs)."""
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[1].kind != inspect.Parameter.VAR_KEYWORD


def _output(obj, attr: str, method: str):
    """obj.<attr> after the student's method set it; missing or None: not written yet."""
    out = getattr(obj, attr, None)
    if out is None:
        student.stub_returned_none(method)
    return out


# --- Layers -------------------------------------------------------------------------
class Layer:
    """An nnfs layer or activation: forward sets .output, backward sets .dinputs."""

    def __init__(self, cls: str, *args):
        student.require(f"{cls}.forward", f"{cls}.backward")  # "not provided" while a stub
        self.cls, self.training = cls, True
        self.obj = student.call(cls, student.get(cls), *args)

    def forward(self, x):
        method = f"{self.cls}.forward"
        args = (x, self.training) if _takes_training(self.obj.forward) else (x,)
        self.obj.output = None
        student.call(method, self.obj.forward, *args)
        return _output(self.obj, "output", method)

    def backward(self, dy):
        method = f"{self.cls}.backward"
        self.obj.dinputs = None
        student.call(method, self.obj.backward, dy)
        return _output(self.obj, "dinputs", method)


class Dense(Layer):
    """Layer_Dense: weights (in, out) = torch's weight.T, biases (1, out)."""

    def __init__(self, weight, bias):
        out_features, in_features = weight.shape
        super().__init__("Layer_Dense", in_features, out_features)
        self.has_bias = bias is not None
        self.obj.weights = np.ascontiguousarray(weight.T)  # (in, out)
        b = bias if self.has_bias else np.zeros(out_features, weight.dtype)
        self.obj.biases = b.reshape(1, -1).copy()  # (1, out)

    def backward(self, dy):
        dx = super().backward(dy)
        dweights = _output(self.obj, "dweights", "Layer_Dense.backward")
        self.grads = {"weight": np.asarray(dweights).T}  # back to torch's (out, in)
        if self.has_bias:
            dbiases = _output(self.obj, "dbiases", "Layer_Dense.backward")
            self.grads["bias"] = np.asarray(dbiases).reshape(-1)  # (1, out) -> (out,)
        return dx


def linear(weight, bias):
    return Dense(weight, bias)


def relu():
    return Layer("Activation_ReLU")


def softmax():
    return Layer("Activation_Softmax")


def sigmoid():
    return Layer("Activation_Sigmoid")


class Dropout(Layer):
    """Layer_Dropout(rate): rate is the drop probability, torch's p. In eval mode the
    later chapters' forward(inputs, training=False) passes the input through; code with
    forward(inputs) only has no eval mode, and the suite's eval checks skip."""

    def __init__(self, p):
        super().__init__("Layer_Dropout", p)

    def eval(self):
        if not _takes_training(self.obj.forward):
            raise NotImplementedError("Layer_Dropout.forward(inputs) has no training flag")
        self.training = False

    def train(self):
        self.training = True


def dropout(p):
    return Dropout(p)


# --- Losses -------------------------------------------------------------------------
class Loss:
    """An nnfs loss: forward(y_pred, y_true) -> the per-sample losses (their mean is the
    loss), backward(dvalues, y_true) sets .dinputs."""

    def __init__(self, cls: str):
        student.require(f"{cls}.forward", f"{cls}.backward")
        self.cls = cls
        self.obj = student.call(cls, student.get(cls))

    def forward(self, pred, target):
        self.pred, self.target = pred, target
        method = f"{self.cls}.forward"
        losses = student.call(method, self.obj.forward, pred, target)
        if losses is None:
            student.stub_returned_none(method)
        return float(np.mean(losses))

    def backward(self):
        method = f"{self.cls}.backward"
        self.obj.dinputs = None
        student.call(method, self.obj.backward, self.pred, self.target)
        return _output(self.obj, "dinputs", method)


def cross_entropy_from_probabilities():
    return Loss("Loss_CategoricalCrossentropy")


def bce_loss():
    return Loss("Loss_BinaryCrossentropy")


def mse_loss():
    return Loss("Loss_MeanSquaredError")


class SoftmaxLoss:
    """Activation_Softmax_Loss_CategoricalCrossentropy on logits. Its backward takes the
    softmax output as dvalues and gives (softmax - one_hot) / N."""

    def __init__(self):
        student.require(*PIECES["cross_entropy"])
        self.obj = student.call(COMBINED, student.get(COMBINED))

    def forward(self, logits, labels):
        self.labels = labels
        if student.has(f"{COMBINED}.forward"):  # the earlier chapters: forward returns the loss
            loss = student.call(f"{COMBINED}.forward", self.obj.forward, logits, labels)
            if loss is None:
                student.stub_returned_none(f"{COMBINED}.forward")
            self.probs = _output(self.obj, "output", f"{COMBINED}.forward")
            return float(np.mean(loss))
        # The later chapters: your Activation_Softmax, then your Loss_CategoricalCrossentropy.
        softmax_layer = Layer("Activation_Softmax")
        self.probs = softmax_layer.forward(logits)
        return Loss("Loss_CategoricalCrossentropy").forward(self.probs, labels)

    def backward(self):
        method = f"{COMBINED}.backward"
        self.obj.dinputs = None
        student.call(method, self.obj.backward, self.probs.copy(), self.labels)
        return _output(self.obj, "dinputs", method)


def cross_entropy():
    return SoftmaxLoss()


# --- Optimizers ---------------------------------------------------------------------
class _Holder:
    """A parameter-holding "layer" for the book's update_params(layer): .weights is one
    of the suite's parameters and .dweights its gradient; its bias is a zero (1, 1)."""

    def __init__(self, param):
        self.weights = param.copy()
        self.biases = np.zeros((1, 1), param.dtype)
        self.dbiases = np.zeros((1, 1), param.dtype)


class Optimizer:
    """One step: pre_update_params(), update_params(layer) per parameter,
    post_update_params(). The layers (and the moments the book keeps on them) persist."""

    def __init__(self, cls: str, params: list, *args):
        student.require(f"{cls}.update_params")
        self.cls, self.params = cls, params
        self.obj = student.call(cls, student.get(cls), *args)
        self.holders = [_Holder(p) for p in params]

    def _hook(self, hook: str, *args):
        method = getattr(self.obj, hook, None)
        if method is not None:  # the first chapters' optimizers have no pre/post
            student.call(f"{self.cls}.{hook}", method, *args)

    def step(self, grads):
        self._hook("pre_update_params")
        for g, holder in zip(grads, self.holders, strict=True):
            holder.dweights = g.copy()
            student.call(f"{self.cls}.update_params", self.obj.update_params, holder)
        self._hook("post_update_params")
        for p, holder in zip(self.params, self.holders, strict=True):
            p[...] = holder.weights  # the suite's array, updated in place


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    if dampening or weight_decay or nesterov:
        raise NotImplementedError("nnfs's Optimizer_SGD has no dampening, weight decay or Nesterov")
    # weight_updates = momentum * momentums - lr * dw: torch's momentum for a constant lr.
    return Optimizer("Optimizer_SGD", params, lr, 0.0, momentum)


def rmsprop(params, lr, alpha, eps, weight_decay, momentum):
    if weight_decay or momentum:
        raise NotImplementedError("nnfs's Optimizer_RMSprop has no weight decay or momentum")
    return Optimizer("Optimizer_RMSprop", params, lr, 0.0, eps, alpha)  # rho = torch's alpha


def adam(params, lr, betas, eps):
    return Optimizer("Optimizer_Adam", params, lr, 0.0, eps, betas[0], betas[1])


# A piece none of whose classes the student's file defines is not offered at all.
for _factory, _names in PIECES.items():
    if not any(student.has(n.partition(".")[0]) for n in _names):
        del globals()[_factory]
