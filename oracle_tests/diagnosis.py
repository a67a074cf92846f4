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
import sys

import numpy as np

from .contract import OPTIMIZERS
from .known_bugs import core
from .known_bugs.catalogue import CATALOGUE, Mutant
from .tape import Recorded, Tape, copied
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


def replay(rec: Recorded, adapter) -> list:
    """The outputs of `adapter` on the calls of one recorded object, in order."""
    args = copied(rec.args)
    try:
        obj = getattr(adapter, rec.factory)(*args)
    except Exception as err:
        return [Raised(type(err).__name__)] * len(rec.calls)
    outs = []
    for call in rec.calls:
        try:
            if call.method == "grads":
                out = {k: v for k, v in obj.grads.items() if k in call.out}
            elif call.method in ("running_mean", "running_var"):
                out = getattr(obj, call.method)
            else:
                out = getattr(obj, call.method)(*copied(call.args))
            if rec.factory in OPTIMIZERS:
                out = args[0]  # the parameters it updates in place
            outs.append(copied(out))
        except Exception as err:
            outs.append(Raised(type(err).__name__))
    return outs


def dtype_of(rec: Recorded) -> np.dtype:
    """The float dtype an object computes in: of its first float array argument."""
    for value in (*rec.args, *(a for c in rec.calls for a in c.args)):
        for a in value if isinstance(value, list) else [value]:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                return a.dtype
    return np.dtype(np.float64)


def agrees(ours, theirs, dtype: np.dtype) -> bool:
    """Whether two outputs of one call agree, to MATCH[dtype] (see tolerances.py)."""
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
    try:
        o, t = np.asarray(ours), np.asarray(theirs)
        if o.shape != t.shape:
            return False
        if o.dtype.kind not in "fc" or t.dtype.kind not in "fc":
            return bool(np.array_equal(o, t))
        o, t = o.astype(np.float64), t.astype(np.float64)
    except (TypeError, ValueError):
        return False
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
            not agrees(Raised(c.raised) if c.raised else c.out, t, dtype)
            for c, t in zip(rec.calls, theirs, strict=True)
        ]
    return out


def explains(m: Mutant, objects: list[Recorded], adapter) -> bool:
    """Whether the reference with bug `m` planted reproduces every call of `objects`."""
    try:
        applied = core.apply(m, package=COPY)
    except core.MutantApplyError:
        return False
    try:
        return not any(any(d) for d in _divergences(objects, adapter).values())
    finally:
        applied.undo()


# --- The diagnosis ----------------------------------------------------------------------
def diagnose(tape: Tape) -> dict | None:
    """The diagnosis of a failing check from its tape; None if the tape is empty.

    {"diagnosed": [ids], "layers": [{"layer", "first_divergence", "matches"}], "text"}:
    one entry per layer that differs from the reference, in the order they first differ.
    """
    recorded = [rec for rec in tape.objects if rec.calls]
    if not recorded:
        return None
    adapter = pristine()
    diverged = _divergences(recorded, adapter)
    first: dict[str, tuple[int, Recorded, int]] = {}  # factory -> (time, object, call)
    for time, (i, j) in enumerate(tape.order):
        rec = tape.objects[i]
        if diverged[i][j] and rec.factory not in first:
            first[rec.factory] = (time, rec, j)
    n = len(tape.order)
    if not first:
        text = (
            f"diagnosis: no known bug matches: each of the adapter's {n} calls agrees with "
            "the reference given the same inputs, to rounding; the difference is one of "
            "precision, or it builds up over many calls (or, when the reference itself is "
            "checked, it lies in the reference's own files, which this replay also runs on)"
        )
        return {"diagnosed": [], "layers": [], "text": text + _cut(tape)}
    layers = []
    for factory, (time, rec, j) in sorted(first.items(), key=lambda kv: kv[1][0]):
        objects = [r for r in recorded if r.factory == factory]
        matches = [m.name for m in candidates(factory) if explains(m, objects, adapter)]
        call = rec.calls[j]
        layers.append(
            {
                "layer": LAYER_OF[factory],
                "first_divergence": f"{LAYER_OF[factory]} {DIRECTION[call.method]} "
                f"({rec.call}.{call.method}, call {time + 1} of {n})",
                "matches": matches,
            }
        )
    diagnosed = [name for layer in layers for name in layer["matches"]]
    return {"diagnosed": diagnosed, "layers": layers, "text": _text(layers) + _cut(tape)}


