"""The pieces of a network's head that the seed does not use: Softmax, Sigmoid, Tanh,
LeakyReLU as layers, and the MSE, binary cross-entropy and cross-entropy-on-probabilities
losses, each with torch's semantics for the same name.

Every piece is a functional core (forward -> output and cache, backward from the cache)
and a thin class calling it through this module, so that each function can be patched.
Sigmoid and Tanh differentiate from their OUTPUT (s(1 - s), 1 - t^2), as torch does.
"""

import numpy as np

from .layers._checks import check_called_forward, check_float_array, check_grad_shape

# torch's binary_cross_entropy clamps each log at -100 and its backward divides by
# max(p(1 - p), 1e-12), so that p = 0 or 1 gives a finite loss and gradient. Its 1e-12
# is a C float: 9.99999996e-13, which shows in the gradient at p = 0 or 1 (4e-9 relative).
BCE_LOG_FLOOR = -100.0
BCE_EPS = float(np.float32(1e-12))


# --- Layers: functional cores ------------------------------------------------------------
def softmax_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over axis 1 of (N, K) logits; the cache is the probabilities (N, K)."""
    z = x - x.max(axis=1, keepdims=True)  # every row's max is 0: exp() cannot overflow
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)  # (N, K)
    return p, p


def softmax_backward(dy: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The full Jacobian's product with dy: dx_i = p_i (dy_i - sum_j dy_j p_j), (N, K)."""
    return p * (dy - (dy * p).sum(axis=1, keepdims=True))


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 / (1 + exp(-x)); at x = -1000 exp overflows to inf and the result is exactly 0."""
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-x))
    s = s.astype(x.dtype, copy=False)
    return s, s


def sigmoid_backward(dy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """dy * s (1 - s), on the output s, as torch's sigmoid_backward."""
    return dy * ((1 - s) * s)


def tanh_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(x)
    return t, t


def tanh_backward(dy: np.ndarray, t: np.ndarray) -> np.ndarray:
    """dy * (1 - t^2), on the output t, as torch's tanh_backward."""
    return dy * (1 - t * t)


def leaky_relu_forward(x: np.ndarray, negative_slope: float) -> tuple[np.ndarray, np.ndarray]:
    """x where x > 0, else negative_slope * x (NaN stays NaN); the cache is the mask x > 0."""
    positive = x > 0
    y = np.where(positive, x, x * np.asarray(negative_slope, dtype=x.dtype))
    return y, positive


def leaky_relu_backward(dy: np.ndarray, positive: np.ndarray, negative_slope: float):
    """dy where x > 0, else negative_slope * dy: torch's slope at exactly 0 is negative_slope."""
    return np.where(positive, dy, dy * np.asarray(negative_slope, dtype=dy.dtype))


# --- Losses: functional cores ------------------------------------------------------------
def mse_forward(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean over ALL elements of (pred - target)^2; the cache is the residual."""
    r = pred - target
    return float((r * r).mean()), r


def mse_backward(r: np.ndarray) -> np.ndarray:
    """d mean(r^2) / d pred = 2 r / numel."""
    return (2 / r.size) * r


def bce_forward(p: np.ndarray, target: np.ndarray) -> tuple[float, tuple]:
    """The mean of -[t log p + (1 - t) log(1 - p)], each log clamped at -100 as torch's."""
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log(1 - p), BCE_LOG_FLOOR)
    loss = (target - 1) * log_q - target * log_p
    return float(loss.mean()), (p, target)


def bce_backward(cache: tuple) -> np.ndarray:
    """(p - t) / max(p (1 - p), 1e-12) / numel, torch's binary_cross_entropy_backward."""
    p, target = cache
    d = (p - target) / np.maximum((1 - p) * p, BCE_EPS)
    return (d / p.size).astype(p.dtype, copy=False)


def ce_probabilities_forward(p: np.ndarray, labels: np.ndarray) -> tuple[float, tuple]:
    """Mean over the batch of -log p[n, label_n]; p = 0 at a label gives inf, as torch."""
    N = p.shape[0]
    picked = p[np.arange(N), labels]  # (N,)
    with np.errstate(divide="ignore"):
        loss = -np.log(picked).sum() / N
    return float(loss), (p, labels)


def ce_probabilities_backward(cache: tuple) -> np.ndarray:
    """-1 / (N p[label]) at each row's label, 0 elsewhere (-inf where p[label] = 0)."""
    p, labels = cache
    N = p.shape[0]
    rows = np.arange(N)
    dp = np.zeros_like(p)
    with np.errstate(divide="ignore"):
        dp[rows, labels] = (-1 / N) / p[rows, labels]
    return dp


