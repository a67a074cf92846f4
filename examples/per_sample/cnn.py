"""A CNN from scratch in the common "one image at a time" blog style.

This is the style of the many "CNN from scratch" posts built from classes like
``Conv3x3``, ``MaxPool2`` and ``Softmax``:

- one image at a time, no batch axis, channels last: an image is ``(H, W, C)``;
- no biases;
- ``forward(x)`` caches what ``backward`` needs, and ``backward(d_out, learn_rate)`` applies
  the SGD step to the layer's own weights (``W -= learn_rate * dW``) and returns only the
  gradient with respect to the layer's input; no parameter gradient leaves the layer.

Every layer computes in the dtype of its input (float32 stays float32) and never writes into
the arrays it is given.
"""

import numpy as np


class Conv:
    """A valid (no padding), stride-1 convolution without bias, channels last.

    ``filters`` has shape ``(num_filters, k, k, in_channels)``. Like torch's Conv2d it is a
    cross-correlation: ``out[i, j, f] = sum(x[i:i+k, j:j+k, :] * filters[f])``.
    """

    def __init__(self, num_filters, kernel_size, in_channels, rng=None):
        rng = np.random.default_rng(rng)
        fan_in = kernel_size * kernel_size * in_channels
        # Dividing by the fan-in keeps the initial outputs small, as the blog posts do.
        self.filters = rng.standard_normal((num_filters, kernel_size, kernel_size, in_channels))
        self.filters /= fan_in

    def _offsets(self):
        """Yield every kernel offset (a, b): one matrix product per offset, not per pixel."""
        _, kH, kW, _ = self.filters.shape
        for a in range(kH):
            for b in range(kW):
                yield a, b

    def forward(self, x):
        """(H, W, C) -> (H - k + 1, W - k + 1, num_filters)."""
        filters = self.filters.astype(x.dtype, copy=False)
        F, kH, kW, _ = filters.shape
        H, W, _ = x.shape
        Ho, Wo = H - kH + 1, W - kW + 1
        self.last_input = x
        out = np.zeros((Ho, Wo, F), dtype=x.dtype)
        for a, b in self._offsets():
            # Every output pixel sees input pixel (i + a, j + b) through tap (a, b):
            # (Ho, Wo, C) @ (C, F) -> (Ho, Wo, F)
            out += x[a : a + Ho, b : b + Wo, :] @ filters[:, a, b, :].T
        return out

    def backward(self, d_out, learn_rate):
        """(Ho, Wo, F) -> (H, W, C); applies ``filters -= learn_rate * d_filters``."""
        x = self.last_input
        filters = self.filters.astype(x.dtype, copy=False)
        Ho, Wo, F = d_out.shape
        C = x.shape[2]
        d_filters = np.zeros(filters.shape, dtype=x.dtype)
        d_input = np.zeros(x.shape, dtype=x.dtype)
        d_rows = d_out.reshape(Ho * Wo, F)  # (Ho, Wo, F) -> (Ho*Wo, F)
        for a, b in self._offsets():
            x_rows = x[a : a + Ho, b : b + Wo, :].reshape(Ho * Wo, C)  # (Ho*Wo, C)
            # Tap (a, b) of filter f met x(i + a, j + b) at every output pixel (i, j).
            d_filters[:, a, b, :] = d_rows.T @ x_rows  # (F, Ho*Wo) @ (Ho*Wo, C)
            # The input pixel got back each output's gradient through the same tap.
            d_input[a : a + Ho, b : b + Wo, :] += d_out @ filters[:, a, b, :]  # (Ho, Wo, C)
        # The input gradient above used the weights before this step.
        self.filters -= learn_rate * d_filters
        return d_input


class ReLU:
    """max(x, 0) elementwise, with torch's edge cases: NaN passes through, -0.0 stays -0.0."""

    def forward(self, x):
        """Any shape -> the same shape."""
        self.last_input = x
        # Only x < 0 is replaced: NaN and -0.0 are not below zero, so they pass unchanged.
        return np.where(x < 0, 0, x)

    def backward(self, d_out, learn_rate):
        """Any shape -> the same shape. ReLU'(0) = 0; where x is NaN the gradient passes."""
        # np.where, not d_out * mask: an inf gradient times a 0 mask would give NaN.
        return np.where(self.last_input <= 0, 0, d_out)


