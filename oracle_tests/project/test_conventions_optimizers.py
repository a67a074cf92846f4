"""The SGD and RMSprop probes fit a family of variants to a few observed steps: torch's
optimizer (the reference's, or one written another way) is torch's, each mistake is named
in words, and one that cannot run is "not observed". Small in-memory optimizers, built
from the probes' own NumPy variants and the reference.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import Adapter, Implementation
from oracle_tests.conventions.optimizers import rmsprop_variant, sgd_variant
from reference.adapter import rmsprop, sgd

from .test_conventions import probes, status


class Family:
    """An optimizer stepping a variant of the family: `run(params, grads_seq, *hyper)`
    replayed on every step from the start (fine for a handful of steps)."""

    def __init__(self, run, params, *hyper):
        self.run, self.params, self.hyper = run, params, hyper
        self.start = [p.astype(np.float64).copy() for p in params]
        self.seen: list = []

    def step(self, grads):
        self.seen.append([np.array(g, dtype=np.float64) for g in grads])
        last = self.run(self.start, self.seen, *self.hyper)[-1]
        for p, new in zip(self.params, last, strict=True):
            p[...] = new


def sgd_of(form="torch", decay="torch"):
    return lambda params, *hyper: Family(sgd_variant(form, decay), params, *hyper)


class VelocityTimesLR:
    """Momentum written v = mu v - lr g; p += v: torch's for a constant lr."""

    def __init__(self, params, lr, momentum, dampening, weight_decay, nesterov):
        if dampening or nesterov:
            raise NotImplementedError("plain momentum only")
        self.params, self.lr, self.mu, self.wd = params, lr, momentum, weight_decay
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, g, v in zip(self.params, grads, self.v, strict=True):
            v *= self.mu
            v -= self.lr * (g + self.wd * p)
            p += v


class PlainOnly:
    """Plain SGD: raises NotImplementedError for momentum."""

    def __init__(self, params, lr, momentum, dampening, weight_decay, nesterov):
        if momentum or dampening or nesterov:
            raise NotImplementedError("no momentum")
        self.params, self.lr, self.wd = params, lr, weight_decay

    def step(self, grads):
        for p, g in zip(self.params, grads, strict=True):
            p -= self.lr * (g + 2 * self.wd * p)  # 2 lambda p


# --- SGD ----------------------------------------------------------------------------------
def test_torchs_sgd_and_the_reference_are_torchs():
    for factory in (sgd, sgd_of()):
        found = probes(sgd=factory)
        assert status(found, "momentum form") == "torch's", found["momentum form"]
        assert status(found, "weight-decay coupling") == "torch's", found["weight-decay coupling"]


def test_the_velocity_times_lr_form_is_torchs():
    found = probes(sgd=VelocityTimesLR)
    assert status(found, "momentum form") == "torch's", found["momentum form"]
    assert status(found, "weight-decay coupling") == "torch's"


def test_the_averaging_form_is_named():
    found = probes(sgd=sgd_of("averaging"))
    assert status(found, "momentum form") == "differs"
    assert "averaging form" in found["momentum form"]["observed"], found["momentum form"]
    assert "step 1 moved p by" in found["momentum form"]["observed"]
    # The coupling is fitted whatever the momentum form: torch's here.
    assert status(found, "weight-decay coupling") == "torch's", found["weight-decay coupling"]


@pytest.mark.parametrize(
    "decay, said",
    [
        ("decay-after-momentum", "after the momentum"),
        ("decay-doubled", "2 lambda p"),
        ("decoupled-decay", "not scaled by the learning rate"),
    ],
)
def test_each_weight_decay_coupling_is_named(decay, said):
    found = probes(sgd=sgd_of("averaging", decay))
    assert status(found, "weight-decay coupling") == "differs"
    assert said in found["weight-decay coupling"]["observed"], found["weight-decay coupling"]
    assert "averaging form" in found["momentum form"]["observed"]


def test_a_plain_sgd_is_judged_on_its_decay_and_its_momentum_is_not_observed():
    found = probes(sgd=PlainOnly)
    assert status(found, "momentum form") == "not observed"
    assert status(found, "weight-decay coupling") == "differs"
    assert "no momentum" in found["weight-decay coupling"]["observed"]


