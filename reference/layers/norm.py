"""BatchNorm2d (on NCHW) and BatchNorm1d (on NC), with torch's semantics in both modes.

Training mode normalises each channel with the batch's mean and BIASED variance (divided
by n, the values per channel), and updates the running statistics as
`running = (1 - m) * running + m * batch` with torch's momentum m (0.1 by default),
where the batch variance is the UNBIASED one (divided by n - 1). Eval mode normalises
with the running statistics, which then do not change. The running statistics start at
zeros (mean) and ones (variance), torch's defaults, unless the layer is handed others.

Three look-alikes differ from torch here (see oracle_tests/known_bugs/stateful.py): the
cs231n/Keras form `m * running + (1 - m) * batch` with m = 0.9 (the same update when
m is translated to 1 - m), a biased running variance, and a running variance that
starts at zeros.

Backward in training mode follows the batch statistics' own dependence on x: with
xhat = (x - mean) / sqrt(var + eps) and g = dy * weight, per channel,
    dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps).
Dropping the two mean terms treats the statistics as constants, which is eval mode's
gradient, not training mode's.
"""

import numpy as np

from ._checks import check_called_forward, check_float_array, check_grad_shape


def _axes(ndim: int) -> tuple[int, ...]:
    """The axes a channel's statistics reduce over: all but the channel axis 1."""
    return (0,) if ndim == 2 else (0, 2, 3)


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """(C,) -> (1, C) or (1, C, 1, 1), to broadcast against the input."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel mean and biased variance of x: (N, C) or (N, C, H, W).

    Returns mean: (C,), var: (C,) (divided by n) and n, the values per channel.
    """
    axes = _axes(x.ndim)
    n = x.size // x.shape[1]
    mean = x.mean(axis=axes)  # (C,)
    centred = x - _per_channel(mean, x.ndim)
    var = np.mean(centred * centred, axis=axes)  # (C,), biased: / n
    return mean, var, n


def inverse_std(var: np.ndarray, eps: float) -> np.ndarray:
    """1 / sqrt(var + eps): eps inside the square root, as torch adds it."""
    return 1.0 / np.sqrt(var + var.dtype.type(eps))


def _normalise(x, weight, bias, mean, var, eps, mode: str) -> tuple[np.ndarray, tuple]:
    inv_std = inverse_std(var.astype(x.dtype, copy=False), eps)  # (C,)
    xhat = (x - _per_channel(mean.astype(x.dtype, copy=False), x.ndim)) * _per_channel(
        inv_std, x.ndim
    )
    w = weight.astype(x.dtype, copy=False)
    y = xhat * _per_channel(w, x.ndim) + _per_channel(bias.astype(x.dtype, copy=False), x.ndim)
    return y, (mode, xhat, inv_std, w)


def batchnorm_train_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float
) -> tuple[np.ndarray, tuple, np.ndarray, np.ndarray, int]:
    """Normalise x: (N, C[, H, W]) with its own batch statistics, then scale and shift.

    weight, bias: (C,). Returns y (x's shape and dtype), the cache for
    `batchnorm_backward`, and the batch's mean, biased variance and n (for the running
    statistics).
    """
    mean, var, n = batch_statistics(x)
    y, cache = _normalise(x, weight, bias, mean, var, eps, "train")
    return y, cache, mean, var, n


def batchnorm_eval_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float,
) -> tuple[np.ndarray, tuple]:
    """Normalise x: (N, C[, H, W]) with the running statistics (C,); y and the cache."""
    return _normalise(x, weight, bias, running_mean, running_var, eps, "eval")


