"""Name the bug: when a check fails, which layer diverges first, and which known mistake
of the known-bug library (oracle_tests/known_bugs/) the implementation makes.

The plugin runs a failing check once more with the tape on (tape.py). `diagnose()`
replays every call on the tape on the reference, with the very inputs the adapter was
given: the adapter's own activations going forward and its own upstream gradients going
back, so each layer is judged only on what it did with its input. The reference agrees
with torch to ~1e-10 in float64 (the verification report), so it stands in for torch
here. The first call whose output differs localises the failure (which layer, forward
or backward). Then, for each layer that differs, every catalogued bug of that layer is
planted in turn and the replay repeated: a bug whose outputs match the adapter's on
every call of that layer, where the correct reference's do not, is named.

The replay runs on a private copy of the reference package (import name COPY), so the
diagnosis never touches the `reference` the user imported, even when that reference
has a mutant planted in it (as in the diagnosis matrix).
"""

import functools
import importlib
import importlib.util
import itertools
import sys
from dataclasses import dataclass

import numpy as np

from . import signatures
from .contract import OPTIMIZERS
from .known_bugs import core
from .known_bugs.catalogue import CATALOGUE, Mutant
from .tape import Call, Recorded, Tape, copied
from .tolerances import MATCH

COPY = "cnn_oracle_pristine_reference"
# The reference module a catalogued bug patches -> the adapter factory it shows up in.
FACTORY_OF = {
    "layers.conv": "conv2d",
    "layers.activation": "relu",
    "layers.pool": "maxpool2d",
    "layers.flatten": "flatten",
    "layers.linear": "linear",
    "loss": "cross_entropy",
    "optim": "adam",
}
# The adapter factory -> the layer name of the report (report.LAYERS).
LAYER_OF = {
    "conv2d": "Conv2d",
    "relu": "ReLU",
    "maxpool2d": "MaxPool2d",
    "flatten": "Flatten",
    "linear": "Linear",
    "cross_entropy": "CrossEntropy",
    "adam": "Adam",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "softmax": "Softmax",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "leaky_relu": "LeakyReLU",
    "mse_loss": "MSELoss",
    "bce_loss": "BCELoss",
    "cross_entropy_from_probabilities": "CEOnProbs",
    "batchnorm2d": "BatchNorm2d",
    "batchnorm1d": "BatchNorm1d",
    "dropout": "Dropout",
    "avgpool2d": "AvgPool2d",
}
DIRECTION = {
    "forward": "forward",
    "backward": "backward",
    "grads": "backward",
    "step": "step",
    "eval": "eval",
    "train": "train",
    "running_mean": "running statistics",
    "running_var": "running statistics",
}


def factory_of(m: Mutant) -> str | None:
    """The adapter factory a catalogued bug shows up in (None: not an adapter piece)."""
    return m.factory or FACTORY_OF.get(m.component)


