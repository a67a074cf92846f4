"""A student-style network in the nnfs API, half written: five methods are still to do.

Written for the suite's tests (the class names and signatures are the book's API; the code
is ours). Check it with:

    cnn-oracle check --api nnfs examples/courses/nnfs/unfinished.py

The training script at the bottom is what a student's file looks like: it trains at
module level. The preset never runs it (it would fail: there is no data set here).
"""

import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.default_rng().standard_normal((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        pass


class Layer_Dropout:
    def __init__(self, rate):
        self.rng = np.random.default_rng()
        self.keep = 1.0 - rate  # rate is the share of units dropped

    def forward(self, inputs, training):
        """TODO: drop a share `rate` of the inputs, scale the rest."""

    def backward(self, dvalues):
        self.dinputs = dvalues * self.mask


class Activation_ReLU:
    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = np.maximum(inputs, 0)

    def backward(self, dvalues):
        self.dinputs = np.where(self.inputs <= 0, 0.0, dvalues)  # NaN passes, as in torch


class Activation_Softmax:
    def forward(self, inputs, training):
        self.inputs = inputs
        e = np.exp(inputs - inputs.max(axis=1, keepdims=True))
        self.output = e / e.sum(axis=1, keepdims=True)

    def backward(self, dvalues):
        # Row by row: J = diag(s) - s s^T, dinputs = J @ dvalues, without building J.
        pass


class Activation_Sigmoid:
    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = np.exp(-np.logaddexp(0.0, -inputs))  # 1 / (1 + e^-x), no overflow

    def backward(self, dvalues):
        self.dinputs = dvalues * self.output * (1.0 - self.output)


class Loss:
    def calculate(self, output, y):
        return np.mean(self.forward(output, y))


class Loss_CategoricalCrossentropy(Loss):
    def forward(self, y_pred, y_true):
        # No clipping: -log(0) is inf, as in torch (the book clips at 1e-7).
        if y_true.ndim == 1:
            picked = y_pred[np.arange(len(y_pred)), y_true]
        else:
            picked = (y_pred * y_true).sum(axis=1)
        return -np.log(picked)

    def backward(self, dvalues, y_true):
        n, k = dvalues.shape
        if y_true.ndim == 1:
            y_true = np.eye(k)[y_true]
        self.dinputs = -y_true / dvalues / n


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax and the loss in one: the loss from the log-softmax, exact at any logits."""

    def forward(self, inputs, y_true):
        shifted = inputs - inputs.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.output = np.exp(log_probs)
        if y_true.ndim == 2:
            y_true = y_true.argmax(axis=1)
        return np.mean(-log_probs[np.arange(len(inputs)), y_true])

    def backward(self, dvalues, y_true):
        n = len(dvalues)
        if y_true.ndim == 2:
            y_true = y_true.argmax(axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[np.arange(n), y_true] -= 1
        self.dinputs /= n


class Loss_BinaryCrossentropy(Loss):
    def forward(self, y_pred, y_true):
        # torch's BCELoss clamps each log at -100 rather than clipping p.
        log_p = np.maximum(np.log(y_pred), -100)
        log_1p = np.maximum(np.log(1 - y_pred), -100)
        return -np.mean(y_true * log_p + (1 - y_true) * log_1p, axis=-1)

    def backward(self, dvalues, y_true):
        raise NotImplementedError


class Loss_MeanSquaredError(Loss):
    def forward(self, y_pred, y_true):
        return np.mean((y_true - y_pred) ** 2, axis=-1)

    def backward(self, dvalues, y_true):
        n, k = dvalues.shape
        self.dinputs = -2 * (y_true - dvalues) / k / n


class Optimizer_SGD:
    def __init__(self, learning_rate=1.0, decay=0.0, momentum=0.0):
        self.learning_rate = self.current_learning_rate = learning_rate
        self.decay, self.momentum, self.iterations = decay, momentum, 0

    def pre_update_params(self):
        if self.decay:
            self.current_learning_rate = self.learning_rate / (1 + self.decay * self.iterations)

    def update_params(self, layer):
        lr = self.current_learning_rate
        if not self.momentum:
            layer.weights += -lr * layer.dweights
            layer.biases += -lr * layer.dbiases
            return
        if not hasattr(layer, "weight_momentums"):
            layer.weight_momentums = np.zeros_like(layer.weights)
            layer.bias_momentums = np.zeros_like(layer.biases)
        layer.weight_momentums = self.momentum * layer.weight_momentums - lr * layer.dweights
        layer.bias_momentums = self.momentum * layer.bias_momentums - lr * layer.dbiases
        layer.weights += layer.weight_momentums
        layer.biases += layer.bias_momentums

    def post_update_params(self):
        self.iterations += 1


class Optimizer_RMSprop(Optimizer_SGD):
    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, rho=0.9):
        super().__init__(learning_rate, decay)
        self.epsilon, self.rho = epsilon, rho

    def update_params(self, layer):
        if not hasattr(layer, "weight_cache"):
            layer.weight_cache = np.zeros_like(layer.weights)
            layer.bias_cache = np.zeros_like(layer.biases)
        for value, grad, cache in (
            ("weights", "dweights", "weight_cache"),
            ("biases", "dbiases", "bias_cache"),
        ):
            g = getattr(layer, grad)
            c = self.rho * getattr(layer, cache) + (1 - self.rho) * g**2
            setattr(layer, cache, c)
            step = self.current_learning_rate * g / (np.sqrt(c) + self.epsilon)
            setattr(layer, value, getattr(layer, value) - step)


class Optimizer_Adam(Optimizer_SGD):
    def __init__(self, learning_rate=0.001, decay=0.0, epsilon=1e-7, beta_1=0.9, beta_2=0.999):
        super().__init__(learning_rate, decay)
        self.epsilon, self.beta_1, self.beta_2 = epsilon, beta_1, beta_2

    def update_params(self, layer):
        pass


# --- The training script: runs when a student runs this file, never under the suite ---
with open("NNFS_TRAINING_RAN", "w") as marker:  # the project's tests look for this file
    marker.write("the module-level training code of unfinished.py ran\n")
X = np.load("spiral_data.npy")  # there is no such file: running this module fails here
dense1 = Layer_Dense(2, 64)
optimizer = Optimizer_Adam(learning_rate=0.05, decay=5e-7)
