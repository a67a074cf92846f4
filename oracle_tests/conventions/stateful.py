"""Probes for the layers with state: BatchNorm's running statistics, Dropout's p and scaling.

BatchNorm's running statistics are fitted against the family of updates that
from-scratch code uses (variants.py: the two momentum forms, a biased or unbiased
running variance, a start from the arrays handed in or from zeros). Each probe decides
its own point on inputs built for it: the form from the running MEAN alone (no variance
involved), the variance from the running variance with the form and start left free,
the start from eval-mode outputs before any training step.

Dropout is random: the probes read the mask from the output (inputs away from zero, so
an output zero is a dropped element) and never ask for the implementation's numbers.
"""

import math

import numpy as np

from . import convention, differs, not_observed, probe_dtype, torchs
from .variants import (
    FORMS,
    KEY_TORCH,
    VARIANCES,
    away_from_zero,
    batch_moments,
    describe_member,
    fitting_members,
    hoeffding_margin,
    running_family,
)


def _rtol(dtype) -> float:
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


def _observe_running(impl, factory: str, batches, rm0, rv0, momentum, eps=1e-5) -> list:
    """Training forwards through a fresh layer; (running_mean, running_var) after each."""
    dtype = batches[0].dtype
    C = batches[0].shape[1]
    w, b = np.ones(C, dtype), np.zeros(C, dtype)
    layer = getattr(impl, factory)(w, b, rm0.copy(), rv0.copy(), eps, momentum)
    out = []
    for x in batches:
        layer.forward(x)
        out.append((layer.running_mean, layer.running_var))
    return out


def _probe_batches(rng, dtype, N: int, C: int = 3, count: int = 3) -> list:
    """(N, C) batches whose channel means and spreads change from batch to batch."""
    return [
        (rng.standard_normal((N, C)) * rng.uniform(0.5, 3, C) + rng.uniform(-4, 4, C)).astype(dtype)
        for _ in range(count)
    ]


def _batchnorm_factory(impl) -> str:
    """batchnorm1d where the adapter has it (the probes' (N, C) inputs), else batchnorm2d."""
    return (
        "batchnorm1d"
        if callable(getattr(impl.adapter.obj, "batchnorm1d", None))
        else ("batchnorm2d")
    )


def _batches_for(factory: str, batches: list) -> list:
    return batches if factory == "batchnorm1d" else [x[:, :, None, None] for x in batches]


MOMENTUM = 0.1  # torch's default: the two forms give the batch a weight of 0.1 or 0.9


@convention(
    "BatchNorm momentum form",
    torch=f"{FORMS['torch']}, m = momentum (0.1 by default)",
    probe="the running mean over 3 training forwards, momentum 0.1, starting from a "
    "running mean handed in far from the batches' means, fitted against both forms",
)
def batchnorm_momentum_form(impl):
    dtype, factory = probe_dtype(impl), _batchnorm_factory(impl)
    rng = np.random.default_rng(21)
    batches = _batches_for(factory, _probe_batches(rng, dtype, N=8))
    rm0, rv0 = np.array([6.0, -5.0, 9.0], dtype), np.ones(3, dtype)
    seen = _observe_running(impl, factory, batches, rm0, rv0, MOMENTUM)
    keys = fitting_members(seen, batches, rm0, rv0, MOMENTUM, slice(0, 1), _rtol(dtype))
    forms = {k[0] for k in keys}
    first = float(np.asarray(seen[0][0], dtype=np.float64)[0])
    if forms == {"torch"}:
        start = "" if keys[0][2] == "given" else "; the running mean starts at zeros"
        return torchs(f"{FORMS['torch']} with m = {MOMENTUM}{start}")
    if forms == {"m-running"}:
        batch = float(batch_moments(batches[0])[0][0])
        return differs(
            f"{FORMS['m-running']}: with momentum {MOMENTUM}, the first forward moved the "
            f"running mean from {float(rm0[0]):g} to {first:.6g} (batch mean {batch:.6g}); "
            f"torch's gives {(1 - MOMENTUM) * float(rm0[0]) + MOMENTUM * batch:.6g}"
        )
    return differs(
        f"neither form fits the running mean: after the first forward it is {first:.6g} "
        f"where torch's is "
        f"{float(running_family(batches, rm0, rv0, MOMENTUM)[KEY_TORCH][0][0][0]):.6g}"
    )


@convention(
    "BatchNorm running variance",
    torch="the unbiased batch variance (/ (n - 1)) enters the running variance; the "
    "batch is normalised with the biased one",
    probe="the running variance over 3 training forwards of 4 values per channel "
    "(n / (n - 1) = 4/3), momentum 0.1, fitted with the form and start left free",
)
def batchnorm_running_variance(impl):
    dtype, factory = probe_dtype(impl), _batchnorm_factory(impl)
    rng = np.random.default_rng(22)
    batches = _batches_for(factory, _probe_batches(rng, dtype, N=4))
    rm0, rv0 = np.zeros(3, dtype), np.full(3, 2.5, dtype)
    seen = _observe_running(impl, factory, batches, rm0, rv0, MOMENTUM)
    keys = fitting_members(seen, batches, rm0, rv0, MOMENTUM, slice(1, 2), _rtol(dtype))
    kinds = {k[1] for k in keys}
    if kinds == {"unbiased"}:
        return torchs(VARIANCES["unbiased"])
    if kinds == {"biased"}:
        key = keys[0]
        rest = describe_member((key[0], "unbiased", key[2], key[3]))
        rest = "" if rest == "torch's update" else f" (and {rest})"
        return differs(
            f"{VARIANCES['biased']}: with n = 4 values per channel, each batch enters the "
            f"running variance at 3/4 of torch's, which takes n / (n - 1) = 4/3 times the "
            f"biased variance{rest}"
        )
    got = float(np.asarray(seen[0][1], dtype=np.float64)[0])
    want = float(running_family(batches, rm0, rv0, MOMENTUM)[KEY_TORCH][0][1][0])
    return differs(
        f"no member of the family (either form, biased or unbiased, any start) fits the "
        f"running variance: after the first forward it is {got:.6g} where torch's is "
        f"{want:.6g}"
    )