def _cut(tape: Tape) -> str:
    return " (the tape was cut short: only its first calls were replayed)" if tape.truncated else ""


def _text(layers: list[dict]) -> str:
    parts = []
    for layer in layers:
        where = f"{layer['first_divergence']} is the first call to differ from torch"
        if not layer["matches"]:
            parts.append(f"{where}; no known bug matches")
            continue
        said = "; or ".join(f"`{m}`: {CATALOGUE[m].diagnosis}" for m in layer["matches"])
        parts.append(f"{where}; it matches {said}")
    return "diagnosis: " + "\n  ".join(parts)


# --- Conventions ------------------------------------------------------------------------
# Where from-scratch code commonly departs from torch: what torch does, the catalogued
# alternatives and how to say them, and the checks that observe the convention.
CONVENTIONS = {
    "tie rule": {
        "torch": "the first maximum of a window (row-major) takes the gradient",
        "alternatives": {
            "pool_ties_to_every_max": "every tied maximum takes the whole gradient",
            "pool_ties_to_last_max": "the last tied maximum takes the gradient",
            "pool_ties_split_evenly": "the tied maxima split the gradient evenly",
        },
        "checks": (
            "checks/test_maxpool2d.py::test_maxpool2d_ties_route_to_first_max",
            "checks/test_maxpool2d.py::test_maxpool2d_tied_windows_route_to_the_first_max",
        ),
    },
    "ReLU'(0)": {
        "torch": "0",
        "alternatives": {"relu_gradient_at_zero_is_one": "1"},
        "checks": ("checks/test_relu.py::test_relu_gradient_at_exact_zero_is_zero",),
    },
    "kernel orientation": {
        "torch": "cross-correlation with weights (C_out, C_in, kH, kW)",
        "alternatives": {
            "conv_flipped_kernel": "true convolution (the kernel flipped)",
            "conv_kernel_transposed": "the kernel read as (kW, kH)",
            "conv_weight_read_as_in_out": "weights read as (C_in, C_out, kH, kW)",
            "conv_weight_channels_last": "weights read channels-last, (C_out, kH, kW, C_in)",
        },
        "checks": (
            "checks/test_conv2d.py::test_conv2d_is_cross_correlation_not_convolution",
            "checks/test_conv2d.py::test_conv2d_matches_torch_for_any_shape_stride_and_padding",
        ),
    },
    "loss reduction": {
        "torch": "the mean over the batch, loss and gradient",
        "alternatives": {
            "loss_summed_not_averaged": "the sum over the batch",
            "loss_gradient_not_divided_by_batch": "a mean loss with the gradient of the sum",
        },
        "checks": (
            "checks/test_loss.py::test_cross_entropy_gradient_is_divided_by_the_batch_size",
            "checks/test_loss.py::test_cross_entropy_loss_and_dlogits_match_torch",
        ),
    },
    "Adam variant": {
        "torch": "torch.optim.Adam: bias-corrected moments, eps added outside the sqrt",
        "alternatives": {
            "adam_no_bias_correction": "no bias correction",
            "adam_eps_inside_sqrt": "eps inside the square root",
            "adam_tf_epsilon_hat": "TensorFlow's epsilon-hat",
            "adam_step_count_starts_at_zero": "the step count starting at 0",
            "adam_l2_weight_decay": "L2 weight decay added to the gradient",
        },
        "checks": ("checks/test_adam.py::test_adam_matches_torch_at_every_step",),
    },
}


def conventions(checks: list[dict]) -> dict:
    """convention -> {"observed", "torch", "checks"}: "torch's" or the alternative seen."""
    named = {m for c in checks if c.get("diagnosis") for m in c["diagnosis"]["diagnosed"]}
    out = {}
    for name, conv in CONVENTIONS.items():
        seen = [c for c in checks if c["id"].startswith(conv["checks"])]
        alternatives = [text for m, text in conv["alternatives"].items() if m in named]
        statuses = {c["status"] for c in seen}
        if alternatives:
            observed = "; ".join(alternatives)
        elif seen and statuses <= {"passed"}:
            observed = "torch's"
        elif statuses <= {"not provided"}:
            observed = "not observed (its checks did not run)"
        else:
            observed = "not torch's, and no known variant matches"
        out[name] = {"observed": observed, "torch": conv["torch"], "checks": len(seen)}
    return out
