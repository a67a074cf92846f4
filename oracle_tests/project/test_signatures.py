"""Where no known bug explains a layer, the diagnosis says how its outputs differ
(signatures.py), with no advice: a dtype, a factor of N, a write into an argument, NaN
only, an Adam variant fitted to its steps. Each case records a tape of one small
in-memory adapter, with one thing changed from the reference, and diagnoses it."""

from types import SimpleNamespace

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import Adapter, CheckFailure, Implementation
from reference.adapter import conv2d, linear, relu

from .test_conventions import CustomAdam, Wrap


def implementation(**factories) -> Implementation:
    obj = SimpleNamespace(**factories)
    return Implementation(Adapter(obj, "sig", "sig", "sig", ("float64", "float32"), True))


def diagnosed(recording) -> tuple[list[str], list[str]]:
    """(known bugs named, signature ids) of the recorded tape."""
    found = diagnosis.diagnose(recording)
    sigs = [s["id"] for layer in found["layers"] for s in layer["signatures"]]
    return found["diagnosed"], sigs


def run_linear(impl, dtype=np.float64):
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(3).astype(dtype)
    layer = impl.linear(w, b)
    x = rng.standard_normal((5, 4)).astype(dtype)
    try:
        layer.forward(x)
        layer.backward(rng.standard_normal((5, 3)).astype(dtype))
        layer.grads  # noqa: B018  (read through the wrapper, which records it)
    except CheckFailure:
        pass  # what the check would fail on; the tape has the call


def test_the_right_values_in_float64_for_float32_inputs_are_a_dtype_not_precision(recording):
    impl = implementation(linear=lambda w, b: Wrap(linear(w, b), f=lambda y: y.astype(float)))
    run_linear(impl, np.float32)
    bugs, sigs = diagnosed(recording)
    assert "signature:wrong-dtype" in sigs, sigs
    assert "precision" not in diagnosis.diagnose(recording)["text"]


def test_a_weight_gradient_divided_by_the_batch_is_a_ratio_of_1_over_n(recording):
    class PerSampleWeightGrad:
        def __init__(self, w, b):
            self.layer = linear(w, b)

        def forward(self, x):
            self.n = len(x)
            return self.layer.forward(x)

        def backward(self, dy):
            return self.layer.backward(dy)

        @property
        def grads(self):
            g = dict(self.layer.grads)
            g["weight"] = g["weight"] / self.n
            return g

    run_linear(implementation(linear=PerSampleWeightGrad))
    bugs, sigs = diagnosed(recording)
    assert bugs == [] and "signature:ratio:1/N" in sigs, (bugs, sigs)


def test_a_backward_that_writes_into_its_upstream_gradient_is_named_a_write(recording):
    class Scribbler:
        def __init__(self):
            self.layer = relu()

        def forward(self, x):
            return self.layer.forward(x)

        def backward(self, dy):
            dx = self.layer.backward(dy)
            dy *= 0  # scribbles on the suite's array after using it
            return dx

    impl = implementation(relu=Scribbler)
    layer = impl.relu(np.float64)
    layer.forward(np.array([[1.0, -2.0, 3.0]]))
    with pytest.raises(CheckFailure, match="wrote into its argument 1"):
        layer.backward(np.array([[0.5, 0.25, -1.0]]))
    bugs, sigs = diagnosed(recording)
    # The known bug writes other values into dy, but the same argument: either names it.
    assert (bugs, sigs) in [
        ([], ["signature:writes-input"]),
        (["relu_backward_writes_into_dy"], []),
    ]


def test_nan_to_seven_in_the_forward_differs_only_at_nan(recording):
    impl = implementation(relu=lambda: Wrap(relu(), f=lambda y: np.nan_to_num(y, nan=7.0)))
    layer = impl.relu(np.float64)
    layer.forward(np.array([[np.nan, -1.0, 2.0, np.nan, 0.5]]))
    bugs, sigs = diagnosed(recording)
    assert (bugs, sigs) == ([], ["signature:only-at:nan"])


def test_an_adam_that_resets_its_moments_every_step_is_fitted_as_such(recording):
    class Forgetful(CustomAdam):
        def step(self, grads):
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
            super().step(grads)

    impl = implementation(adam=Forgetful)
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(4), rng.standard_normal((2, 2))]
    opt = impl.adam(params, 0.01, (0.9, 0.999), 1e-8)
    for _ in range(4):
        opt.step([rng.standard_normal(4), rng.standard_normal((2, 2))])
    bugs, sigs = diagnosed(recording)
    assert (bugs, sigs) in [
        ([], ["signature:adam:moments-reset"]),
        (["adam_state_reset_every_step"], []),
    ]


def test_a_dx_wrong_only_on_the_padded_border_is_said_to_differ_there(recording):
    class TopBorderDropped:
        def __init__(self, w, b, s, p):
            self.layer, self.p = conv2d(w, b, s, p), p

        def forward(self, x):
            return self.layer.forward(x)

        def backward(self, dy):
            dx = self.layer.backward(dy).copy()
            dx[:, :, : self.p, :] = 0  # the top rows' gradient lost
            return dx

        @property
        def grads(self):
            return self.layer.grads

    rng = np.random.default_rng(0)
    conv = implementation(conv2d=TopBorderDropped).conv2d(
        rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2), 1, 1
    )
    y = conv.forward(rng.standard_normal((1, 2, 7, 7)))
    conv.backward(rng.standard_normal(y.shape))
    assert diagnosed(recording) == ([], ["signature:only-at:padding"])