@convention(
    "BatchNorm running variance start",
    torch="ones (and the running mean zeros), or the arrays handed in",
    probe="eval-mode outputs before any training step, of a layer handed torch's "
    "defaults (running mean 0, running variance 1), weight 1 and bias 0: y = x / "
    "sqrt(v + eps) reads the running variance v it starts from",
)
def batchnorm_running_variance_start(impl):
    dtype, factory = probe_dtype(impl), _batchnorm_factory(impl)
    rng = np.random.default_rng(23)
    x = _batches_for(factory, _probe_batches(rng, dtype, N=6, count=1))[0]
    C, eps = x.shape[1], 1e-5
    layer = getattr(impl, factory)(
        np.ones(C, dtype), np.zeros(C, dtype), np.zeros(C, dtype), np.ones(C, dtype), eps, 0.1
    )
    layer.eval()
    y = layer.forward(x).astype(np.float64)
    x64 = x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (x64 / y) ** 2 - eps  # the running variance each output implies
    axes = tuple(i for i in range(x.ndim) if i != 1)
    spread = np.nanmax(np.abs(v - np.nanmedian(v, axis=axes, keepdims=True)))
    if not np.isfinite(v).all() or spread > 1e-3 * max(1.0, np.nanmax(np.abs(v))):
        return not_observed(
            "the eval-mode output before any training step is not x / sqrt(v + eps) for "
            "one running variance v per channel (does eval() normalise with the running "
            "statistics?)"
        )
    start = np.median(np.moveaxis(v, 1, 0).reshape(C, -1), axis=1)  # (C,)
    if np.allclose(start, 1.0, rtol=1e-3, atol=0):
        return torchs("ones: eval mode before any training step gives x / sqrt(1 + eps)")
    if np.allclose(start, 0.0, atol=1e-3):
        return differs(
            "zeros (as cs231n's running_var = np.zeros(D)), not the ones it was handed: "
            f"before any training step, eval mode gives x / sqrt(eps) = "
            f"{1 / math.sqrt(eps):.0f} x"
        )
    return differs(f"a running variance of {', '.join(f'{s:.4g}' for s in start)}, not 1")


# --- Dropout ------------------------------------------------------------------------
P_PROBE = 0.2
N_PROBE = 2**17


@convention(
    "Dropout p meaning",
    torch="p is the probability of dropping an element",
    probe=f"the share of zeros in a training forward with p = {P_PROBE} on {N_PROBE} "
    "elements drawn away from zero, against a binomial bound",
)
def dropout_p_meaning(impl):
    dtype = probe_dtype(impl)
    x = away_from_zero(np.random.default_rng(24), (N_PROBE // 256, 256), dtype)
    y = impl.dropout(P_PROBE, dtype).forward(x)
    share, margin = float(np.mean(y == 0)), hoeffding_margin(N_PROBE)
    said = f"with p = {P_PROBE} it dropped {share:.2%} of {N_PROBE} elements"
    if abs(share - P_PROBE) <= margin:
        return torchs(f"the probability of dropping: {said}")
    if abs(share - (1 - P_PROBE)) <= margin:
        return differs(f"the probability of KEEPING (cs231n's convention): {said}")
    return differs(f"neither the drop nor the keep probability: {said}")


@convention(
    "Dropout scaling",
    torch="inverted: kept elements scaled by 1/(1 - p) at train time, eval mode the identity",
    probe=f"the ratio y / x of the kept elements in a training forward, p = {P_PROBE}, and "
    "the eval-mode output of a fresh layer",
)
def dropout_scaling(impl):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(25)
    x = away_from_zero(rng, (64, 64), dtype)
    y = impl.dropout(P_PROBE, dtype).forward(x).astype(np.float64)
    kept = y != 0
    if not kept.any():
        return not_observed(f"the training forward with p = {P_PROBE} dropped every element")
    ratio = y[kept] / x.astype(np.float64)[kept]
    r = float(np.median(ratio))
    if not np.allclose(ratio, r, rtol=1e-4):
        return differs("the kept elements are not scaled by one common factor at train time")
    layer = impl.dropout(P_PROBE, dtype)
    layer.eval()
    e = layer.forward(x).astype(np.float64) / x.astype(np.float64)
    test_scale = float(np.median(e))
    if not np.allclose(e, test_scale, rtol=1e-4):
        return differs("eval mode does not scale the input by one common factor")
    said = f"kept values scaled by {r:.6g} at train time, eval mode scales by {test_scale:.6g}"
    if np.isclose(test_scale, 1.0, rtol=1e-5) and not np.isclose(r, 1.0, rtol=1e-5):
        if np.isclose(r, 1 / (1 - P_PROBE), rtol=1e-5):
            return torchs(f"inverted: {said}")
        return torchs(
            f"inverted, by another factor than 1/(1 - p) = {1 / (1 - P_PROBE):.6g}: {said}"
        )
    if np.isclose(r, 1.0, rtol=1e-5) and not np.isclose(test_scale, 1.0, rtol=1e-5):
        return differs(f"scaled at test time (the original, non-inverted dropout): {said}")
    return differs(f"neither inverted nor test-time scaling: {said}")
