"""Families of known variants, and measurements, shared by the stateful layers' checks
(checks/test_batchnorm*.py, test_dropout.py) and their convention probes (stateful.py).

No probe lives here, so importing this module registers nothing.

BatchNorm's running statistics: `running_family` computes every member of the family of
updates that from-scratch code uses:
- the form: torch's `(1 - m) * running + m * batch`, or the cs231n/Keras
  `m * running + (1 - m) * batch` with m the momentum handed in (an adapter that
  translates m = 1 - momentum turns the second into the first);
- the batch variance in the running variance: unbiased (torch's, / (n - 1)) or biased;
- where the running statistics start: the arrays handed in, or zeros (a layer that
  builds its own `np.zeros(C)` and ignores them), or torch's defaults.

Dropout: a binomial bound for the share of dropped elements, and inputs away from zero
(so that an output zero can only be a dropped element).
"""

import itertools
import math

import numpy as np

KEY_TORCH = ("torch", "unbiased", "given", "given")  # torch's member of the family

FORMS = {
    "torch": "running = (1 - m) * running + m * batch",
    "m-running": "running = m * running + (1 - m) * batch with m the momentum handed in "
    "(the cs231n/Keras form; an adapter translates it with m = 1 - momentum)",
}
VARIANCES = {
    "unbiased": "the unbiased batch variance (/ (n - 1))",
    "biased": "the biased batch variance (/ n)",
}
STARTS = {
    "given": "the running statistics handed in",
    "zeros": "zeros (ignoring the array handed in)",
    "defaults": "torch's defaults, zeros and ones (ignoring the arrays handed in)",
}


def batch_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-channel mean, biased variance (float64) and count of (N, C) or (N, C, H, W)."""
    x = x.astype(np.float64)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    n = x.size // x.shape[1]
    return x.mean(axis=axes), x.var(axis=axes), n


def running_family(
    batches: list, start_mean: np.ndarray, start_var: np.ndarray, momentum: float
) -> dict[tuple, list]:
    """(form, variance, mean start, var start) -> the (running_mean, running_var) after
    each batch, in float64, for every member of the family."""
    moments = [batch_moments(x) for x in batches]
    C = len(start_mean)
    starts = {
        "given": (start_mean.astype(np.float64), start_var.astype(np.float64)),
        "zeros": (np.zeros(C), np.zeros(C)),
        "defaults": (np.zeros(C), np.ones(C)),
    }
    out = {}
    for form, variance, mean0, var0 in itertools.product(FORMS, VARIANCES, STARTS, STARTS):
        if mean0 == "defaults":  # the mean's default is zeros: the same member as "zeros"
            continue
        rm, rv = starts[mean0][0], starts[var0][1]
        a = momentum if form == "torch" else 1 - momentum  # the weight of the batch
        history = []
        for mean, var, n in moments:
            v = var * n / (n - 1) if variance == "unbiased" else var
            rm, rv = (1 - a) * rm + a * mean, (1 - a) * rv + a * v
            history.append((rm, rv))
        out[form, variance, mean0, var0] = history
    return out


def fits(observed: list, predicted: list, which: slice, rtol: float) -> bool:
    """Whether observed [(running_mean, running_var), ...] match predicted on `which`
    (slice(0, 1): the mean only; slice(1, 2): the variance only; slice(0, 2): both)."""
    for seen, want in zip(observed, predicted, strict=True):
        for o, t in zip(seen[which], want[which], strict=True):
            o = np.asarray(o, dtype=np.float64)
            if not np.allclose(o, t, rtol=rtol, atol=rtol * max(1.0, np.abs(t).max())):
                return False
    return True


def fitting_members(observed, batches, start_mean, start_var, momentum, which, rtol):
    """The members of running_family that match the observed statistics."""
    family = running_family(batches, start_mean, start_var, momentum)
    return [key for key, history in family.items() if fits(observed, history, which, rtol)]


def describe_member(key: tuple) -> str:
    """A member of the family in words, naming only where it departs from torch."""
    form, variance, mean0, var0 = key
    said = []
    if form != "torch":
        said.append(FORMS[form])
    if variance != "unbiased":
        said.append(f"the running variance takes {VARIANCES[variance]}")
    if mean0 != "given":
        said.append(f"the running mean starts at {STARTS[mean0]}")
    if var0 != "given":
        start = "ones (ignoring the array handed in)" if var0 == "defaults" else STARTS[var0]
        said.append(f"the running variance starts at {start}")
    return "; ".join(said) or "torch's update"


# --- Dropout ---------------------------------------------------------------------
def hoeffding_margin(n: int, failure: float = 1e-6) -> float:
    """Half-width of the two-sided Hoeffding bound for a share of n Bernoulli draws:
    P(|share - p| >= margin) <= 2 exp(-2 n margin^2) = failure, for any p."""
    return math.sqrt(math.log(2 / failure) / (2 * n))


def away_from_zero(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    """N(0, 1) pushed at least 0.5 from 0: an output zero can only be a dropped element."""
    x = rng.standard_normal(shape)
    return (x + np.copysign(0.5, x)).astype(dtype)
