"""What an adapter module imports is not taken for what it provides: a function imported
from the user's own network (`from deep_nn import softmax`) that is no factory is "not
provided", with the reason, instead of failing every Softmax check; a factory imported
from another module that is one is used as it is. And a diagnosis that fails never
replaces the check's own failure."""

import types

import numpy as np
import pytest

from oracle_tests import contract, plugin
from oracle_tests.contract import Adapter, CheckFailure, Implementation
from reference.adapter import relu


def module_adapter(**attributes) -> Implementation:
    mod = types.ModuleType("my_adapter")
    for name, value in attributes.items():
        setattr(mod, name, value)
    return Implementation(Adapter(mod, "m", "my_adapter.py", "my_adapter", ("float64",), True))


def network_softmax(z):
    """The network's own softmax, as deep_nn.py would define it."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


network_softmax.__module__ = "deep_nn"


def test_a_function_imported_from_the_network_is_not_provided_with_the_reason():
    impl = module_adapter(softmax=network_softmax, relu=relu)
    with pytest.raises(pytest.skip.Exception) as skipped:
        impl.softmax(np.float64)
    said = str(skipped.value)
    assert "deep_nn.network_softmax" in said and "imported from another module" in said, said
    assert "import deep_nn" in said, said


def test_a_factory_imported_from_another_module_is_used_as_it_is():
    impl = module_adapter(relu=relu)  # reference.adapter.relu: a factory from elsewhere
    y = impl.relu(np.float64).forward(np.array([[-1.0, 2.0]]))
    assert y.tolist() == [[0.0, 2.0]]


def test_a_factory_defined_in_the_adapter_that_raises_still_fails_its_check():
    def softmax():
        raise ValueError("bad")

    softmax.__module__ = "my_adapter"
    with pytest.raises(CheckFailure, match="raised ValueError: bad"):
        module_adapter(softmax=softmax).softmax(np.float64)


def test_a_diagnosis_that_fails_leaves_the_checks_failure_and_says_so(monkeypatch):
    def check():
        raise CheckFailure("ReLU y differs from torch")

    item = types.SimpleNamespace(
        obj=check, funcargs={}, _fixtureinfo=types.SimpleNamespace(argnames=())
    )

    def broken(tape):
        raise IndexError("tuple index out of range")

    monkeypatch.setattr("oracle_tests.diagnosis.diagnose", broken)
    found = plugin._diagnose(item)
    assert found["diagnosed"] == [] and "the diagnosis itself failed" in found["text"]
    assert contract.TAPE.recording is False


def test_a_reason_given_by_plain_checks_and_by_properties_is_one_not_provided_line():
    from oracle_tests.report import not_provided_lines

    reason = "the adapter's `softmax` is deep_nn.softmax, imported from another module"
    checks = [{"status": "not provided", "reason": f"not provided: {reason}"}] * 4
    checks += [{"status": "not provided", "reason": f"not provided: every example was "
                f"declined: {reason}"}] * 3  # fmt: skip
    assert not_provided_lines(checks) == [f"NOT PROVIDED (7): {reason}"]


def test_an_imported_factory_that_raises_a_value_error_still_fails_its_check():
    def relu_factory():
        raise ValueError("unsupported")

    relu_factory.__module__ = "my_layers"  # a factory of the user's own, imported
    with pytest.raises(CheckFailure, match="raised ValueError: unsupported"):
        module_adapter(relu=relu_factory).relu(np.float64)
