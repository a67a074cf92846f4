"""Probes for SGD and RMSprop: which member of a family of variants fits the observed steps.

Each family is torch's algorithm with any of the mistakes public from-scratch optimizers
make (issue #19), computed here in float64 and compared with the adapter's steps one by
one, as the Adam probe does (optim.py's `fit`). A variant is a set of mistakes, at most
one per point (the momentum form, the weight-decay coupling; for RMSprop the eps
placement, the alpha, the momentum), so that a momentum in the averaging form is still
named when the weight decay is wrong too. Where several sets fit (a weight-decay mistake
is invisible without weight decay), the smallest ones are named.

Not a variant: the form `v = mu v - lr g; p += v`, which is torch's `v = mu v + g;
p -= lr v` with v scaled by -lr, the same steps for a constant learning rate.
"""

from collections.abc import Callable
from itertools import product

import numpy as np
import pytest

from . import FAMILIES, convention, differs, not_observed, probe_dtype, torchs
from .optim import first_difference, gradients, observe_steps

STEPS = 5

# --- SGD ----------------------------------------------------------------------------------
SGD_FORMS = {
    "torch": "v = momentum v + (1 - dampening) g, v = g at the first step; p -= lr v",
    "averaging": "momentum in the averaging form v = beta v + (1 - beta) g (v from 0): "
    "torch's momentum with the learning rate scaled by 1 - beta",
    "first-step-dampened": "the momentum buffer started at 0, so that the first step is "
    "(1 - dampening) g where torch's buffer starts at g, undamped",
    "nesterov-ignored": "plain momentum when Nesterov is asked for (torch steps by g + momentum v)",
}
SGD_DECAYS = {
    "torch": "weight decay added to the gradient before the momentum, g + lambda p",
    "decay-after-momentum": "weight decay added after the momentum, p -= lr (v + lambda p) "
    "(the same as a decoupled p *= 1 - lr lambda)",
    "decay-doubled": "weight decay 2 lambda p (the gradient of lambda ||p||^2) where torch "
    "adds lambda p",
    "decoupled-decay": "decoupled weight decay p *= 1 - lambda, not scaled by the learning "
    "rate, where torch adds lambda p to the gradient",
}


def sgd_variant(form: str = "torch", decay: str = "torch") -> Callable:
    """params, grads per step, hyperparameters -> the parameters after each step."""

    def run(params, grads_seq, lr, momentum, dampening, weight_decay, nesterov):
        p = [a.astype(np.float64).copy() for a in params]
        bufs: list = [None] * len(p)
        history = []
        for grads in grads_seq:
            for i, g in enumerate(grads):
                g = np.asarray(g, dtype=np.float64)
                wd = weight_decay * p[i]
                if decay in ("torch", "decay-doubled"):
                    g = g + (2 * wd if decay == "decay-doubled" else wd)
                if momentum != 0:
                    buf = bufs[i]
                    if form == "averaging":
                        buf = (0 if buf is None else momentum * buf) + (1 - momentum) * g
                    elif form == "first-step-dampened":
                        buf = (0 if buf is None else momentum * buf) + (1 - dampening) * g
                    else:
                        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
                    bufs[i] = buf
                    g = g + momentum * buf if nesterov and form != "nesterov-ignored" else buf
                if decay == "decay-after-momentum":
                    g = g + wd
                if decay == "decoupled-decay":
                    p[i] = p[i] - wd
                p[i] = p[i] - lr * g
            history.append([a.copy() for a in p])
        return history

    return run


SGD_FAMILY = {(f, d): sgd_variant(f, d) for f, d in product(SGD_FORMS, SGD_DECAYS)}

# --- RMSprop ------------------------------------------------------------------------------
RMSPROP_POINTS = {
    "torch": "torch.optim.RMSprop (centered=False): v = alpha v + (1 - alpha) g^2; "
    "p -= lr g / (sqrt(v) + eps)",
    "eps-inside-sqrt": "eps inside the square root, g / sqrt(v + eps)",
    "alpha-0.9": "the square average decayed with 0.9 whatever alpha it is given",
    "momentum-ignored": "no momentum: the momentum given is ignored",
}
RMSPROP_MISTAKES = ("eps-inside-sqrt", "alpha-0.9", "momentum-ignored")


def rmsprop_variant(mistakes: frozenset = frozenset()) -> Callable:
    """params, grads per step, hyperparameters -> the parameters after each step."""

    def run(params, grads_seq, lr, alpha, eps, weight_decay, momentum):
        a = 0.9 if "alpha-0.9" in mistakes else alpha
        mu = 0.0 if "momentum-ignored" in mistakes else momentum
        p = [x.astype(np.float64).copy() for x in params]
        v = [np.zeros_like(x) for x in p]
        buf = [np.zeros_like(x) for x in p]
        history = []
        for grads in grads_seq:
            for i, g in enumerate(grads):
                g = np.asarray(g, dtype=np.float64) + weight_decay * p[i]
                v[i] = a * v[i] + (1 - a) * g * g
                if "eps-inside-sqrt" in mistakes:
                    avg = np.sqrt(v[i] + eps)
                else:
                    avg = np.sqrt(v[i]) + eps
                if mu > 0:
                    buf[i] = mu * buf[i] + g / avg
                    p[i] = p[i] - lr * buf[i]
                else:
                    p[i] = p[i] - lr * g / avg
            history.append([x.copy() for x in p])
        return history

    return run