@functools.cache
def pristine():
    """The reference's adapter, imported from a private copy of the reference package."""
    if COPY not in sys.modules:
        found = importlib.util.find_spec(core.PACKAGE)
        spec = importlib.util.spec_from_file_location(
            COPY, found.origin, submodule_search_locations=found.submodule_search_locations
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules[COPY] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{COPY}.adapter")


def candidates(factory: str) -> list[Mutant]:
    """The catalogued bugs that can be named in `factory`'s layer, in catalogue order."""
    return [
        m for m in CATALOGUE.values() if m.diagnosis and not m.survives and factory_of(m) == factory
    ]


# --- Replay ---------------------------------------------------------------------------
class Raised:
    """The output of a call that raised."""

    def __init__(self, name: str):
        self.name = name


@dataclass
class Outcome:
    """What one call gave: its output (or Raised) and the arguments it wrote into."""

    out: object
    wrote: tuple = ()


def _call(obj, call):
    """Make one recorded call on `obj`: (output, indices of the arguments it wrote into)."""
    if call.method == "grads":
        return {k: v for k, v in obj.grads.items() if k in call.out}, ()
    if call.method in ("running_mean", "running_var"):
        return getattr(obj, call.method), ()
    if call.method in MODE_SWITCHES:
        getattr(obj, call.method)()
        return None, ()  # what eval()/train() return (None, self) is no part of the contract
    args, before = copied(call.args), copied(call.args)
    out = getattr(obj, call.method)(*args)
    wrote = tuple(
        i
        for i, (a, b) in enumerate(zip(args, before, strict=True))
        if isinstance(a, np.ndarray) and not np.array_equal(a, b, equal_nan=True)
    )
    return out, wrote


def replay(rec: Recorded, adapter) -> list[Outcome]:
    """What `adapter` gives on the calls of one recorded object, in order."""
    args = copied(rec.args)
    try:
        obj = getattr(adapter, rec.factory)(*args)
    except Exception as err:
        return [Outcome(Raised(type(err).__name__))] * len(rec.calls)
    outs = []
    for call in rec.calls:
        try:
            with np.errstate(all="ignore"):
                out, wrote = _call(obj, call)
            if rec.factory in OPTIMIZERS:
                out = args[0]  # the parameters it updates in place
            outs.append(Outcome(copied(out), wrote))
        except Exception as err:
            outs.append(Outcome(Raised(type(err).__name__)))
    return outs


def recorded(call) -> Outcome:
    """What the adapter gave on a recorded call."""
    out = None if call.method in MODE_SWITCHES else call.out
    return Outcome(Raised(call.raised) if call.raised else out, call.wrote)


MODE_SWITCHES = ("eval", "train")


def dtype_of(rec: Recorded) -> np.dtype:
    """The float dtype an object computes in: of its first float array argument."""
    for value in (*rec.args, *(a for c in rec.calls for a in c.args)):
        for a in value if isinstance(value, list) else [value]:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                return a.dtype
    return np.dtype(np.float64)


def _as_arrays(ours, theirs):
    """(o, t) as arrays, or None where they are not comparable as arrays."""
    try:
        return np.asarray(ours), np.asarray(theirs)
    except (TypeError, ValueError):
        return None


def agrees(ours, theirs, dtype: np.dtype) -> bool:
    """Whether two outputs of one call agree, to MATCH[dtype] (see tolerances.py): the
    same structure, shapes, dtypes, NaN and inf, and values within the tolerance."""
    if isinstance(ours, Outcome) or isinstance(theirs, Outcome):
        return ours.wrote == theirs.wrote and agrees(ours.out, theirs.out, dtype)
    if isinstance(ours, Raised) or isinstance(theirs, Raised):
        return isinstance(ours, Raised) and isinstance(theirs, Raised)
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if isinstance(ours, dict):
        return (
            isinstance(theirs, dict)
            and ours.keys() == theirs.keys()
            and all(agrees(ours[k], theirs[k], dtype) for k in ours)
        )
    if isinstance(ours, list | tuple):
        return (
            isinstance(theirs, list | tuple)
            and len(ours) == len(theirs)
            and all(agrees(o, t, dtype) for o, t in zip(ours, theirs, strict=True))
        )
    pair = _as_arrays(ours, theirs)
    if pair is None:
        return False
    o, t = pair
    if o.shape != t.shape:
        return False
    if o.dtype.kind not in "fc" or t.dtype.kind not in "fc":
        return bool(np.array_equal(o, t))
    # A NumPy array of another float dtype differs (a Python float is a loss's value).
    if isinstance(ours, np.ndarray) and isinstance(theirs, np.ndarray) and o.dtype != t.dtype:
        return False
    return _close(o.astype(np.float64), t.astype(np.float64), dtype)


def _close(o: np.ndarray, t: np.ndarray, dtype) -> bool:
    if not np.array_equal(np.isnan(o), np.isnan(t)):
        return False
    both = ~np.isnan(o)
    o, t = o[both], t[both]
    if not np.array_equal(np.isinf(o), np.isinf(t)) or (o[np.isinf(o)] != t[np.isinf(t)]).any():
        return False
    finite = np.isfinite(t)
    o, t = o[finite], t[finite]
    if not t.size:
        return True
    tol = MATCH[np.dtype(dtype)]
    bound = tol["rtol"] * np.abs(t) + tol["scale"] * np.abs(t).max() + tol["atol"]
    return bool((np.abs(o - t) <= bound).all())


def _divergences(objects: list[Recorded], adapter) -> dict[int, list[bool]]:
    """object index -> for each of its calls, whether the adapter differs from `adapter`."""
    out = {}
    for rec in objects:
        theirs, dtype = replay(rec, adapter), dtype_of(rec)
        out[rec.index] = [
            not agrees(recorded(c), t, dtype) for c, t in zip(rec.calls, theirs, strict=True)
        ]
    return out


def explains(bugs: tuple[Mutant, ...], objects: list[Recorded], adapter) -> bool:
    """Whether the reference with `bugs` planted reproduces every call of `objects`."""
    applied = []
    try:
        for m in bugs:
            applied.append(core.apply(m, package=COPY))
        return not any(any(d) for d in _divergences(objects, adapter).values())
    except core.MutantApplyError:
        return False
    finally:
        for a in reversed(applied):
            a.undo()


# At most this many pairs of a layer's known bugs are tried when no single one explains
# its calls (each try replays that layer's calls once).
MAX_PAIRS = 120


def _matching(factory: str, objects: list[Recorded], adapter) -> list[str]:
    """The known bugs (or pairs of them, "a + b") that reproduce every call of `objects`."""
    bugs = candidates(factory)
    single = [m.name for m in bugs if explains((m,), objects, adapter)]
    if len(single) > 1:
        single = _told_apart(single, objects, adapter)
    if single:
        return single
    pairs = list(itertools.combinations(bugs, 2))[:MAX_PAIRS]
    found = [f"{a.name} + {b.name}" for a, b in pairs if explains((a, b), objects, adapter)]
    return _told_apart(found, objects, adapter) if len(found) > 1 else found


# Factories whose objects can be probed again on fresh random arrays of the same shapes
# (not the optimizers, whose steps build on each other, nor the stateful layers).
PROBED = (
    "conv2d", "linear", "maxpool2d", "avgpool2d", "relu", "flatten", "cross_entropy",
    "softmax", "sigmoid", "tanh", "leaky_relu", "mse_loss", "bce_loss",
    "cross_entropy_from_probabilities",
)  # fmt: skip


def _probe(rec: Recorded) -> Recorded | None:
    """rec's calls made again on the adapter's own layer (its factory, kept on the tape),
    with fresh random arrays of the same shapes and dtypes in place of every float array,
    the weights included: evidence where the check's own inputs (a one-hot kernel, a
    minimal example) let several known bugs fit alike."""
    from types import SimpleNamespace

    from .contract import _time_limit

    if rec.maker is None or rec.factory not in PROBED:
        return None
    rng = np.random.default_rng(20261204)

    def fresh(a):
        """Uniform over the range of `a`'s finite values (probabilities stay in [0, 1],
        a one-hot kernel becomes a dense one), standard normal if it has no range."""
        if not (isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size):
            return a
        finite = a[np.isfinite(a)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        if low < high:
            return rng.uniform(low, high, a.shape).astype(a.dtype)
        return rng.standard_normal(a.shape).astype(a.dtype)

    probe = Recorded(rec.factory, tuple(fresh(a) for a in rec.args), rec.call, rec.index)
    probe.calls = [Call(c.method, tuple(fresh(a) for a in c.args), c.out) for c in rec.calls]
    try:
        with _time_limit(f"the diagnosis's probe of {rec.call}"):
            outs = replay(probe, SimpleNamespace(**{rec.factory: rec.maker}))
    except Exception:
        return None
    probe.calls = [
        Call(
            c.method,
            c.args,
            None if isinstance(o.out, Raised) else o.out,
            o.out.name if isinstance(o.out, Raised) else None,
            o.wrote,
        )
        for c, o in zip(probe.calls, outs, strict=True)
    ]
    return probe


def _told_apart(names: list[str], objects: list[Recorded], adapter) -> list[str]:
    """Of several known bugs (or pairs) that each reproduce the check's calls, those that also
    reproduce the same calls on fresh random arrays (all of them, if none does)."""
    probes = [p for p in (_probe(r) for r in objects) if p is not None]
    if not probes:
        return names
    kept = [
        n for n in names if explains(tuple(CATALOGUE[m] for m in n.split(" + ")), probes, adapter)
    ]
    return kept or names


# --- The diagnosis ----------------------------------------------------------------------
def diagnose(tape: Tape) -> dict | None:
    """The diagnosis of a failing check from its tape; None if the tape is empty.

    {"diagnosed": [ids], "layers": [{"layer", "first_divergence", "matches",
    "signatures"}], "text"}: one entry per layer that differs from the reference, in
    the order they first differ. A match is a known-bug id, or two joined by " + ";
    where none matches, `signatures` describe how the outputs differ (signatures.py).
    """
    recorded_objects = [rec for rec in tape.objects if rec.calls]
    if not recorded_objects:
        return None
    adapter = pristine()
    diverged = _divergences(recorded_objects, adapter)
    first: dict[str, tuple[int, Recorded, int]] = {}  # factory -> (time, object, call)
    for time, (i, j) in enumerate(tape.order):
        rec = tape.objects[i]
        if diverged[i][j] and rec.factory not in first:
            first[rec.factory] = (time, rec, j)
    n = len(tape.order)
    if not first:
        text = (
            f"diagnosis: each of the adapter's {n} calls agrees with the reference given the "
            "same inputs, in shape, dtype and value to rounding: the check's difference "
            "builds up over many calls, or is one of precision"
        )
        return {"diagnosed": [], "layers": [], "text": text + _cut(tape)}
    layers = []
    for factory, (time, rec, j) in sorted(first.items(), key=lambda kv: kv[1][0]):
        objects = [r for r in recorded_objects if r.factory == factory]
        matches = _matching(factory, objects, adapter)
        found = [] if matches else signatures.describe(factory, objects, adapter, diverged)
        call = rec.calls[j]
        layers.append(
            {
                "layer": LAYER_OF[factory],
                "first_divergence": f"{LAYER_OF[factory]} {DIRECTION[call.method]} "
                f"({rec.call}.{call.method}, call {time + 1} of {n})",
                "matches": matches,
                "signatures": found,
            }
        )
    diagnosed = [name for layer in layers for m in layer["matches"] for name in m.split(" + ")]
    return {"diagnosed": diagnosed, "layers": layers, "text": _text(layers) + _cut(tape)}


def _cut(tape: Tape) -> str:
    return " (the tape was cut short: only its first calls were replayed)" if tape.truncated else ""


def sentence(match: str) -> str:
    """What a match says: its known bugs' diagnosis sentences."""
    return " And ".join(f"`{m}`: {CATALOGUE[m].diagnosis}" for m in match.split(" + "))


def _text(layers: list[dict]) -> str:
    parts = []
    for layer in layers:
        where = f"{layer['first_divergence']} is the first call to differ from torch"
        if layer["matches"]:
            said = "; or ".join(sentence(m) for m in layer["matches"])
            parts.append(f"{where}; it matches {said}")
        elif layer["signatures"]:
            said = "; ".join(s["text"] for s in layer["signatures"])
            parts.append(f"{where}; no known bug matches; how it differs: {said}")
        else:
            parts.append(f"{where}; no known bug matches")
    return "diagnosis: " + "\n  ".join(parts)
