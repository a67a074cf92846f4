"""The convention probes judge their point alone: a correct piece that fails an unrelated
check is still "torch's", a variant is named in words, and a piece that cannot run is
"not observed", never guessed. Small in-memory adapters, built from the reference's
pieces with one thing changed.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from oracle_tests.contract import Adapter, Implementation
from oracle_tests.conventions import observe
from reference.adapter import adam, conv2d, cross_entropy, maxpool2d, relu


def probes(**factories) -> dict:
    """The conventions observed on an adapter with just these factories."""
    obj = SimpleNamespace(**factories)
    adapter = Adapter(obj, "probe", "probe", "probe", ("float64", "float32"), True)
    return observe(Implementation(adapter))


def status(found: dict, name: str) -> str:
    return found[name]["status"]


class Wrap:
    """A layer whose forward/backward pass through `f(y)` / `g(dx)` after the reference's."""

    def __init__(self, layer, f=lambda y: y, g=lambda dx: dx):
        self.layer, self.f, self.g = layer, f, g

    def forward(self, x):
        return self.f(self.layer.forward(x))

    def backward(self, dy):
        return self.g(self.layer.backward(dy))

    @property
    def grads(self):
        return self.layer.grads


# --- Kernel orientation -------------------------------------------------------------------
def test_a_correct_conv_with_an_empty_dx_is_still_cross_correlation():
    def empty_dx_conv(w, b, s, p):
        return Wrap(conv2d(w, b, s, p), g=lambda dx: dx[:, :, p:-p, p:-p])  # [P:-P], P = 0

    found = probes(conv2d=empty_dx_conv)
    assert status(found, "kernel orientation") == "torch's", found["kernel orientation"]


def test_a_correct_conv_that_upcasts_or_crashes_at_stride_two_is_still_cross_correlation():
    def upcasting(w, b, s, p):
        if s != 1:
            raise IndexError("only stride 1 works here")
        return Wrap(conv2d(w, b, s, p), f=lambda y: y.astype(np.float64))

    found = probes(conv2d=upcasting)
    assert status(found, "kernel orientation") == "torch's"


def test_a_flipped_kernel_is_named_true_convolution():
    def flipped(w, b, s, p):
        return conv2d(np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, s, p)

    found = probes(conv2d=flipped)
    assert status(found, "kernel orientation") == "differs"
    assert "true convolution" in found["kernel orientation"]["observed"]


def test_a_conv_that_needs_a_bias_is_judged_with_a_zero_bias():
    def needs_bias(w, b, s, p):
        if b is None:
            raise TypeError("bias required")
        return conv2d(w, b, s, p)

    assert status(probes(conv2d=needs_bias), "kernel orientation") == "torch's"


# --- Tie rule and NaN propagation ---------------------------------------------------------
class MaskPool:
    """2x2/stride-2 max pooling by an `x == max` mask (every tied maximum gets dy)."""

    def forward(self, x):
        self.x = x
        w = x.reshape(*x.shape[:2], x.shape[2] // 2, 2, x.shape[3] // 2, 2)
        self.y = w.max(axis=(3, 5))
        return self.y

    def backward(self, dy):
        up = np.repeat(np.repeat(self.y, 2, axis=2), 2, axis=3)
        g = np.repeat(np.repeat(dy, 2, axis=2), 2, axis=3)
        return np.where(self.x == up, g, 0).astype(dy.dtype)


def test_a_first_max_pool_that_raises_on_nan_and_upcasts_still_follows_torchs_tie_rule():
    def fussy(k, s):
        def forward(x):
            if np.isnan(x).any():
                raise ValueError("NaN in the input")
            return layer.forward(x).astype(np.float64)

        layer = maxpool2d(k, s)
        return SimpleNamespace(forward=forward, backward=layer.backward)

    found = probes(maxpool2d=fussy, relu=relu)
    assert status(found, "tie rule") == "torch's", found["tie rule"]
    assert status(found, "NaN propagation") == "differs"
    assert "MaxPool2d fails on NaN" in found["NaN propagation"]["observed"]


def test_an_x_equals_max_mask_is_named_with_what_it_does():
    found = probes(maxpool2d=lambda k, s: MaskPool())
    assert status(found, "tie rule") == "differs"
    assert "every tied maximum" in found["tie rule"]["observed"]
    assert "2, 3 and 4 tied maxima" in found["tie rule"]["observed"]


def test_a_pool_that_raises_on_every_call_is_not_observed():
    def broken(k, s):
        raise RuntimeError("not written yet")

    found = probes(maxpool2d=broken)
    assert status(found, "tie rule") == "not observed"
    assert status(found, "NaN propagation") == "not observed"
    assert "raised RuntimeError" in found["tie rule"]["observed"]


class WhereReLU:
    """ReLU as np.where(x > 0, x, 0) with a `x > 0` gradient mask: NaN becomes 0."""

    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0).astype(x.dtype)

    def backward(self, dy):
        return (dy * (self.x > 0)).astype(dy.dtype)


