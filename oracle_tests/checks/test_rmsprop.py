"""RMSprop against torch.optim.RMSprop (centered=False): the same parameters,
hyperparameters and gradient stream in both, the parameters compared after EVERY step
of 120, in both dtype tiers.

Torch's step: v = alpha * v + (1 - alpha) * g^2, then p -= lr * g / (sqrt(v) + eps),
eps OUTSIDE the square root; with momentum, b = momentum * b + g / (sqrt(v) + eps) (b
starts at 0) and p -= lr * b; weight decay is added to g first. Gradients near eps are
where eps inside the sqrt parts from torch's; every case but one keeps alpha away from
0.9, the decay of the blog posts that torch's 0.99 replaces. Momentum and weight decay
have their own cases, so an implementation without them is checked on the rest.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import expect
from ._optim import SHAPES, check_trajectory, shapes

LAYER = "RMSprop"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
STEPS = 120
OPTIONS = ("lr", "alpha", "eps", "weight_decay", "momentum")
DEFAULTS = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0}


@dataclass(frozen=True)
class RMSpropCase:
    """torch.optim.RMSprop's arguments (the others at torch's defaults) and the range of
    gradient magnitudes; each step draws its magnitude log-uniformly from it."""

    name: str
    kwargs: dict = field(default_factory=dict)
    grad_range: tuple[float, float] = (1e-3, 10.0)


CASES = [
    RMSpropCase("defaults, lr 1e-2", {"lr": 1e-2}),
    # eps = 1e-8 dominates sqrt(v) here: sqrt(v + eps) is ~1e4 times larger.
    RMSpropCase("defaults, gradients near eps", {"lr": 1e-3}, (2e-9, 3e-8)),
    RMSpropCase("alpha 0.9, eps 1e-6", {"lr": 3e-3, "alpha": 0.9, "eps": 1e-6}, (1e-7, 1e-5)),
    RMSpropCase("alpha 0.5, eps 1e-10", {"lr": 1e-3, "alpha": 0.5, "eps": 1e-10}, (1e-11, 1e-2)),
    RMSpropCase("momentum 0.9", {"lr": 1e-3, "momentum": 0.9}),
    RMSpropCase("weight decay 1e-2", {"lr": 1e-2, "weight_decay": 1e-2}),
    RMSpropCase(
        "alpha 0.95, eps 1e-6, momentum 0.5, weight decay 1e-3",
        {"lr": 2e-3, "alpha": 0.95, "eps": 1e-6, "momentum": 0.5, "weight_decay": 1e-3},
        (1e-7, 1e-4),
    ),
]


def make(impl, kwargs: dict):
    """params -> the adapter's RMSprop on them, every option passed (torch's defaults)."""
    kw = {**DEFAULTS, **kwargs}
    return lambda params: impl.rmsprop(params, *(kw[k] for k in OPTIONS))


def check_rmsprop(impl, kwargs, dtype, seed, steps, param_shapes, grad_range) -> None:
    check_trajectory(
        LAYER,
        make(impl, kwargs),
        torch.optim.RMSprop,
        kwargs,
        dtype,
        seed,
        steps,
        param_shapes,
        grad_range,
    )


@check("parameters after every step")
@DTYPE
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rmsprop_matches_torch_at_every_step(impl, case, dtype):
    check_rmsprop(impl, case.kwargs, dtype, 0, STEPS, SHAPES, case.grad_range)


@check("parameters after every step")
@DTYPE
@settings(max_examples=15)
@given(
    lr=st.floats(1e-5, 1e-1),
    alpha=st.floats(0.0, 0.999),
    log_eps=st.floats(-12, -4),
    log_grad=st.floats(-11, 1),
    param_shapes=shapes(),
    seed=seeds,
)
def test_rmsprop_matches_torch_for_any_alpha_and_eps(
    impl, lr, alpha, log_eps, log_grad, param_shapes, dtype, seed
):
    kwargs = {"lr": lr, "alpha": alpha, "eps": 10.0**log_eps}
    # Gradients within a decade of 10**log_grad, which sweeps them across eps.
    grad_range = (10.0**log_grad, 10.0 ** (log_grad + 1))
    check_rmsprop(impl, kwargs, dtype, seed, 20, param_shapes, grad_range)


@check("parameters after every step")
@DTYPE
@settings(max_examples=15)
@given(
    lr=st.floats(1e-5, 1e-2),
    alpha=st.floats(0.5, 0.999),
    momentum=st.one_of(st.just(0.0), st.floats(0.01, 0.99)),
    weight_decay=st.one_of(st.just(0.0), st.floats(1e-5, 0.1)),
    param_shapes=shapes(),
    seed=seeds,
)
def test_rmsprop_with_momentum_or_weight_decay_matches_torch_for_any_options(
    impl, lr, alpha, momentum, weight_decay, param_shapes, dtype, seed
):
    kwargs = {"lr": lr, "alpha": alpha, "momentum": momentum, "weight_decay": weight_decay}
    check_rmsprop(impl, kwargs, dtype, seed, 20, param_shapes, (1e-3, 1.0))


@check("parameters after zero gradients")
def test_rmsprop_with_no_gradient_leaves_parameters_unchanged(impl):
    # v = 0 for an all-zero gradient stream: the update is 0 / (0 + eps) = 0.
    params = [np.ones((3, 2)), np.full(4, -2.0)]
    opt = impl.rmsprop(params, *DEFAULTS.values())
    for _ in range(5):
        opt.step([np.zeros((3, 2)), np.zeros(4)])
    expect(
        (params[0] == 1).all() and (params[1] == -2).all(),
        f"{LAYER} moved parameters whose gradients were always 0; torch's stay put",
    )
