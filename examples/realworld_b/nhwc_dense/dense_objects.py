"""Dense layers, activations, the loss and the optimizer as objects that keep their
results as attributes (output, dinputs, dweights, ...): weights are (n_inputs, n_neurons)
and biases (1, n_neurons).
"""

# ruff: noqa: NPY002 (the global np.random, as such code is written)

import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = inputs
        self.output = inputs @ self.weights + self.biases

    def backward(self, dvalues):
        samples = len(dvalues)
        self.dweights = self.inputs.T @ dvalues / samples
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True) / samples
        self.dinputs = dvalues @ self.weights.T


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax and cross-entropy together; y_true holds the labels (sparse)."""

    def forward(self, inputs, y_true):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)
        clipped = np.clip(self.output, 1e-7, 1 - 1e-7)
        return np.mean(-np.log(clipped[range(len(clipped)), y_true]))

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


class Optimizer_Adam:
    def __init__(self, learning_rate=0.001, epsilon=1e-7, beta_1=0.9, beta_2=0.999):
        self.learning_rate = learning_rate
        self.epsilon, self.beta_1, self.beta_2 = epsilon, beta_1, beta_2
        self.iterations = 0

    def pre_update_params(self):
        pass

    def update_params(self, layer):
        for name in ("weights", "biases"):
            if not hasattr(layer, name):
                continue
            param, grad = getattr(layer, name), getattr(layer, "d" + name)
            if not hasattr(layer, name + "_momentums"):
                setattr(layer, name + "_momentums", np.zeros_like(param))
                setattr(layer, name + "_cache", np.zeros_like(param))
            m = self.beta_1 * getattr(layer, name + "_momentums") + (1 - self.beta_1) * grad
            cache = self.beta_2 * getattr(layer, name + "_cache") + (1 - self.beta_2) * grad**2
            setattr(layer, name + "_momentums", m)
            setattr(layer, name + "_cache", cache)
            m_corrected = m / (1 - self.beta_1 ** (self.iterations + 1))
            cache_corrected = cache / (1 - self.beta_2 ** (self.iterations + 1))
            param += -self.learning_rate * m_corrected / np.sqrt(cache_corrected + self.epsilon)

    def post_update_params(self):
        self.iterations += 1