def batchnorm_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy: x's shape -> (dx: x's shape, dweight: (C,), dbias: (C,)).

    After a training forward, dx includes the dependence of the batch mean and variance
    on x; after an eval forward the statistics are constants.
    """
    mode, xhat, inv_std, w = cache
    axes, nd = _axes(dy.ndim), dy.ndim
    dweight = np.sum(dy * xhat, axis=axes)  # (C,)
    dbias = np.sum(dy, axis=axes)  # (C,)
    g = dy * _per_channel(w, nd)  # the gradient with respect to xhat
    if mode == "train":
        g = g - _per_channel(g.mean(axis=axes), nd)
        g -= xhat * _per_channel(np.mean(g * xhat, axis=axes), nd)
    dx = g * _per_channel(inv_std, nd)
    return dx, dweight, dbias


def update_running_stats(
    running_mean: np.ndarray,
    running_var: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    n: int,
    momentum: float,
) -> tuple[np.ndarray, np.ndarray]:
    """torch's update: running = (1 - m) * running + m * batch, the variance unbiased.

    mean, var: the batch's mean and biased variance (C,) over n values per channel.
    Returns the new running mean and variance (new arrays, the running ones' dtype).
    """
    dtype = running_mean.dtype
    unbiased = var.astype(np.float64) * (n / (n - 1))  # (C,)
    m = float(momentum)
    new_mean = (1 - m) * running_mean.astype(np.float64) + m * mean.astype(np.float64)
    new_var = (1 - m) * running_var.astype(np.float64) + m * unbiased
    return new_mean.astype(dtype), new_var.astype(dtype)


def initial_running_stats(
    num_features: int,
    dtype,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the given running statistics, or torch's start: zeros and ones (C,)."""
    mean = np.zeros(num_features, dtype) if running_mean is None else running_mean.copy()
    var = np.ones(num_features, dtype) if running_var is None else running_var.copy()
    return mean, var


class _BatchNorm:
    """Shared by BatchNorm2d and BatchNorm1d: parameters, running statistics, modes."""

    name, ndim = "BatchNorm", 0

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        *,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
        dtype=np.float32,
    ):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.params = {
            "weight": np.ones(num_features, dtype=dtype),
            "bias": np.zeros(num_features, dtype=dtype),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.running_mean, self.running_var = initial_running_stats(
            num_features, dtype, running_mean, running_var
        )
        self.num_batches_tracked = 0  # momentum=None averages over all batches, as torch
        self.training = True
        self._cache = None

    def train(self, mode: bool = True) -> None:
        """Training mode (batch statistics, running ones updated), or eval mode if False."""
        self.training = mode

    def eval(self) -> None:
        """Eval mode: normalise with the running statistics and leave them unchanged."""
        self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C[, H, W]) -> the same shape."""
        x = check_float_array(self.name, x, self.ndim)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{self.name}: expected {self.num_features} channels, got {x.shape[1]} "
                f"(input shape {x.shape})"
            )
        w, b = self.params["weight"], self.params["bias"]
        if not self.training:
            y, self._cache = batchnorm_eval_forward(
                x, w, b, self.running_mean, self.running_var, self.eps
            )
            return y
        if x.size // x.shape[1] <= 1:
            # torch's own message: one value per channel has no variance to divide by.
            raise ValueError(
                f"{self.name}: Expected more than 1 value per channel when training, got "
                f"input size {x.shape}"
            )
        y, self._cache, mean, var, n = batchnorm_train_forward(x, w, b, self.eps)
        self.num_batches_tracked += 1
        m = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        self.running_mean, self.running_var = update_running_stats(
            self.running_mean, self.running_var, mean, var, n, m
        )
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: the output's shape -> dx; overwrites grads["weight"] and grads["bias"]."""
        check_called_forward(self.name, self._cache)
        dy = check_grad_shape(self.name, dy, self._cache[1].shape)
        dx, dweight, dbias = batchnorm_backward(dy, self._cache)
        self.grads = {"weight": dweight, "bias": dbias}
        return dx


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, H, W) for each channel of an (N, C, H, W) input."""

    name, ndim = "BatchNorm2d", 4


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over N for each feature of an (N, C) input."""

    name, ndim = "BatchNorm1d", 2
