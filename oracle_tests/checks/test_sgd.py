"""SGD against torch.optim.SGD: the same parameters, hyperparameters and gradient stream
in both, the parameters compared after EVERY step of 120, in both dtype tiers.

Each option has its own cases (plain; momentum; dampening; weight decay; Nesterov), so
an implementation that raises NotImplementedError for an option it lacks is still
checked on the rest: plain SGD alone gets the plain cases, the others "not provided".
Torch's momentum is v = momentum * v + (1 - dampening) * g, with v = g (undamped) at the
first step, and p -= lr * v; weight decay is added to the gradient before the momentum.
"""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import compare, expect
from ._optim import SHAPES, check_trajectory, shapes

LAYER = "SGD"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
STEPS = 120
OPTIONS = ("lr", "momentum", "dampening", "weight_decay", "nesterov")


@dataclass(frozen=True)
class SGDCase:
    """torch.optim.SGD's arguments (the others at torch's defaults: 0, False) and the
    range of gradient magnitudes; each step draws its magnitude log-uniformly from it."""

    name: str
    kwargs: dict = field(default_factory=dict)
    grad_range: tuple[float, float] = (1e-2, 1.0)


CASES = [
    SGDCase("plain, lr 0.1", {"lr": 0.1}),
    SGDCase("plain, lr 1e-3, gradients 1e-6 to 10", {"lr": 1e-3}, (1e-6, 10.0)),
    SGDCase("momentum 0.9", {"lr": 0.01, "momentum": 0.9}),
    SGDCase("momentum 0.5", {"lr": 0.05, "momentum": 0.5}),
    SGDCase("momentum 0.9, dampening 0.5", {"lr": 0.01, "momentum": 0.9, "dampening": 0.5}),
    SGDCase("weight decay 0.01", {"lr": 0.1, "weight_decay": 0.01}),
    SGDCase("momentum 0.9, weight decay 5e-3", {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-3}),
    SGDCase("nesterov, momentum 0.9", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
    SGDCase(
        "nesterov, momentum 0.8, weight decay 1e-2",
        {"lr": 0.02, "momentum": 0.8, "weight_decay": 1e-2, "nesterov": True},
    ),
    SGDCase(
        "momentum 0.8, dampening 0.1, weight decay 1e-3",
        {"lr": 0.03, "momentum": 0.8, "dampening": 0.1, "weight_decay": 1e-3},
    ),
]


def make(impl, kwargs: dict):
    """params -> the adapter's SGD on them, every option passed (torch's defaults)."""
    kw = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    kw.update(kwargs)
    return lambda params: impl.sgd(params, *(kw[k] for k in OPTIONS))


def check_sgd(impl, kwargs, dtype, seed, steps, shapes, grad_range) -> None:
    check_trajectory(
        LAYER, make(impl, kwargs), torch.optim.SGD, kwargs, dtype, seed, steps, shapes, grad_range
    )


@check("parameters after every step")
@DTYPE
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sgd_matches_torch_at_every_step(impl, case, dtype):
    check_sgd(impl, case.kwargs, dtype, 0, STEPS, SHAPES, case.grad_range)


@check("parameters after every step")
@DTYPE
@settings(max_examples=15)
@given(
    lr=st.floats(1e-4, 1.0),
    log_grad=st.floats(-6, 1),
    param_shapes=shapes(),
    seed=seeds,
)
def test_sgd_matches_torch_for_any_learning_rate(impl, lr, log_grad, param_shapes, dtype, seed):
    grad_range = (10.0**log_grad, 10.0 ** (log_grad + 1))
    check_sgd(impl, {"lr": lr}, dtype, seed, 20, param_shapes, grad_range)


@check("parameters after every step")
@DTYPE
@settings(max_examples=15)
@given(
    lr=st.floats(1e-4, 0.1),
    momentum=st.floats(0.01, 0.99),
    dampening=st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
    weight_decay=st.one_of(st.just(0.0), st.floats(1e-5, 0.1)),
    nesterov=st.booleans(),
    param_shapes=shapes(),
    seed=seeds,
)
def test_sgd_with_momentum_matches_torch_for_any_options(
    impl, lr, momentum, dampening, weight_decay, nesterov, param_shapes, dtype, seed
):
    kwargs = {
        "lr": lr,
        "momentum": momentum,
        "dampening": 0.0 if nesterov else dampening,  # torch: Nesterov takes no dampening
        "weight_decay": weight_decay,
        "nesterov": nesterov,
    }
    check_sgd(impl, kwargs, dtype, seed, 20, param_shapes, (1e-2, 1.0))


@check("parameters after the first step with momentum and dampening")
@DTYPE
def test_sgd_first_momentum_step_is_the_undamped_gradient(impl, dtype):
    # torch starts the momentum buffer AT the first gradient (no dampening, no decay of a
    # zero buffer): step 1 is p - lr * g whatever momentum and dampening are. A buffer
    # started at zero gives (1 - dampening) * g, half the step here.
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((4, 3)).astype(dtype)
    g = rng.standard_normal((4, 3)).astype(dtype)
    params = [p0.copy()]
    impl.sgd(params, 0.1, 0.9, 0.5, 0.0, False).step([g.copy()])
    tp = torch.tensor(p0, requires_grad=True)
    tp.grad = torch.tensor(g)
    torch.optim.SGD([tp], lr=0.1, momentum=0.9, dampening=0.5, foreach=False).step()
    compare(LAYER, "parameter after the first step (momentum 0.9, dampening 0.5)", params[0], tp)


@check("parameters after zero gradients")
def test_sgd_with_no_gradient_leaves_parameters_unchanged(impl):
    # Without weight decay an all-zero gradient stream moves nothing, momentum or not.
    params = [np.ones((3, 2)), np.full(4, -2.0)]
    opt = impl.sgd(params, 0.1, 0.0, 0.0, 0.0, False)
    for _ in range(3):
        opt.step([np.zeros((3, 2)), np.zeros(4)])
    expect(
        (params[0] == 1).all() and (params[1] == -2).all(),
        f"{LAYER} moved parameters whose gradients were always 0; torch's stay put",
    )
