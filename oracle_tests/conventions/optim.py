"""Probe for Adam: which member of the family of Adam variants fits the observed steps.

The adapter's Adam takes five steps on two parameters whose gradients span 1e-9 to 10,
so that every variant parts from torch's somewhere: eps dominates near 1e-8, the bias
correction matters from step 2, a per-parameter step count shows on the second
parameter. Each candidate is computed here in float64 and compared step by step;
`fit()` is shared with the other optimizers' probes.
"""

from collections.abc import Callable

import numpy as np

from . import FAMILIES, convention, differs, not_observed, probe_dtype, torchs

STEPS = 5
LR, BETAS, EPS = 0.05, (0.9, 0.999), 1e-8
L2 = 0.01  # the coefficient of an L2 decay mixed in by default (as the catalogue's)


def gradients(rng: np.random.Generator, steps: int = STEPS) -> list[list[np.ndarray]]:
    """Per step, gradients for a (6,) and a (2, 3) parameter: magnitudes 1e-9 .. 10."""
    scale = np.array([1e-9, 1e-8, 3e-8, 1e-3, 1.0, 10.0])
    out = []
    for _ in range(steps):
        g = scale * (1.0 + 0.5 * rng.standard_normal(6)) * rng.choice([-1.0, 1.0], 6)
        out.append([g, g[::-1].reshape(2, 3) * 0.7])
    return out


def adam_variant(variant: str) -> Callable:
    """params, grads per step -> the parameters after each step, for one variant."""

    def run(params, grads_seq, lr=LR, betas=BETAS, eps=EPS):
        b1, b2 = betas
        p = [a.astype(np.float64).copy() for a in params]
        m = [np.zeros_like(a) for a in p]
        v = [np.zeros_like(a) for a in p]
        history = []
        for step, grads in enumerate(grads_seq, start=1):
            for i, g in enumerate(grads):
                g = g.astype(np.float64)
                t = {"t-from-0": step - 1, "correction-without-step": 1}.get(variant, step)
                if variant == "t-per-parameter":
                    t = (step - 1) * len(grads) + i + 1
                if variant in ("state-reset", "moments-reset"):
                    m[i], v[i] = np.zeros_like(g), np.zeros_like(g)
                    t = 1 if variant == "state-reset" else t
                if variant == "l2-decay":
                    g = g + L2 * p[i]
                c1, c2 = (b2, b1) if variant == "betas-swapped" else (b1, b2)
                m[i] = c1 * m[i] + (1 - c1) * g
                v[i] = c2 * v[i] + (1 - c2) * g * g
                with np.errstate(divide="ignore", invalid="ignore"):
                    mhat, vhat = m[i] / (1 - c1**t), v[i] / (1 - c2**t)
                    if variant == "no-bias-correction":
                        update = m[i] / (np.sqrt(v[i]) + eps)
                    elif variant == "eps-inside-sqrt":
                        update = mhat / np.sqrt(vhat + eps)
                    elif variant == "eps-hat":
                        update = np.sqrt(1 - c2**t) / (1 - c1**t) * m[i] / (np.sqrt(v[i]) + eps)
                    elif variant == "eps-1e-7":
                        update = mhat / (np.sqrt(vhat) + 1e-7)
                    else:
                        update = mhat / (np.sqrt(vhat) + eps)
                p[i] = p[i] - lr * update
            history.append([a.copy() for a in p])
        return history

    return run


ADAM_VARIANTS = {
    "torch": "torch.optim.Adam: bias-corrected moments, eps added outside the sqrt",
    "no-bias-correction": "no bias correction (step 1 is ~3.16x torch's)",
    "correction-without-step": "bias correction without the step count (1 - beta**1 at "
    "every step: right at step 1, wrong from step 2)",
    "t-from-0": "the step count starting at 0",
    "t-per-parameter": "the step count advanced once per parameter, not once per step",
    "state-reset": "the moments and the step count reset at every step (each step is a first step)",
    "moments-reset": "the moments reset at every step while the step count goes on",
    "eps-inside-sqrt": "eps inside the square root",
    "eps-hat": "TensorFlow's epsilon-hat (eps added before the bias correction)",
    "eps-1e-7": "eps 1e-7 whatever eps it is given",
    "betas-swapped": "beta1 and beta2 swapped",
    "l2-decay": f"L2 weight decay ({L2} * p) added to the gradient",
}


def first_difference(ours: list, theirs: list, rtol: float) -> int | None:
    """The first step (1-based) at which two trajectories differ, or None."""
    for step, (o, t) in enumerate(zip(ours, theirs, strict=True), start=1):
        for a, b in zip(o, t, strict=True):
            if not np.allclose(a, b, rtol=rtol, atol=rtol * 1e-3 * max(1.0, np.abs(b).max())):
                return step
    return None


def fit(observed: list, params, grads_seq, candidates: dict[str, Callable], rtol: float):
    """The names of the candidates whose trajectories match `observed` at every step."""
    return [
        name
        for name, run in candidates.items()
        if first_difference(observed, run(params, grads_seq), rtol) is None
    ]


def observe_steps(opt, params: list, grads_seq: list) -> list:
    """Step the adapter's optimizer; the parameters (float64 copies) after each step."""
    history = []
    for grads in grads_seq:
        opt.step([g.copy() for g in grads])  # its own copies: it may write into them
        history.append([p.astype(np.float64).copy() for p in params])
    return history


@convention(
    "Adam variant",
    torch=ADAM_VARIANTS["torch"],
    probe=f"{STEPS} Adam steps (lr {LR}, betas {BETAS}, eps {EPS:g}) on two parameters whose "
    "gradients span 1e-9 to 10, fitted against a family of Adam variants",
)
def adam_variant_fit(impl):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(13)
    params = [rng.standard_normal(6).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)]
    start = [p.copy() for p in params]
    grads_seq = [[g.astype(dtype) for g in grads] for grads in gradients(rng)]
    observed = observe_steps(impl.adam(params, LR, BETAS, EPS), params, grads_seq)
    if all(np.array_equal(o, s) for o, s in zip(observed[-1], start, strict=True)):
        return not_observed("the parameters never changed (does step() update them in place?)")
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    candidates = {name: adam_variant(name) for name in ADAM_VARIANTS}
    matches = fit(observed, start, grads_seq, candidates, rtol)
    if "torch" in matches:
        return torchs(ADAM_VARIANTS["torch"])
    if matches:
        return differs("; or ".join(ADAM_VARIANTS[m] for m in matches))
    step = first_difference(observed, adam_variant("torch")(start, grads_seq), rtol)
    return differs(f"no known Adam variant fits; it first differs from torch's at step {step}")


def fit_recorded_adam(rec) -> list[tuple[str, str]]:
    """The Adam variants (torch's excluded) that fit a taped adam's every step."""
    if not rec.calls or any(c.raised for c in rec.calls):
        return []
    params, lr, betas, eps = rec.args
    grads_seq = [c.args[0] for c in rec.calls if c.method == "step"]
    observed = [[np.asarray(p, dtype=np.float64) for p in c.out] for c in rec.calls]
    rtol = 1e-8 if params[0].dtype == np.float64 else 1e-4

    def with_hyper(run):
        return lambda p, g: run(p, g, lr=lr, betas=betas, eps=eps)

    candidates = {k: with_hyper(adam_variant(k)) for k in ADAM_VARIANTS if k != "torch"}
    found = fit(observed, params, grads_seq, candidates, rtol)
    return [(f"adam:{k}", f"its steps fit Adam with {ADAM_VARIANTS[k]}") for k in found]


FAMILIES["adam"] = fit_recorded_adam