RMSPROP_FAMILY = {
    frozenset(m for m, on in zip(RMSPROP_MISTAKES, flags, strict=True) if on): None
    for flags in product((False, True), repeat=len(RMSPROP_MISTAKES))
}
RMSPROP_FAMILY = {k: rmsprop_variant(k) for k in RMSPROP_FAMILY}


# --- Fitting ------------------------------------------------------------------------------
def _sgd_mistakes(key: tuple[str, str]) -> frozenset:
    return frozenset(k for k in key if k != "torch")


def fitted(observed, params, grads_seq, family: dict, hyper: tuple, rtol: float, name):
    """The smallest sets of mistakes whose trajectories match `observed` at every step
    ([frozenset()] when torch's fits; [] when nothing does). `name(key)` is the set."""
    matches = [
        name(key)
        for key, run in family.items()
        if first_difference(observed, run(params, grads_seq, *hyper), rtol) is None
    ]
    if not matches:
        return []
    least = min(len(m) for m in matches)
    return sorted({m for m in matches if len(m) == least}, key=sorted)


def _rtol(dtype) -> float:
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


def _setup(impl, seed: int):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(6).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)]
    grads_seq = [[g.astype(dtype) for g in grads] for grads in gradients(rng, STEPS)]
    return dtype, params, grads_seq


def _observe(make, params, grads_seq):
    """The adapter's steps from these params (copies), or None where it never moved."""
    start = [p.copy() for p in params]
    work = [p.copy() for p in params]
    observed = observe_steps(make(work), work, grads_seq)
    if all(np.array_equal(o, s) for o, s in zip(observed[-1], start, strict=True)):
        return None
    return observed


def _words(sets: list, texts: dict) -> str:
    return "; or ".join(", with ".join(texts[m] for m in sorted(s)) for s in sets)


def _step_one(observed, params, grads_seq, hyper, torch_run) -> str:
    """Step 1 of the first parameter's largest-gradient element, ours against torch's."""
    j = int(np.argmax(np.abs(grads_seq[0][0])))
    want = torch_run(params, grads_seq[:1], *hyper)[0][0][j]
    moved, should = observed[0][0][j] - params[0][j], want - params[0][j]
    return f"step 1 moved p by {float(moved):.6g} where torch's moves it by {float(should):.6g}"


# --- SGD probes ---------------------------------------------------------------------------
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 0.1


@convention(
    "momentum form",
    torch="v = momentum v + g (v = g at the first step); p -= lr v. The form "
    "v = mu v - lr g; p += v is the same for a constant lr",
    probe=f"{STEPS} SGD steps (lr {LR}, momentum {MOMENTUM}) on two parameters whose "
    "gradients span 1e-9 to 10, fitted against torch's momentum, the averaging form "
    "v = beta v + (1 - beta) g and a buffer started at 0",
)
def momentum_form(impl):
    dtype, params, grads_seq = _setup(impl, 17)
    hyper = (LR, MOMENTUM, 0.0, 0.0, False)
    observed = _observe(lambda ps: impl.sgd(ps, *hyper), params, grads_seq)
    if observed is None:
        return not_observed("the parameters never changed (does step() update them in place?)")
    family = {k: v for k, v in SGD_FAMILY.items() if k[1] == "torch"}
    sets = fitted(observed, params, grads_seq, family, hyper, _rtol(dtype), _sgd_mistakes)
    if sets and not sets[0]:
        return torchs(f"{SGD_FORMS['torch']} (momentum {MOMENTUM})")
    if sets:
        return differs(
            _words(sets, SGD_FORMS)
            + "; "
            + _step_one(observed, params, grads_seq, hyper, SGD_FAMILY["torch", "torch"])
        )
    step = first_difference(
        observed, SGD_FAMILY["torch", "torch"](params, grads_seq, *hyper), _rtol(dtype)
    )
    return differs(
        f"no known momentum form fits; it first differs from torch's at step {step}; "
        + _step_one(observed, params, grads_seq, hyper, SGD_FAMILY["torch", "torch"])
    )