class MaxPool:
    """Max pooling over k x k regions with stride k; a remainder row or column is dropped.

    Each region's gradient goes to one element, chosen as torch does: the first maximum in
    row-major window order, or, in a window holding NaN (whose output is NaN), its last NaN.
    """

    def __init__(self, size=2):
        self.size = size

    def _regions(self, image):
        """Yield every (k, k, C) region of an (H, W, C) image with its output position."""
        k = self.size
        for i in range(image.shape[0] // k):
            for j in range(image.shape[1] // k):
                yield image[i * k : (i + 1) * k, j * k : (j + 1) * k], i, j

    def forward(self, x):
        """(H, W, C) -> (H // k, W // k, C)."""
        k = self.size
        H, W, C = x.shape
        self.last_input_shape = x.shape
        out = np.zeros((H // k, W // k, C), dtype=x.dtype)
        # The winner's flat index in each region, per channel: backward routes to it.
        self.winners = np.zeros((H // k, W // k, C), dtype=np.intp)
        for region, i, j in self._regions(x):
            flat = region.reshape(k * k, C)  # (k, k, C) -> (k*k, C), row-major window order
            # np.argmax gives the first maximum (and the first NaN); torch takes the last NaN.
            is_nan = np.isnan(flat)
            last_nan = k * k - 1 - np.argmax(is_nan[::-1], axis=0)
            winner = np.where(is_nan.any(axis=0), last_nan, np.argmax(flat, axis=0))
            self.winners[i, j] = winner
            out[i, j] = flat[winner, np.arange(C)]
        return out

    def backward(self, d_out, learn_rate):
        """(H // k, W // k, C) -> (H, W, C); zero everywhere but at each region's winner."""
        k = self.size
        C = d_out.shape[2]
        d_input = np.zeros(self.last_input_shape, dtype=d_out.dtype)
        for region, i, j in self._regions(d_input):
            winner = self.winners[i, j]  # (C,) flat indices into the region
            # region is a view into d_input, so this writes into d_input.
            region[winner // k, winner % k, np.arange(C)] = d_out[i, j]
        return d_input


class Flatten:
    """(H, W, C) -> (H*W*C,) in C order, so the features come in channels-last order."""

    def forward(self, x):
        """(H, W, C) -> (H*W*C,)."""
        self.last_input_shape = x.shape
        return x.reshape(-1)

    def backward(self, d_out, learn_rate):
        """(H*W*C,) -> (H, W, C)."""
        return d_out.reshape(self.last_input_shape)


class Dense:
    """A fully connected layer without bias: y = x @ weights, weights of shape (in, out)."""

    def __init__(self, in_features, out_features, rng=None):
        rng = np.random.default_rng(rng)
        # Dividing by the fan-in keeps the initial outputs small, as the blog posts do.
        self.weights = rng.standard_normal((in_features, out_features)) / in_features

    def forward(self, x):
        """(in,) -> (out,)."""
        self.last_input = x
        return x @ self.weights.astype(x.dtype, copy=False)

    def backward(self, d_out, learn_rate):
        """(out,) -> (in,); applies ``weights -= learn_rate * d_weights``."""
        x = self.last_input
        weights = self.weights.astype(x.dtype, copy=False)
        d_weights = np.outer(x, d_out)  # (in, out): dy_o/dW_io = x_i
        d_input = weights @ d_out  # (in,), with the weights before this step
        self.weights -= learn_rate * d_weights
        return d_input


class SoftmaxCrossEntropy:
    """Softmax and cross-entropy for one sample: loss = -log softmax(z)[label]."""

    def forward(self, logits, label):
        """(K,) logits and an int label -> the loss, a 0-d array of the logits' dtype."""
        # Subtracting the max changes nothing mathematically and keeps exp from overflowing.
        shifted = logits - logits.max()
        exp = np.exp(shifted)
        total = exp.sum()
        self.probs = exp / total
        self.label = int(label)
        return np.log(total) - shifted[self.label]

    def backward(self):
        """-> (K,) d loss / d logits = softmax(z) - onehot(label)."""
        d_logits = self.probs.copy()
        d_logits[self.label] -= 1
        return d_logits
