"""Flatten: (N, C, H, W) -> (N, C*H*W) in C order, which is torch's nn.Flatten order."""

import math

import numpy as np

from ._checks import check_called_forward, check_grad_shape


class Flatten:
    """Keep the batch axis, flatten the rest in row-major (C, H, W) order."""

    def __init__(self):
        self.params, self.grads = {}, {}
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, *rest) -> (N, prod(rest))."""
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten: expected at least 2-D input (N, ...), got shape {x.shape}")
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)  # (N, C*H*W)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """(N, prod(rest)) -> (N, *rest)."""
        check_called_forward("Flatten", self._cache)
        N, rest = self._cache[0], math.prod(self._cache[1:])
        dy = check_grad_shape("Flatten", dy, (N, rest))
        return dy.reshape(self._cache)  # (N, C, H, W)