# --- Thin classes ------------------------------------------------------------------------
class _Elementwise:
    """A layer whose backward needs only its cache; works on any shape."""

    name, ndim = "", None

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Any shape -> same shape ((N, K) -> (N, K) for Softmax)."""
        x = check_float_array(self.name, x, self.ndim or np.ndim(x))
        y, self._cache = self._forward(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Same shape as the forward's output -> the input's shape."""
        check_called_forward(self.name, self._cache)
        dy = check_grad_shape(self.name, dy, self._cache.shape)
        return self._backward(dy, self._cache)


class Softmax(_Elementwise):
    """Probabilities over axis 1 of (N, K) logits, torch.softmax(x, 1)."""

    name, ndim = "Softmax", 2

    def _forward(self, x):
        return softmax_forward(x)

    def _backward(self, dy, cache):
        return softmax_backward(dy, cache)


class Sigmoid(_Elementwise):
    name = "Sigmoid"

    def _forward(self, x):
        return sigmoid_forward(x)

    def _backward(self, dy, cache):
        return sigmoid_backward(dy, cache)


class Tanh(_Elementwise):
    name = "Tanh"

    def _forward(self, x):
        return tanh_forward(x)

    def _backward(self, dy, cache):
        return tanh_backward(dy, cache)


class LeakyReLU(_Elementwise):
    """F.leaky_relu(x, negative_slope)."""

    name = "LeakyReLU"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def _forward(self, x):
        return leaky_relu_forward(x, self.negative_slope)

    def _backward(self, dy, cache):
        return leaky_relu_backward(dy, cache, self.negative_slope)


class _Loss:
    name = ""

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def _check_pair(self, pred, target) -> tuple[np.ndarray, np.ndarray]:
        pred = check_float_array(self.name, pred, np.ndim(pred), what="prediction array")
        target = np.asarray(target)
        if target.shape != pred.shape:
            raise ValueError(
                f"{self.name}: expected a target of the prediction's shape {pred.shape}, "
                f"got {target.shape}"
            )
        return pred, target.astype(pred.dtype, copy=False)


class MSELoss(_Loss):
    """F.mse_loss(pred, target) with reduction="mean": forward -> float, backward -> dpred."""

    name = "MSELoss"

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """pred, target: (N, K) float -> the mean over all N*K elements."""
        loss, self._cache = mse_forward(*self._check_pair(pred, target))
        return loss

    def backward(self) -> np.ndarray:
        """-> dpred (N, K)."""
        check_called_forward(self.name, self._cache)
        return mse_backward(self._cache)


class BCELoss(_Loss):
    """F.binary_cross_entropy(prob, target): forward -> float, backward -> dprob."""

    name = "BCELoss"

    def forward(self, prob: np.ndarray, target: np.ndarray) -> float:
        """prob: (N, K) in [0, 1], target: (N, K) in [0, 1] -> the mean."""
        loss, self._cache = bce_forward(*self._check_pair(prob, target))
        return loss

    def backward(self) -> np.ndarray:
        """-> dprob (N, K)."""
        check_called_forward(self.name, self._cache)
        return bce_backward(self._cache)


class CrossEntropyFromProbabilities(_Loss):
    """F.nll_loss(torch.log(prob), labels): the cross-entropy after a Softmax layer."""

    name = "CrossEntropyFromProbabilities"

    def forward(self, prob: np.ndarray, labels: np.ndarray) -> float:
        """prob: (N, K) probabilities, labels: (N,) ints in [0, K) -> mean -log p[label]."""
        prob = check_float_array(self.name, prob, 2, what="probability array")
        labels = np.asarray(labels)
        N, K = prob.shape
        if labels.shape != (N,) or labels.dtype.kind not in "iu":
            raise ValueError(
                f"{self.name}: expected integer labels of shape ({N},), "
                f"got {labels.dtype} {labels.shape}"
            )
        if N and (labels.min() < 0 or labels.max() >= K):
            raise ValueError(f"{self.name}: labels must lie in [0, {K - 1}]")
        loss, self._cache = ce_probabilities_forward(prob, labels)
        return loss

    def backward(self) -> np.ndarray:
        """-> dprob (N, K), nonzero only at the labels."""
        check_called_forward(self.name, self._cache)
        return ce_probabilities_backward(self._cache)
