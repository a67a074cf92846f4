"""Adam, exactly torch.optim.Adam with weight_decay=0 and amsgrad=False."""

import numpy as np


class Adam:
    """Adam over a list of arrays, updated in place.

    m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
    p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

    eps sits outside the square root and after the bias correction, as in torch.
    The look-alikes (eps inside the sqrt, TensorFlow's eps*sqrt(1-b2**t), no bias
    correction) are different algorithms that part ways once gradients near eps.
    """

    def __init__(
        self,
        params: list[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if lr <= 0 or eps < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(
                f"Adam: need lr > 0, eps >= 0 and betas in [0, 1), got lr={lr}, "
                f"betas={betas}, eps={eps}"
            )
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        """Update every parameter in place from `grads`, given in the same order."""
        if len(grads) != len(self.params):
            raise ValueError(f"Adam: got {len(grads)} gradients for {len(self.params)} params")
        self.t += 1
        b1, b2 = self.betas
        # The operations follow torch's _single_tensor_adam one for one (lerp for m,
        # sqrt(v) / sqrt(bias2) for the denominator), so that float64 runs agree with
        # torch to the last few ulps rather than merely to a tolerance.
        step_size = self.lr / (1 - b1**self.t)
        bias2_sqrt = (1 - b2**self.t) ** 0.5
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m += (1 - b1) * (g - m)  # = b1*m + (1-b1)*g, as torch's lerp_
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= bias2_sqrt
            denom += self.eps
            p -= step_size * (m / denom)