@convention(
    "weight-decay coupling",
    torch=SGD_DECAYS["torch"],
    probe=f"{STEPS} SGD steps (lr {LR}, weight decay {WEIGHT_DECAY}, momentum {MOMENTUM}, "
    "or none where momentum is not provided) on gradients spanning 1e-9 to 10, fitted "
    "against the decay before or after the momentum, 2 lambda p and a decoupled decay, "
    "whatever the momentum form",
)
def weight_decay_coupling(impl):
    dtype, params, grads_seq = _setup(impl, 19)
    hyper = (LR, MOMENTUM, 0.0, WEIGHT_DECAY, False)
    try:
        observed = _observe(lambda ps: impl.sgd(ps, *hyper), params, grads_seq)
    except pytest.skip.Exception:  # no momentum: the coupling is still seen, less of it
        hyper = (LR, 0.0, 0.0, WEIGHT_DECAY, False)
        observed = _observe(lambda ps: impl.sgd(ps, *hyper), params, grads_seq)
    if observed is None:
        return not_observed("the parameters never changed (does step() update them in place?)")
    sets = fitted(observed, params, grads_seq, SGD_FAMILY, hyper, _rtol(dtype), _sgd_mistakes)
    decays = sorted({m for s in sets for m in s if m in SGD_DECAYS})
    how = f"weight decay {WEIGHT_DECAY}" + (", no momentum" if hyper[1] == 0 else "")
    if sets and not decays:
        return torchs(f"{SGD_DECAYS['torch']} ({how})")
    if decays:
        return differs("; or ".join(SGD_DECAYS[d] for d in decays) + f" ({how})")
    step = first_difference(
        observed, SGD_FAMILY["torch", "torch"](params, grads_seq, *hyper), _rtol(dtype)
    )
    return differs(
        f"no known weight-decay coupling fits ({how}); it first differs from torch's at step {step}"
    )


# --- RMSprop probe ------------------------------------------------------------------------
RMS_LR, ALPHA, EPS, RMS_MOMENTUM = 0.01, 0.99, 1e-8, 0.5


@convention(
    "RMSprop variant",
    torch=RMSPROP_POINTS["torch"],
    probe=f"{STEPS} RMSprop steps (lr {RMS_LR}, alpha {ALPHA}, eps {EPS:g}) on gradients "
    f"spanning 1e-9 to 10, then the same with momentum {RMS_MOMENTUM} where provided, "
    "fitted against eps inside the sqrt, alpha fixed at 0.9 and the momentum ignored",
)
def rmsprop_variant_fit(impl):
    dtype, params, grads_seq = _setup(impl, 23)
    said, found = [], set()
    for momentum in (0.0, RMS_MOMENTUM):
        hyper = (RMS_LR, ALPHA, EPS, 0.0, momentum)
        try:
            observed = _observe(lambda ps, h=hyper: impl.rmsprop(ps, *h), params, grads_seq)
        except pytest.skip.Exception:
            if momentum == 0:
                raise
            said.append(f"momentum {momentum} not provided")
            continue
        if observed is None:
            return not_observed("the parameters never changed (does step() update them?)")
        sets = fitted(observed, params, grads_seq, RMSPROP_FAMILY, hyper, _rtol(dtype), lambda k: k)
        if not sets:
            step = first_difference(
                observed, RMSPROP_FAMILY[frozenset()](params, grads_seq, *hyper), _rtol(dtype)
            )
            return differs(
                f"no known RMSprop variant fits (momentum {momentum:g}); it first "
                f"differs from torch's at step {step}"
            )
        found |= {m for s in sets for m in s}
    if not found:
        return torchs(RMSPROP_POINTS["torch"] + "".join(f" ({s})" for s in said))
    return differs("; ".join(RMSPROP_POINTS[m] for m in RMSPROP_MISTAKES if m in found))


# --- The diagnosis: fitting a taped optimizer ---------------------------------------------
def _taped(rec):
    """(params, grads per step, params after each step) of a taped optimizer, or None."""
    if not rec.calls or any(c.raised for c in rec.calls):
        return None
    steps = [c for c in rec.calls if c.method == "step"]
    if not steps:
        return None
    grads_seq = [c.args[0] for c in steps]
    observed = [[np.asarray(p, dtype=np.float64) for p in c.out] for c in steps]
    return rec.args[0], grads_seq, observed


def fit_recorded_sgd(rec) -> list[tuple[str, str]]:
    """The SGD mistakes whose variants fit a taped sgd's every step (none if torch's)."""
    taped = _taped(rec)
    if taped is None:
        return []
    params, grads_seq, observed = taped
    rtol = 1e-8 if params[0].dtype == np.float64 else 1e-4
    sets = fitted(observed, params, grads_seq, SGD_FAMILY, tuple(rec.args[1:]), rtol, _sgd_mistakes)
    texts = {**SGD_FORMS, **SGD_DECAYS}
    found = sorted({m for s in sets for m in s})
    return [(f"sgd:{m}", f"its steps fit SGD with {texts[m]}") for m in found]


def fit_recorded_rmsprop(rec) -> list[tuple[str, str]]:
    """The RMSprop mistakes whose variants fit a taped rmsprop's every step."""
    taped = _taped(rec)
    if taped is None:
        return []
    params, grads_seq, observed = taped
    rtol = 1e-8 if params[0].dtype == np.float64 else 1e-4
    sets = fitted(
        observed, params, grads_seq, RMSPROP_FAMILY, tuple(rec.args[1:]), rtol, lambda k: k
    )
    found = [m for m in RMSPROP_MISTAKES if any(m in s for s in sets)]
    return [(f"rmsprop:{m}", f"its steps fit RMSprop with {RMSPROP_POINTS[m]}") for m in found]


FAMILIES["sgd"] = fit_recorded_sgd
FAMILIES["rmsprop"] = fit_recorded_rmsprop