def test_a_where_relu_differs_on_nan_both_ways_and_keeps_relu_prime_zero():
    found = probes(relu=WhereReLU)
    assert status(found, "ReLU'(0)") == "torch's"
    nan = found["NaN propagation"]
    assert nan["status"] == "differs"
    assert "ReLU turns NaN into 0 (forward)" in nan["observed"]
    assert "ReLU's backward at NaN gives 0" in nan["observed"]


def test_a_correct_relu_that_returns_float64_is_torchs_at_zero():
    found = probes(relu=lambda: Wrap(relu(), f=lambda y: y.astype(np.float64)))
    assert status(found, "ReLU'(0)") == "torch's"


def test_relu_prime_at_zero_is_stated_as_a_number():
    found = probes(relu=lambda: Wrap(relu(), g=lambda dx: np.where(dx == 0, 0, dx)))
    assert status(found, "ReLU'(0)") == "torch's"

    class OneAtZero(WhereReLU):
        def backward(self, dy):
            return (dy * (self.x >= 0)).astype(dy.dtype)

    found = probes(relu=OneAtZero)
    assert found["ReLU'(0)"]["observed"] == "ReLU'(0) = 1"


# --- Loss reduction -----------------------------------------------------------------------
class NoMaxLoss:
    """Mean softmax cross-entropy without the max subtracted: overflows at 1e4, right
    elsewhere; `scale` multiplies the loss and the gradient (N: a summed loss)."""

    def __init__(self, scale=lambda N: 1.0):
        self.scale = scale

    def forward(self, z, y):
        e = np.exp(z)
        self.p, self.y = e / e.sum(axis=1, keepdims=True), y
        return float(-np.log(self.p[np.arange(len(y)), y]).mean() * self.scale(len(y)))

    def backward(self):
        g = self.p.copy()
        g[np.arange(len(self.y)), self.y] -= 1
        return (g / len(self.y) * self.scale(len(self.y))).astype(self.p.dtype)


def test_a_mean_loss_that_overflows_at_1e4_still_averages_like_torch():
    assert status(probes(cross_entropy=NoMaxLoss), "loss reduction") == "torch's"


def test_a_summed_loss_is_named():
    found = probes(cross_entropy=lambda: NoMaxLoss(scale=lambda N: N))
    assert found["loss reduction"]["observed"] == "the sum over the batch, loss and gradient"


# --- Adam variant -------------------------------------------------------------------------
class CustomAdam:
    """Adam with a chosen bias correction: "torch", "none" or "no step" (t fixed at 1)."""

    def __init__(self, params, lr, betas, eps, correction="torch"):
        self.params, self.lr, (self.b1, self.b2), self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t, self.correction = 0, correction

    def step(self, grads):
        self.t += 1
        t = 1 if self.correction == "no step" else self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m[...] = self.b1 * m + (1 - self.b1) * g
            v[...] = self.b2 * v + (1 - self.b2) * g * g
            if self.correction == "none":
                p -= self.lr * m / (np.sqrt(v) + self.eps)
            else:
                mhat, vhat = m / (1 - self.b1**t), v / (1 - self.b2**t)
                p -= self.lr * mhat / (np.sqrt(vhat) + self.eps)


@pytest.mark.parametrize(
    ("correction", "said"),
    [("none", "no bias correction"), ("no step", "bias correction without the step count")],
)
def test_an_adam_variant_is_fitted_and_named(correction, said):
    found = probes(adam=lambda *a: CustomAdam(*a, correction=correction))
    assert found["Adam variant"]["status"] == "differs"
    assert said in found["Adam variant"]["observed"], found["Adam variant"]


def test_a_correct_adam_and_the_reference_are_torchs():
    assert status(probes(adam=lambda *a: CustomAdam(*a)), "Adam variant") == "torch's"
    assert status(probes(adam=adam), "Adam variant") == "torch's"


def test_a_correct_adam_that_scribbles_on_its_gradients_is_still_torchs():
    class Scribbler(CustomAdam):
        def step(self, grads):
            super().step(grads)
            for g in grads:
                g *= 0  # fails the checks' "wrote into gradient", not the algorithm

    assert status(probes(adam=Scribbler), "Adam variant") == "torch's"


def test_every_probe_says_which_probe_decided_it_and_nothing_without_the_piece():
    found = probes(cross_entropy=cross_entropy)
    assert all(entry["probe"] for entry in found.values())
    missing = {k for k, v in found.items() if v["status"] == "not observed"}
    assert "kernel orientation" in missing and "Adam variant" in missing
    assert "the adapter has no conv2d()" in found["kernel orientation"]["observed"]
