"""Helpers shared by the SGD and RMSprop checks: a gradient stream, the same steps in the
adapter's optimizer and in torch's, and a trajectory comparison that names the first
step at which they part. Each check module keeps its own LAYER and its own checks."""

import numpy as np
from hypothesis import strategies as st

from ..tolerances import TOLERANCES, CheckFailure, compare, to_torch

# A matrix, a vector and a conv-shaped tensor: the shapes of SeedCNN's parameters.
SHAPES = [(8, 5), (7,), (2, 3, 3, 3)]


@st.composite
def shapes(draw) -> list[tuple[int, ...]]:
    """The parameters of a hypothesis example: a matrix and a vector of drawn sizes."""
    return [(draw(st.integers(1, 6)), draw(st.integers(1, 6))), (draw(st.integers(1, 9)),)]


def gradient_sequence(rng, steps: int, shapes, grad_range, dtype) -> list[list[np.ndarray]]:
    """Per step, one gradient per shape: a persistent per-element mean (so that momentum
    and running averages build up as in training) plus noise, at a magnitude drawn
    log-uniformly from grad_range, with ~10% of the entries exactly 0."""
    lo, hi = np.log(grad_range[0]), np.log(grad_range[1])
    means = [rng.standard_normal(s) for s in shapes]
    sequence = []
    for _ in range(steps):
        scale = np.exp(rng.uniform(lo, hi))
        grads = [scale * (mu + rng.standard_normal(mu.shape)) for mu in means]
        sequence.append([(g * (rng.random(g.shape) > 0.1)).astype(dtype) for g in grads])
    return sequence


def run_adapter(opt, params: list[np.ndarray], grads_seq) -> list[list[np.ndarray]]:
    """Step the adapter's optimizer (a contract Optimizer built on `params`, which it
    updates in place); after each step, copies of the parameters."""
    history = []
    for grads in grads_seq:
        opt.step(grads)
        history.append([p.copy() for p in params])
    return history


def run_torch(cls, params: list[np.ndarray], grads_seq, kwargs: dict) -> list[list[np.ndarray]]:
    """The same steps with torch.optim's `cls` (single-tensor path) on copies of params."""
    tparams = [to_torch(p, requires_grad=True) for p in params]
    opt = cls(tparams, foreach=False, **kwargs)
    history = []
    for grads in grads_seq:
        for tp, g in zip(tparams, grads, strict=True):
            tp.grad = to_torch(g)
        opt.step()
        history.append([tp.detach().numpy().copy() for tp in tparams])
    return history


def _first_divergent_step(o: np.ndarray, t: np.ndarray) -> int:
    """The first index along axis 0 where o and t differ beyond the dtype's tolerance."""
    tol = TOLERANCES[o.dtype]
    with np.errstate(invalid="ignore"):
        ok = np.isclose(o, t, rtol=tol["rtol"], atol=tol["atol"], equal_nan=True)
    bad = ~ok.reshape(len(o), -1).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else 0


def compare_trajectories(layer: str, ours: list, theirs: list, setting: str) -> None:
    """Every parameter at every step, ours against torch's; a failure names the first
    step (1-based) and parameter that diverge, and the optimizer's setting."""
    n = len(ours)
    for i in range(len(ours[0])):
        o = np.stack([h[i] for h in ours])  # (steps, *shape)
        t = np.stack([h[i] for h in theirs])  # (steps, *shape)
        try:
            compare(layer, f"parameter {i} (every step)", o, t)
        except CheckFailure:
            if o.shape != t.shape or o.dtype != t.dtype:
                raise
            s = _first_divergent_step(o, t)
            try:
                compare(layer, f"parameter {i} {o.shape[1:]} after step {s + 1}", o[s], t[s])
            except CheckFailure as err:
                raise CheckFailure(
                    f"first divergence at step {s + 1} of {n} ({setting}): {err}"
                ) from None
            raise


def _word(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_trajectory(layer, make, torch_cls, kwargs, dtype, seed, steps, shapes, grad_range):
    """Build the adapter's optimizer with make(params) and compare `steps` steps of it on
    a gradient stream against torch_cls(**kwargs)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads_seq = gradient_sequence(rng, steps, shapes, grad_range, dtype)
    theirs = run_torch(torch_cls, params, grads_seq, kwargs)  # torch works on copies
    opt = make(params)  # updates `params` in place
    ours = run_adapter(opt, params, grads_seq)
    setting = ", ".join(f"{k}={_word(v)}" for k, v in kwargs.items())
    compare_trajectories(layer, ours, theirs, setting)
