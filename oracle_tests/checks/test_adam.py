"""Adam against torch.optim.Adam: the same parameters, the same hyperparameters and the
same gradient sequence in both, with the parameters compared after EVERY step, in both
dtype tiers.

Gradients near 1e-8 are where the look-alike algorithms part ways with torch's: there
eps dominates the denominator, so eps inside the sqrt, TensorFlow's epsilon-hat
eps*sqrt(1-b2**t), or eps = 1e-7 change each step by a large factor.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from ..plugin import check
from ..strategies import DTYPES
from ..tolerances import compare, expect, to_torch

LAYER = "Adam"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}  # torch's
# A matrix, a vector and a conv-shaped tensor: the shapes of SeedCNN's parameters.
SHAPES = [(8, 5), (7,), (2, 3, 3, 3)]
STEPS = 120


@dataclass(frozen=True)
class AdamCase:
    """Hyperparameters (empty: both optimizers' defaults) and the range of gradient
    magnitudes; each step draws its magnitude log-uniformly from that range."""

    name: str
    kwargs: dict = field(default_factory=dict)
    grad_range: tuple[float, float] = (1e-3, 10.0)


CASES = [
    AdamCase("defaults"),
    # eps = 1e-8 dominates sqrt(v_hat) here: the eps variants are off by large factors.
    AdamCase("defaults, gradients near eps", grad_range=(2e-9, 3e-8)),
    AdamCase(
        "lr 2e-2, betas (0.8, 0.99), eps 1e-6",
        {"lr": 2e-2, "betas": (0.8, 0.99), "eps": 1e-6},
        (1e-7, 1e-5),
    ),
    AdamCase(
        "lr 1e-4, betas (0.5, 0.9), eps 1e-10",
        {"lr": 1e-4, "betas": (0.5, 0.9), "eps": 1e-10},
        (1e-11, 1e-2),
    ),
]


def gradient_sequence(rng, steps: int, shapes, grad_range, dtype) -> list[list[np.ndarray]]:
    """Per step, one gradient per shape: a persistent per-element mean (so the moments
    build up as in training) plus noise, at a magnitude drawn log-uniformly from
    grad_range, with ~10% of the entries exactly 0."""
    lo, hi = np.log(grad_range[0]), np.log(grad_range[1])
    means = [rng.standard_normal(s) for s in shapes]
    sequence = []
    for _ in range(steps):
        scale = np.exp(rng.uniform(lo, hi))
        grads = [scale * (mu + rng.standard_normal(mu.shape)) for mu in means]
        sequence.append([(g * (rng.random(g.shape) > 0.1)).astype(dtype) for g in grads])
    return sequence


def run_adapter(impl, params, grads_seq, kwargs) -> list[dict]:
    """Step the adapter's Adam; after each step, copies of the parameters."""
    kw = {**DEFAULTS, **kwargs}
    adam = impl.adam(params, kw["lr"], kw["betas"], kw["eps"])  # updates `params` in place
    history = []
    for grads in grads_seq:
        adam.step(grads)
        history.append({"param": [p.copy() for p in params]})
    return history


def run_torch(params, grads_seq, kwargs) -> list[dict]:
    """The same with torch.optim.Adam (weight_decay=0, amsgrad=False: its defaults)."""
    tparams = [to_torch(p, requires_grad=True) for p in params]
    opt = torch.optim.Adam(tparams, **kwargs)
    history = []
    for grads in grads_seq:
        for tp, g in zip(tparams, grads, strict=True):
            tp.grad = to_torch(g)
        opt.step()
        history.append({"param": [tp.detach().numpy().copy() for tp in tparams]})
    return history


def compare_trajectories(ours: list[dict], theirs: list[dict], n_params: int) -> None:
    """Compare every parameter at every step, stacked as (steps, ...) so that a
    failure's index names the first coordinate as the step (0-based)."""
    for i in range(n_params):
        o = np.stack([h["param"][i] for h in ours])  # (steps, *shape)
        t = np.stack([h["param"][i] for h in theirs])  # (steps, *shape)
        compare(LAYER, f"parameter {i} (every step; index 0 is the step)", o, t)


def check_against_torch(impl, case: AdamCase, dtype, seed: int, steps: int, shapes) -> None:
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads_seq = gradient_sequence(rng, steps, shapes, case.grad_range, dtype)
    theirs = run_torch(params, grads_seq, case.kwargs)  # torch works on copies
    ours = run_adapter(impl, params, grads_seq, case.kwargs)
    compare_trajectories(ours, theirs, len(shapes))


@check("parameters after every step")
@DTYPE
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_adam_matches_torch_at_every_step(impl, case, dtype):
    check_against_torch(impl, case, dtype, seed=0, steps=STEPS, shapes=SHAPES)


@check("parameters after every step")
@DTYPE
@given(
    lr=st.floats(1e-5, 1e-1),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.9999),
    log_eps=st.floats(-12, -4),
    log_grad=st.floats(-11, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_adam_matches_torch_for_any_hyperparameters(
    impl, lr, beta1, beta2, log_eps, log_grad, dtype, seed
):
    kwargs = {"lr": lr, "betas": (beta1, beta2), "eps": 10.0**log_eps}
    # Gradients within a decade of 10**log_grad, which sweeps them across eps.
    grad_range = (10.0**log_grad, 10.0 ** (log_grad + 1))
    case = AdamCase("hypothesis", kwargs, grad_range)
    check_against_torch(impl, case, dtype, seed=seed, steps=20, shapes=[(3, 4), (5,)])


@check("parameters after zero gradients")
def test_adam_with_no_gradient_leaves_parameters_unchanged(impl):
    # m = v = 0 for an all-zero gradient stream: the update is 0 / (0 + eps) = 0.
    params = [np.ones((3, 2)), np.full(4, -2.0)]
    adam = impl.adam(params, *DEFAULTS.values())
    for _ in range(5):
        adam.step([np.zeros((3, 2)), np.zeros(4)])
    expect(
        (params[0] == 1).all() and (params[1] == -2).all(),
        f"{LAYER} moved parameters whose gradients were always 0; torch's stay put",
    )
