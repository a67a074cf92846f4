"""Adam, exactly torch.optim.Adam with weight_decay=0 and amsgrad=False."""

import numpy as np


class Adam:
    """Adam over a list of arrays, updated in place.

    m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g
    p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)

    eps sits outside the square root and after the bias correction, as in torch.
    The look-alikes (eps inside the sqrt, TensorFlow's eps*sqrt(1-b2**t), no bias
    correction) are different algorithms that part ways once gradients near eps.

    Speed: when the parameters are consecutive views that tile one 1-D buffer (as
    SeedCNN's are), every step runs its dozen array operations once over that whole
    buffer instead of once per parameter, with preallocated scratch space. `m` and
    `v` stay per-parameter lists (views into flat moment buffers) either way.
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
        self._flat = _tiled_buffer(self.params)
        if self._flat is None:
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
        else:
            # m, v, the packed gradient and two scratch arrays, each one flat buffer.
            self._m, self._v, self._g, self._tmp, self._denom = np.zeros(
                (5, self._flat.size), self._flat.dtype
            )
            self.m, self.v = _views(self._m, self.params), _views(self._v, self.params)
        self._grads_seen, self._grads_flat = None, None
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        """Update every parameter in place from `grads`, given in the same order."""
        if len(grads) != len(self.params):
            raise ValueError(f"Adam: got {len(grads)} gradients for {len(self.params)} params")
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1 - b1**self.t)
        bias2_sqrt = (1 - b2**self.t) ** 0.5
        if self._flat is None:
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                tmp, denom = np.empty_like(p), np.empty_like(p)
                _update(p, g, m, v, tmp, denom, step_size, bias2_sqrt, self.betas, self.eps)
            return
        for p, g in zip(self.params, grads, strict=True):
            if np.shape(g) != p.shape:
                raise ValueError(f"Adam: gradient of shape {np.shape(g)} for a {p.shape} param")
        # Gradients that already tile one buffer (SeedCNN's do) are read where they lie;
        # others are packed first: one copy, then one pass per operation either way.
        g = self._grad_buffer(grads)
        if g is None:
            g = np.concatenate(grads, axis=None, out=self._g)
        m, v, tmp, denom = self._m, self._v, self._tmp, self._denom
        _update(self._flat, g, m, v, tmp, denom, step_size, bias2_sqrt, self.betas, self.eps)

    def _grad_buffer(self, grads: list[np.ndarray]) -> np.ndarray | None:
        """The buffer that `grads` tile (as the parameters tile theirs), else None.

        Checking the layout costs ~70 us (array addresses are slow to read), so the
        answer is kept for as long as the same array objects come back each step.
        """
        if self._grads_seen is None or any(
            a is not b for a, b in zip(grads, self._grads_seen, strict=True)
        ):
            g = _tiled_buffer(grads)
            self._grads_seen = list(grads)
            fits = g is not None and g.size == self._flat.size and g.dtype == self._flat.dtype
            self._grads_flat = g if fits else None
        return self._grads_flat


def _update(p, g, m, v, tmp, denom, step_size, bias2_sqrt, betas, eps) -> None:
    """One Adam step on arrays of one shape, in place; tmp and denom are scratch.

    The operations follow torch's _single_tensor_adam one for one, in its kernels'
    evaluation order: m.lerp_(g, 1-b1) = m + (1-b1)*(g - m); v.mul_(b2).addcmul_(g, g,
    1-b2) = v*b2 + ((1-b2)*g)*g; denom = sqrt(v)/sqrt(bias2) + eps; p.addcdiv_(m,
    denom, -step_size) = p + ((-step_size)*m)/denom. torch's vectorised kernels may
    fuse a multiply-add, which NumPy cannot, so float64 agrees to a few ulps.
    """
    b1, b2 = betas
    np.subtract(g, m, out=tmp)
    tmp *= 1 - b1
    m += tmp
    v *= b2
    np.multiply(g, 1 - b2, out=tmp)
    tmp *= g
    v += tmp
    np.sqrt(v, out=denom)
    denom /= bias2_sqrt
    denom += eps
    np.multiply(m, -step_size, out=tmp)
    tmp /= denom
    p += tmp


def _tiled_buffer(params: list[np.ndarray]) -> np.ndarray | None:
    """The 1-D buffer that `params` tile exactly, in order, as C-contiguous views; else None."""
    base = params[0].base if params else None
    if not (isinstance(base, np.ndarray) and base.ndim == 1 and base.flags.c_contiguous):
        return None
    if not base.flags.writeable or not np.issubdtype(base.dtype, np.floating):
        return None
    offset = 0
    for p in params:
        if p.base is not base or p.dtype != base.dtype or not p.flags.c_contiguous:
            return None
        if p.ctypes.data != base.ctypes.data + offset * base.itemsize:
            return None
        offset += p.size
    return base if offset == base.size else None


def _views(flat: np.ndarray, params: list[np.ndarray]) -> list[np.ndarray]:
    """Views of `flat` with the shapes of `params`, laid out consecutively."""
    out, offset = [], 0
    for p in params:
        out.append(flat[offset : offset + p.size].reshape(p.shape))  # view, p's shape
        offset += p.size
    return out
