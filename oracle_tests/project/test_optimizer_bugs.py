"""The known bugs of SGD and RMSprop (oracle_tests/known_bugs/optimizers.py): each,
planted in the reference, is named alone by the diagnosis from a few optimizer steps
through the contract, and the controls and the unmutated reference are named nothing."""

import contextlib

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import CheckFailure, Implementation, load_adapter
from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.known_bugs.core import apply


@contextlib.contextmanager
def planted(name: str | None):
    """The reference's adapter, with the known bug `name` (if any) planted in it."""
    applied = apply(CATALOGUE[name]) if name else None
    try:
        yield Implementation(load_adapter())
    finally:
        if applied:
            applied.undo()


def steps(factory: str, args: tuple, grad_scale: float = 1.0, n: int = 4):
    """A scenario: n steps of impl.<factory>(params, *args) on two parameters."""

    def run(impl, rng):
        params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
        opt = getattr(impl, factory)(params, *args)
        for _ in range(n):
            opt.step([grad_scale * rng.standard_normal(p.shape) for p in params])

    return run


# sgd(params, lr, momentum, dampening, weight_decay, nesterov);
# rmsprop(params, lr, alpha, eps, weight_decay, momentum)
SCENARIOS = {
    "sgd_momentum_averaging_form": steps("sgd", (0.1, 0.9, 0.0, 0.0, False)),
    "sgd_weight_decay_after_momentum": steps("sgd", (0.1, 0.9, 0.0, 0.01, False)),
    "sgd_weight_decay_doubled": steps("sgd", (0.1, 0.0, 0.0, 0.01, False)),
    "rmsprop_eps_inside_sqrt": steps("rmsprop", (0.01, 0.99, 1e-8, 0.0, 0.0), 1e-8),
    "rmsprop_alpha_ignored": steps("rmsprop", (0.01, 0.99, 1e-8, 0.0, 0.0)),
    "sgd_momentum_first_step_dampened": steps("sgd", (0.1, 0.9, 0.5, 0.0, False)),
    "sgd_nesterov_ignored": steps("sgd", (0.1, 0.9, 0.0, 0.0, True)),
    "rmsprop_momentum_ignored": steps("rmsprop", (0.01, 0.99, 1e-8, 0.0, 0.9)),
}
CONTROLS = {
    "control_sgd_reimplemented": steps("sgd", (0.1, 0.9, 0.0, 0.01, True)),
    "control_rmsprop_reimplemented": steps("rmsprop", (0.01, 0.95, 1e-6, 1e-3, 0.5)),
}


def diagnosed(name: str | None, scenario, recording) -> dict:
    with planted(name) as impl, contextlib.suppress(CheckFailure):
        scenario(impl, np.random.default_rng(0))
    return diagnosis.diagnose(recording)


def test_every_optimizer_bug_has_a_scenario_and_names_its_factory():
    from oracle_tests.known_bugs import optimizers

    ours = {n for n, m in CATALOGUE.items() if m.make.__module__ == optimizers.__name__}
    assert ours == set(SCENARIOS) | set(CONTROLS)
    assert all(CATALOGUE[n].factory in ("sgd", "rmsprop") for n in ours)
    assert all(CATALOGUE[n].diagnosis for n in SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_optimizer_bug_is_named_alone_from_a_few_steps(name, recording):
    found = diagnosed(name, SCENARIOS[name], recording)
    assert found["diagnosed"] == [name], found["text"]
    assert found["layers"][0]["first_divergence"].startswith(
        diagnosis.LAYER_OF[CATALOGUE[name].factory] + " step"
    )


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_a_control_or_the_unmutated_reference_is_named_nothing(name, recording):
    for planted_name in (name, None):
        recording.reset()
        found = diagnosed(planted_name, CONTROLS[name], recording)
        assert found["diagnosed"] == [], found["text"]
