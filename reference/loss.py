"""Softmax cross-entropy, torch's CrossEntropyLoss(reduction="mean")."""

import numpy as np

from .layers._checks import check_called_forward, check_float_array


def softmax_cross_entropy_forward(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean over the batch of logsumexp(z) - z[y].

    logits: (N, K) float; labels: (N,) ints in [0, K). Returns the loss and the
    softmax probabilities (N, K), which are the backward cache.
    """
    N = logits.shape[0]
    # Subtracting the row max keeps exp() finite for logits of +-1e4 and changes
    # neither the loss nor the softmax.
    z = logits - logits.max(axis=1, keepdims=True)  # (N, K), every row's max is 0
    lse = np.log(np.exp(z).sum(axis=1))  # (N,)
    loss = (lse - z[np.arange(N), labels]).sum() / N  # = .mean(), without its overhead
    probs = np.exp(z - lse[:, None])  # (N, K)
    return float(loss), probs


def softmax_cross_entropy_backward(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d(mean loss)/d logits = (softmax(z) - onehot(y)) / N, shape (N, K)."""
    N = probs.shape[0]
    dlogits = probs.copy()
    dlogits[np.arange(N), labels] -= 1
    dlogits /= N  # the loss is a batch mean
    return dlogits


class SoftmaxCrossEntropy:
    """Loss layer: forward(logits, labels) -> float batch mean; backward() -> dlogits."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """logits: (N, K) float, labels: (N,) ints in [0, K) -> mean loss."""
        logits = check_float_array("SoftmaxCrossEntropy", logits, 2, what="logits array")
        labels = np.asarray(labels)
        N, K = logits.shape
        if labels.shape != (N,):
            raise ValueError(
                f"SoftmaxCrossEntropy: expected labels of shape ({N},) for logits {logits.shape}, "
                f"got {labels.shape}"
            )
        if labels.dtype.kind not in "iu":  # = np.issubdtype(.., np.integer), cheaper per call
            raise ValueError(
                f"SoftmaxCrossEntropy: expected integer class labels, got dtype {labels.dtype}"
            )
        if N and (labels.min() < 0 or labels.max() >= K):
            raise ValueError(
                f"SoftmaxCrossEntropy: labels must lie in [0, {K - 1}], "
                f"got values from {labels.min()} to {labels.max()}"
            )
        loss, probs = softmax_cross_entropy_forward(logits, labels)
        self._cache = (probs, labels)
        return loss

    def backward(self) -> np.ndarray:
        """-> dlogits (N, K), the gradient of the mean loss."""
        check_called_forward("SoftmaxCrossEntropy", self._cache)
        return softmax_cross_entropy_backward(*self._cache)
