"""The stateful probes (conventions/stateful.py) judge their point alone: BatchNorm's
momentum form, running variance and its start, Dropout's p and scaling. Each variant is
a small NumPy layer here with one thing changed; a correct piece that fails an unrelated
check is still "torch's", and a piece that cannot run is "not observed".
"""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from oracle_tests.contract import Adapter, Implementation
from oracle_tests.conventions import observe
from reference.adapter import batchnorm1d, batchnorm2d, dropout

POINTS = (
    "BatchNorm momentum form",
    "BatchNorm running variance",
    "BatchNorm running variance start",
    "Dropout p meaning",
    "Dropout scaling",
)


def probes(**factories) -> dict:
    """The conventions observed on an adapter with just these factories."""
    obj = SimpleNamespace(**factories)
    adapter = Adapter(obj, "probe", "probe", "probe", ("float64", "float32"), True)
    return observe(Implementation(adapter))


class SimpleBN:
    """A from-scratch BatchNorm on (N, C) or (N, C, H, W) with the known variants as flags:
    m_running (m * running + (1 - m) * batch with the momentum it is given), biased
    (running variance), zeros (ignores the running statistics handed in), broken_dx."""

    def __init__(self, w, b, rm, rv, eps, momentum, m_running=False, biased=False, zeros=False):
        self.w, self.b, self.eps, self.m = w.copy(), b.copy(), eps, momentum
        self.running_mean = np.zeros_like(rm) if zeros else rm.copy()
        self.running_var = np.zeros_like(rv) if zeros else rv.copy()
        self.m_running, self.biased, self.training = m_running, biased, True

    def _axes(self, x):
        return (0,) if x.ndim == 2 else (0, 2, 3)

    def _c(self, v, x):
        return v.reshape((1, -1) + (1,) * (x.ndim - 2))

    def eval(self):
        self.training = False

    def forward(self, x):
        axes = self._axes(x)
        if self.training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            n = x.size // x.shape[1]
            v = var if self.biased else var * n / (n - 1)
            a = 1 - self.m if self.m_running else self.m  # the batch's weight
            self.running_mean = (1 - a) * self.running_mean + a * mean
            self.running_var = (1 - a) * self.running_var + a * v
        else:
            mean, var = self.running_mean, self.running_var
        xhat = (x - self._c(mean, x)) / self._c(np.sqrt(var + self.eps), x)
        self.grads = {"weight": np.zeros_like(self.w), "bias": np.zeros_like(self.b)}
        return xhat * self._c(self.w, x) + self._c(self.b, x)

    def backward(self, dy):
        return np.zeros_like(dy)  # wrong, and no business of the probes


def bn(**flags):
    return lambda w, b, rm, rv, eps, m: SimpleBN(w, b, rm, rv, eps, m, **flags)


def observed(found: dict, name: str) -> tuple[str, str]:
    return found[name]["status"], found[name]["observed"]


def test_the_reference_is_torchs_on_every_stateful_point():
    found = probes(batchnorm1d=batchnorm1d, batchnorm2d=batchnorm2d, dropout=dropout)
    assert all(found[p]["status"] == "torch's" for p in POINTS), {p: found[p] for p in POINTS}


@pytest.mark.parametrize("factory", ["batchnorm1d", "batchnorm2d"])
def test_the_m_running_form_with_torchs_momentum_is_named_alone(factory):
    # The cs231n/Keras form handed torch's momentum untranslated; its variance is torch's.
    found = probes(**{factory: bn(m_running=True)})
    status, said = observed(found, "BatchNorm momentum form")
    assert status == "differs" and "cs231n/Keras" in said, said
    assert found["BatchNorm running variance"]["status"] == "torch's"
    assert found["BatchNorm running variance start"]["status"] == "torch's"


def test_the_m_running_form_translated_by_the_adapter_is_torchs():
    found = probes(
        batchnorm1d=lambda w, b, rm, rv, eps, m: SimpleBN(w, b, rm, rv, eps, 1 - m, True)
    )
    assert observed(found, "BatchNorm momentum form")[0] == "torch's"


def test_a_biased_running_variance_is_named_whatever_the_form_and_start():
    for flags in ({}, {"m_running": True}, {"zeros": True}):
        found = probes(batchnorm1d=bn(biased=True, **flags))
        status, said = observed(found, "BatchNorm running variance")
        assert status == "differs" and "biased batch variance" in said, (flags, said)
    found = probes(batchnorm1d=bn(biased=True))
    assert found["BatchNorm momentum form"]["status"] == "torch's"
    assert found["BatchNorm running variance start"]["status"] == "torch's"


def test_a_zero_start_is_named_and_leaves_the_form_and_variance_torchs():
    found = probes(batchnorm1d=bn(zeros=True))
    status, said = observed(found, "BatchNorm running variance start")
    assert status == "differs" and said.startswith("zeros"), said
    assert found["BatchNorm momentum form"]["status"] == "torch's"
    assert found["BatchNorm running variance"]["status"] == "torch's"


def test_a_batchnorm_without_eval_leaves_its_start_not_observed():
    def no_eval(*args):
        layer = SimpleBN(*args)
        return SimpleNamespace(forward=layer.forward, backward=layer.backward)

    status, said = observed(probes(batchnorm2d=no_eval), "BatchNorm running variance start")
    assert status == "not observed" and "eval()" in said, said


class SimpleDropout:
    """A from-scratch Dropout with the known variants as flags: keep (p is the keep
    probability, inverted by 1/p), test_time (unscaled in training, eval scales by 1 - p)."""

    def __init__(self, p, keep=False, test_time=False):
        self.p, self.keep, self.test_time, self.training = p, keep, test_time, True
        self.rng = np.random.default_rng(0)

    def eval(self):
        self.training = False

    def forward(self, x):
        if not self.training:
            return x * (1 - self.p) if self.test_time else x.copy()
        u = self.rng.random(x.shape)
        kept, scale = (u < self.p, 1 / self.p) if self.keep else (u >= self.p, 1 / (1 - self.p))
        self.mask = kept * (1.0 if self.test_time else scale)
        return (x * self.mask).astype(x.dtype)

    def backward(self, dy):
        return (dy * self.mask).astype(dy.dtype)


def test_a_keep_probability_dropout_is_named_and_its_scaling_is_still_inverted():
    found = probes(dropout=lambda p: SimpleDropout(p, keep=True))
    status, said = observed(found, "Dropout p meaning")
    assert status == "differs" and "KEEPING" in said, said
    assert abs(float(re.search(r"dropped ([0-9.]+)%", said)[1]) - 80) < 1, said
    assert observed(found, "Dropout scaling")[0] == "torch's"


def test_test_time_scaling_is_named_and_its_p_is_still_torchs():
    found = probes(dropout=lambda p: SimpleDropout(p, test_time=True))
    status, said = observed(found, "Dropout scaling")
    assert status == "differs" and "scaled at test time" in said, said
    assert observed(found, "Dropout p meaning")[0] == "torch's"


def test_without_the_pieces_the_stateful_points_are_not_observed():
    found = probes(relu=lambda: None)
    for point in POINTS:
        status, said = observed(found, point)
        piece = "dropout" if point.startswith("Dropout") else "batchnorm2d"
        assert status == "not observed" and f"has no {piece}()" in said, said