def test_a_correct_sgd_that_writes_into_its_gradients_is_still_torchs():
    class Scribbler:
        def __init__(self, *args):
            self.inner = sgd(*args)

        def step(self, grads):
            self.inner.step(grads)
            for g in grads:
                g[...] = 0

    found = probes(sgd=Scribbler)
    assert status(found, "momentum form") == "torch's", found["momentum form"]
    assert status(found, "weight-decay coupling") == "torch's"


def test_sgd_that_never_moves_is_not_observed():
    class Frozen:
        def __init__(self, *args):
            pass

        def step(self, grads):
            pass

    assert status(probes(sgd=Frozen), "momentum form") == "not observed"


# --- RMSprop ------------------------------------------------------------------------------
def rmsprop_of(*mistakes):
    run = rmsprop_variant(frozenset(mistakes))
    return lambda params, *hyper: Family(run, params, *hyper)


def test_torchs_rmsprop_and_the_reference_are_torchs():
    for factory in (rmsprop, rmsprop_of()):
        found = probes(rmsprop=factory)
        assert status(found, "RMSprop variant") == "torch's", found["RMSprop variant"]


@pytest.mark.parametrize(
    "mistakes, said",
    [
        (("eps-inside-sqrt",), ["inside the square root"]),
        (("alpha-0.9",), ["0.9 whatever alpha"]),
        (("momentum-ignored",), ["momentum given is ignored"]),
        (("eps-inside-sqrt", "alpha-0.9"), ["inside the square root", "0.9 whatever alpha"]),
    ],
)
def test_each_rmsprop_variant_is_named(mistakes, said):
    found = probes(rmsprop=rmsprop_of(*mistakes))
    assert status(found, "RMSprop variant") == "differs"
    for words in said:
        assert words in found["RMSprop variant"]["observed"], found["RMSprop variant"]


def test_an_rmsprop_without_momentum_is_judged_on_the_rest():
    def no_momentum(params, lr, alpha, eps, weight_decay, momentum):
        if momentum:
            raise NotImplementedError("no momentum")
        return rmsprop(params, lr, alpha, eps, weight_decay, momentum)

    found = probes(rmsprop=no_momentum)
    assert status(found, "RMSprop variant") == "torch's", found["RMSprop variant"]
    assert "not provided" in found["RMSprop variant"]["observed"]


# --- The diagnosis: a taped optimizer no single known bug explains is fitted -------------
def signatures_of(recording, factory: str, make, hyper: tuple) -> tuple[list, list]:
    """(known bugs named, signature ids) after 4 taped steps of `make` through the contract."""
    impl = Implementation(
        Adapter(SimpleNamespace(**{factory: make}), "fit", "fit", "fit", ("float64",), True)
    )
    rng = np.random.default_rng(5)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    opt = getattr(impl, factory)(params, *hyper)
    for _ in range(4):
        opt.step([rng.standard_normal(p.shape) for p in params])
    found = diagnosis.diagnose(recording)
    return found["diagnosed"], [s["id"] for lay in found["layers"] for s in lay["signatures"]]


def test_two_sgd_mistakes_at_once_are_fitted_each(recording):
    bugs, sigs = signatures_of(
        recording, "sgd", sgd_of("averaging", "decay-doubled"), (0.1, 0.9, 0.0, 0.01, False)
    )
    assert bugs == [], bugs  # no single known bug is both
    assert "signature:sgd:averaging" in sigs and "signature:sgd:decay-doubled" in sigs, sigs


def test_two_rmsprop_mistakes_at_once_are_fitted_each(recording):
    make = rmsprop_of("alpha-0.9", "momentum-ignored")
    bugs, sigs = signatures_of(recording, "rmsprop", make, (0.01, 0.99, 1e-8, 0.0, 0.9))
    assert bugs == [], bugs
    assert "signature:rmsprop:alpha-0.9" in sigs, sigs
    assert "signature:rmsprop:momentum-ignored" in sigs, sigs


def test_a_correct_sgd_is_fitted_as_nothing(recording):
    assert signatures_of(recording, "sgd", sgd, (0.1, 0.9, 0.5, 0.01, False)) == ([], [])
