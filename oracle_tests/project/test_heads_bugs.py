"""The known bugs of the head pieces (oracle_tests/known_bugs/heads.py): each, planted in
the reference, is named alone by the diagnosis from a few calls through the contract."""

import contextlib

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import CheckFailure, Implementation, load_adapter
from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.known_bugs.core import apply


@contextlib.contextmanager
def planted(name: str):
    """The reference's adapter with the known bug `name` planted in `reference` itself."""
    applied = apply(CATALOGUE[name])
    try:
        yield Implementation(load_adapter())
    finally:
        applied.undo()


# --- Scenarios: a few calls through the contract that show one bug ------------------------
def layer_on(make, x: np.ndarray):
    def run(impl, rng):
        layer = make(impl)
        y = layer.forward(x.copy())
        layer.backward(rng.standard_normal(y.shape))

    return run


def loss_on(make, pred: np.ndarray, target: np.ndarray):
    def run(impl, rng):
        loss = make(impl)
        loss.forward(pred.copy(), target.copy())
        loss.backward()

    return run


F64 = np.float64
RNG = np.random.default_rng(7)
X = 2 * RNG.standard_normal((4, 5))
LOGITS_1E4 = np.array([[1e4, -1e4, 0.0, 5.0], [0.5, -0.3, 0.1, 0.2]])
PRED, TARGET = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
P_SATURATED = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.6]])
T_SATURATED = np.array([[0.0, 1.0, 1.0], [0.5, 0.0, 0.2]])
E = np.exp(0.5 * RNG.standard_normal((4, 5)))
PROBS, LABELS = E / E.sum(axis=1, keepdims=True), np.array([0, 3, 1, 4])


def softmax(impl):
    return impl.softmax(F64)


SCENARIOS = {
    "softmax_backward_diagonal": layer_on(softmax, X),
    "softmax_backward_pass_through": layer_on(softmax, X),
    "softmax_without_max_subtraction": layer_on(softmax, LOGITS_1E4),
    "sigmoid_backward_on_input": layer_on(lambda impl: impl.sigmoid(F64), X),
    "tanh_backward_on_input": layer_on(lambda impl: impl.tanh(F64), X),
    "leaky_relu_slope_ignored": layer_on(lambda impl: impl.leaky_relu(0.2, F64), X),
    "mse_mean_over_batch_only": loss_on(lambda impl: impl.mse_loss(F64), PRED, TARGET),
    "mse_missing_factor_2": loss_on(lambda impl: impl.mse_loss(F64), PRED, TARGET),
    "mse_sign_flipped": loss_on(lambda impl: impl.mse_loss(F64), PRED, TARGET),
    "bce_log_unclipped": loss_on(lambda impl: impl.bce_loss(F64), P_SATURATED, T_SATURATED),
    "ce_probabilities_gradient_not_divided_by_batch": loss_on(
        lambda impl: impl.cross_entropy_from_probabilities(F64), PROBS, LABELS
    ),
}


def diagnosed(name: str, scenario, recording) -> dict:
    """The diagnosis of `scenario` run on the reference with `name` planted."""
    with planted(name) as impl, contextlib.suppress(CheckFailure):
        scenario(impl, np.random.default_rng(0))
    return diagnosis.diagnose(recording)


def test_every_head_bug_has_a_scenario_and_names_its_factory():
    from oracle_tests.known_bugs import heads

    ours = {n for n, m in CATALOGUE.items() if m.make.__module__ == heads.__name__}
    assert ours == set(SCENARIOS)
    assert all(CATALOGUE[n].factory and CATALOGUE[n].diagnosis for n in ours)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_head_bug_is_named_alone_from_calls_that_show_it(name, recording):
    found = diagnosed(name, SCENARIOS[name], recording)
    assert found["diagnosed"] == [name], found["text"]


@pytest.mark.parametrize("name", ["softmax_backward_diagonal", "mse_missing_factor_2"])
def test_the_unmutated_reference_is_not_diagnosed(name, recording):
    with contextlib.suppress(CheckFailure):
        SCENARIOS[name](Implementation(load_adapter()), np.random.default_rng(0))
    found = diagnosis.diagnose(recording)
    assert found["diagnosed"] == [], found["text"]
