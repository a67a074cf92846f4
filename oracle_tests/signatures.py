"""Signatures: how an implementation's outputs differ from the reference's, in words,
for a layer that no known bug (nor pair of them) explains.

`describe()` compares the adapter's recorded outputs with the reference's replay of the
same calls and names what it sees, without advice (a fix is given only for a known bug
that explains every call):
- a constant ratio, named when it is N, 1/N, N*C, 2 or 1/2;
- differences only at special inputs: NaN, inf, exact zeros, large magnitudes, tied
  pooling windows; or only for stride > 1, non-square inputs, 1x1 kernels (from the
  objects on the tape that agree and those that do not);
- a permutation of the right answer: flipped, transposed, channels-last;
- an empty output, another shape, the right values in the wrong dtype, writes into an
  argument, a raise;
- state across calls: results that accumulate, or that depend on the step;
- for optimizers, the member of a family of variants that fits the observed steps.
Each signature is {"id": "signature:...", "text": "..."}.
"""

import numpy as np

from .contract import output_shape
from .conventions import family_fits
from .tape import Call, Recorded, copied

# Elements are "the same" to this relative tolerance here: signatures describe
# differences far larger than rounding (a factor, a permutation, a zeroed element).
RTOL = 1e-4


def _same(o: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Elementwise: equal NaN-ness and inf, or close to RTOL, with an absolute slack of
    the output's scale times 100 ulps of the coarser dtype (a float32 sum that cancels to
    near 0 is rounding, not a difference)."""
    ulps = max(np.finfo(a.dtype).eps if a.dtype.kind == "f" else 0.0 for a in (o, t))
    o, t = o.astype(np.float64), t.astype(np.float64)
    scale = np.abs(t[np.isfinite(t)]).max(initial=0.0)
    with np.errstate(invalid="ignore"):
        close = np.abs(o - t) <= RTOL * np.abs(t) + max(1e-6 * RTOL, 100 * ulps) * scale
    return close | (np.isnan(o) & np.isnan(t)) | ((o == t) & np.isinf(t))


def _ratio_name(c: float, N: int, C: int | None) -> str | None:
    names = {"N": N, "1/N": 1 / N, "2": 2.0, "1/2": 0.5}
    if C:
        names["N*C"] = N * C
        names["1/(N*C)"] = 1 / (N * C)
    for name, value in names.items():
        if value != 1 and np.isclose(c, value, rtol=1e-3):
            return name
    return None


def _arrays(value) -> dict[str, np.ndarray]:
    """The arrays of an output: itself, a dict's values, or a list's items."""
    if isinstance(value, dict):
        return {f"[{k!r}]": np.asarray(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return {f"[{i}]": np.asarray(v) for i, v in enumerate(value)}
    try:
        return {"": np.asarray(value)}
    except (TypeError, ValueError):
        return {}


def _input_of(rec: Recorded, j: int) -> np.ndarray | None:
    """The layer input a call j works on: its own for forward, the last forward's else."""
    for call in reversed(rec.calls[: j + 1]):
        if call.method == "forward" and call.args and isinstance(call.args[0], np.ndarray):
            return call.args[0]
    return None


def _tied(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """Positions of x in a pooling window (s >= k) that holds more than one maximum."""
    out = np.zeros(x.shape, dtype=bool)
    if x.ndim != 4 or s < k:
        return out
    Ho, Wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    for i in range(Ho):
        for j in range(Wo):
            w = x[:, :, i * s : i * s + k, j * s : j * s + k]
            top = np.nanmax(w, axis=(2, 3), keepdims=True) if w.size else w
            tie = (w == top).sum(axis=(2, 3)) > 1  # (N, C)
            out[:, :, i * s : i * s + k, j * s : j * s + k] |= tie[:, :, None, None]
    return out


def _in_windows_with(hit: np.ndarray, k: int, s: int) -> np.ndarray:
    """Positions of x in a pooling window that holds any `hit` (e.g. a NaN)."""
    out = np.zeros(hit.shape, dtype=bool)
    if hit.ndim != 4:
        return out
    Ho, Wo = (hit.shape[2] - k) // s + 1, (hit.shape[3] - k) // s + 1
    for i in range(Ho):
        for j in range(Wo):
            w = hit[:, :, i * s : i * s + k, j * s : j * s + k].any(axis=(2, 3))  # (N, C)
            out[:, :, i * s : i * s + k, j * s : j * s + k] |= w[:, :, None, None]
    return out


def _special(rec: Recorded, j: int, shape: tuple) -> dict[str, np.ndarray]:
    """Masks of the special inputs of call j, where they line up with its output."""
    x = _input_of(rec, j)
    if x is None or x.shape != shape or x.dtype.kind != "f":
        return {}
    x = x.astype(np.float64)
    masks = {
        "nan": np.isnan(x),
        "inf": np.isinf(x),
        "zeros": x == 0,
        "large": np.isfinite(x) & (np.abs(x) > 50),
    }
    if rec.factory == "maxpool2d":
        k, st = rec.args[:2]
        masks["ties"] = _tied(x, k, st)
        # A pool's NaN or inf reaches its whole window (its max, its gradient's route).
        masks["nan"] = _in_windows_with(masks["nan"], k, st)
        masks["inf"] = _in_windows_with(masks["inf"], k, st)
    if rec.factory == "conv2d" and rec.args[3] > 0 and x.ndim == 4:
        # Within k - 1 - p ... of the edge: the pixels whose windows reach the padding.
        k, p = rec.args[0].shape[-1], rec.args[3]
        border = np.ones(x.shape, dtype=bool)
        reach = max(k - 1 - p, p)
        border[:, :, reach : -reach or None, reach : -reach or None] = False
        masks["padding"] = border
    return masks


def _permutations(rec: Recorded, j: int, t: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    if t.ndim >= 2:
        out["flipped"] = t[..., ::-1, ::-1]
        if t.shape[-1] == t.shape[-2]:
            out["transposed"] = t.swapaxes(-1, -2)
    x = _input_of(rec, j)
    if rec.factory == "flatten" and x is not None and x.ndim == 4:
        out["channels-last"] = x.transpose(0, 2, 3, 1).reshape(len(x), -1)
        out["(W, H, C) order"] = x.transpose(0, 3, 2, 1).reshape(len(x), -1)
    return out


SPECIAL_WORDS = {
    "nan": "NaN",
    "inf": "inf",
    "zeros": "exact zeros",
    "large": "large magnitudes (|x| > 50)",
    "ties": "tied pooling windows",
    "padding": "the border whose windows reach into the padding",
}


def _compare(rec: Recorded, j: int, ours, theirs) -> list[tuple[str, str]]:
    """Signatures of one differing call: [(id, text)]."""
    from .diagnosis import Raised

    call = rec.calls[j]
    where = f"{rec.call}.{call.method}"
    o_out, t_out = ours.out, theirs.out
    found = []
    if ours.wrote and not theirs.wrote:
        found.append(("writes-input", f"{where} writes into its argument {ours.wrote[0] + 1}"))
    if isinstance(o_out, Raised) or isinstance(t_out, Raised):
        if isinstance(o_out, Raised) and not isinstance(t_out, Raised):
            found.append(("raises", f"{where} raises {o_out.name} where torch's does not"))
        return found
    o_all, t_all = _arrays(o_out), _arrays(t_out)
    for key in o_all.keys() & t_all.keys():
        o, t = o_all[key], t_all[key]
        what = where + key
        if o.dtype.kind not in "fc" or t.dtype.kind not in "fc":
            continue
        if o.size == 0 and t.size:
            found.append(("empty-output", f"{what} is empty (shape {o.shape}; torch's {t.shape})"))
            continue
        if o.shape != t.shape:
            found.append(("wrong-shape", f"{what} has shape {o.shape}; torch's {t.shape}"))
            continue
        same = _same(o, t)
        if same.all():
            if o.dtype != t.dtype:
                found.append(
                    ("wrong-dtype", f"{what} has the right values in {o.dtype}, not {t.dtype}")
                )
            continue
        found += _shape_of_difference(rec, j, what, o, t, same)
    return found


def _shape_of_difference(rec, j, what, o, t, same) -> list[tuple[str, str]]:
    x = _input_of(rec, j)
    N = len(x) if x is not None and x.ndim else (len(t) if t.ndim else 1)
    C = t.shape[1] if t.ndim >= 2 else None
    diff = ~same
    # Differences confined to some special inputs, the rest agreeing, are told first: a
    # ratio or a permutation fitted around them would describe the wrong thing. An
    # input that is all special (all NaN, all large) is told last, if nothing else fits.
    confined, everywhere = [], []
    for name, mask in _special(rec, j, o.shape).items():
        if mask.any() and not (diff & ~mask).any():
            n = int(diff.sum())
            said = (f"only-at:{name}", f"{what} differs only at {SPECIAL_WORDS[name]} ({n})")
            (confined if (~mask).any() else everywhere).append(said)
    if confined:
        return confined[:1]
    # A ratio is fitted over every finite element (zeros too, which it must keep). One
    # nonzero element fits any ratio: there (a loss's value) only a named one (N, 1/N,
    # N*C, 2, 1/2) is told. A ratio near 0 is a zeroed output, not a factor.
    finite = np.isfinite(o) & np.isfinite(t)
    nonzero = int((finite & (t != 0)).sum())
    if nonzero >= 1:
        tf, of = t[finite].astype(np.float64), o[finite].astype(np.float64)
        c = float(np.sum(of * tf) / np.sum(tf * tf))
        scale = np.abs(tf).max()
        fits = np.allclose(of, c * tf, rtol=RTOL, atol=1e-6 * RTOL * abs(c) * scale)
        named = _ratio_name(c, N, C) is not None
        if fits and not np.isclose(c, 1.0) and abs(c) > 1e-3 and (nonzero >= 2 or named):
            name = _ratio_name(c, N, C)
            said = f"{what} is {name} times torch's" if name else f"{what} is x{c:.4g} torch's"
            return [(f"ratio:{name}" if name else "ratio", said)]
    for name, perm in _permutations(rec, j, t).items():
        if perm.shape == o.shape and _same(o, perm).all():
            return [(f"permuted:{name}", f"{what} is torch's result {name}")]
    return everywhere[:1]


# --- Across objects and calls -------------------------------------------------------------
def _attributes(rec: Recorded) -> set[str]:
    """What sets one conv or pool object apart: stride > 1, non-square input, 1x1 kernel."""
    out = set()
    if rec.factory == "conv2d":
        w, _, s, p = rec.args
        out |= {"stride"} if s > 1 else set()
        out |= {"padding"} if p > 0 else set()
        out |= {"1x1"} if w.shape[-1] == 1 else set()
    elif rec.factory in ("maxpool2d", "avgpool2d"):
        out |= {"stride"} if rec.args[1] != rec.args[0] else set()
    x = _input_of(rec, len(rec.calls) - 1)
    if x is not None and x.ndim == 4 and x.shape[2] != x.shape[3]:
        out.add("non-square")
    return out


ATTRIBUTE_WORDS = {
    "stride": "a stride other than 1 (or than the window)",
    "padding": "padding > 0",
    "1x1": "1x1 kernels",
    "non-square": "non-square inputs",
}


def _contrast(objects: list[Recorded], diverged: dict) -> list[tuple[str, str]]:
    """An attribute that every differing object has and every agreeing one lacks."""
    bad = [r for r in objects if any(diverged[r.index])]
    good = [r for r in objects if not any(diverged[r.index])]
    if not bad or not good:
        return []
    shared = set.intersection(*(_attributes(r) for r in bad))
    return [
        (f"only-at:{a}", f"it differs only with {ATTRIBUTE_WORDS[a]}")
        for a in sorted(shared)
        if not any(a in _attributes(r) for r in good)
    ]


COUNTERFACTUAL_OBJECTS = 4
COUNTERFACTUAL = {
    "channels": "agrees with torch on the same calls with one input channel (the first): it "
    "differs only when it sums over several input channels",
    "batch": "agrees with torch on the same calls on the first row of the batch alone: it "
    "differs only for batches of more than one",
    "stride": "agrees with torch on the same calls once its stride is 1 (the window, for a "
    "pool): it differs only with a stride other than that",
    "padding": "agrees with torch on the same calls once its padding is 0: it differs only "
    "with padding",
    "non-square": "agrees with torch on the same calls on a square crop of its input: it "
    "differs only on non-square inputs",
}


# Layers and losses whose every output row comes from its own input row: run on the
# first row alone, they show what a batch adds (BatchNorm and Dropout are left out).
ROW_WISE = (
    "conv2d", "maxpool2d", "avgpool2d", "linear", "relu", "flatten", "softmax", "sigmoid",
    "tanh", "leaky_relu", "cross_entropy", "mse_loss", "bce_loss",
    "cross_entropy_from_probabilities",
)  # fmt: skip


def _first_row(a):
    return np.ascontiguousarray(a[:1]) if isinstance(a, np.ndarray) and a.ndim else a


def _variants(rec: Recorded) -> list[tuple[str, tuple, object]]:
    """(attribute, factory arguments, transform of a forward argument): the same layer
    without one of its attributes (stride 1, padding 0, one input channel, a square crop
    of its input, a batch of one)."""
    out = []
    same = lambda x: x  # noqa: E731
    x = _input_of(rec, len(rec.calls) - 1)
    if rec.factory == "conv2d":
        w, b, s, p = rec.args
        out += [("stride", (w, b, 1, p), same)] if s > 1 else []
        out += [("padding", (w, b, s, 0), same)] if p > 0 else []
        if w.shape[1] > 1:
            one = lambda x: np.ascontiguousarray(x[:, :1]) if x.ndim == 4 else x  # noqa: E731
            out.append(("channels", (np.ascontiguousarray(w[:, :1]), b, s, p), one))
    elif rec.factory in ("maxpool2d", "avgpool2d"):
        k, s, *rest = rec.args
        out += [("stride", (k, k, *rest), same)] if s != k else []
    if rec.factory in ROW_WISE and x is not None and x.ndim >= 2 and len(x) > 1:
        out.append(("batch", rec.args, _first_row))
    windowed = rec.factory in ("conv2d", "maxpool2d", "avgpool2d")
    if windowed and x is not None and x.ndim == 4 and x.shape[2] != x.shape[3]:
        m = min(x.shape[2:])
        # Only a crop that keeps two or more windows along each axis: a smaller one
        # would also hide what the stride does, and agree by coincidence.
        if min(output_shape(rec.factory, rec.args, (*x.shape[:2], m, m))[2:]) >= 2:
            crop = lambda x: np.ascontiguousarray(x[:, :, :m, :m]) if x.ndim == 4 else x  # noqa: E731
            out.append(("non-square", rec.args, crop))
    return out


def _run(make, args: tuple, rec: Recorded, transform, dys: list) -> list:
    """Outcomes (output and the arguments written into) of rec's forward/backward/grads
    calls on a layer made by `make(*args)`, each forward argument transformed, each
    backward given the next of `dys` (built from the first run's outputs when empty)."""
    from .contract import _time_limit
    from .diagnosis import Outcome, Raised, _call

    outs, backward, y = [], 0, None
    try:
        with _time_limit(f"the diagnosis's {rec.factory} variant"), np.errstate(all="ignore"):
            obj = make(*copied(args))
            for call in rec.calls:
                if call.method == "forward":  # (x) for a layer, (logits, labels) a loss
                    call = Call("forward", tuple(transform(a) for a in call.args))
                elif call.method == "backward" and call.args:
                    if len(dys) <= backward:
                        rng = np.random.default_rng(backward)
                        dys.append(rng.standard_normal(np.shape(y)).astype(np.asarray(y).dtype))
                    call, backward = Call("backward", (dys[backward],)), backward + 1
                out, wrote = _call(obj, call)
                y = out if call.method == "forward" else y
                outs.append(Outcome(copied(out), wrote))
    except Exception as err:
        outs.append(Outcome(Raised(type(err).__name__)))
    return outs


def _counterfactuals(rec: Recorded, adapter) -> list[tuple[str, str]]:
    """The attributes (stride, padding, non-square input) without which the adapter's
    layer agrees with torch on the same calls: what the difference depends on, told even
    when the check built one layer only (no agreeing object on the tape to contrast)."""
    from .diagnosis import Raised, agrees, dtype_of

    methods = {c.method for c in rec.calls}
    if rec.maker is None or not methods <= {"forward", "backward", "grads"}:
        return []
    found = []
    for attribute, args, transform in _variants(rec):
        dys: list = []
        theirs = _run(getattr(adapter, rec.factory), args, rec, transform, dys)
        ours = _run(rec.maker, args, rec, transform, dys)
        if any(isinstance(t.out, Raised) for t in theirs):
            continue  # torch's own layer cannot run this variant
        if len(ours) == len(theirs) == len(rec.calls) and all(
            agrees(o, t, dtype_of(rec)) for o, t in zip(ours, theirs, strict=True)
        ):
            found.append((f"only-at:{attribute}", f"{rec.call} {COUNTERFACTUAL[attribute]}"))
    return found


def _accumulates(rec: Recorded, adapter) -> bool:
    """Whether every grads the adapter gave is the sum of the reference's gradients over
    every backward since the layer was built (no zeroing between backward calls)."""
    backwards = [c for c in rec.calls if c.method == "backward"]
    if len(backwards) < 2 or not any(c.method == "grads" for c in rec.calls):
        return False
    try:
        obj = getattr(adapter, rec.factory)(*copied(rec.args))
        total = None
        for call in rec.calls:
            if call.method in ("forward", "backward"):
                getattr(obj, call.method)(*copied(call.args))
            if call.method == "backward":
                g = {k: np.array(v, dtype=np.float64) for k, v in obj.grads.items()}
                total = g if total is None else {k: total[k] + g[k] for k in g}
            if call.method == "grads":
                ours = _arrays(call.out)
                if total is None or not all(
                    f"[{k!r}]" in ours and _same(ours[f"[{k!r}]"], v).all()
                    for k, v in total.items()
                    if f"[{k!r}]" in ours
                ):
                    return False
        return True
    except Exception:
        return False


def _state(rec: Recorded, ours: list, theirs: list, diverged: list[bool]):
    """Results that build up over repeated calls of one method."""
    for method in ("backward", "grads"):
        idx = [j for j, c in enumerate(rec.calls) if c.method == method]
        if len(idx) < 2 or diverged[idx[0]] or not any(diverged[j] for j in idx[1:]):
            continue
        o, t = _arrays(ours[idx[-1]].out), _arrays(theirs[idx[-1]].out)
        where = f"{rec.call}.{method}"
        total = None
        for j in idx:
            arrays = _arrays(theirs[j].out)
            total = arrays if total is None else {k: total[k] + arrays[k] for k in total}
        if all(k in o and o[k].shape == total[k].shape and _same(o[k], total[k]).all() for k in t):
            return [("state:accumulates", f"{where} adds each call's result to the last")]
        if _carries_earlier([ours[j].out for j in idx], [theirs[j].out for j in idx]):
            return [
                (
                    "state:accumulates",
                    f"{where} returns torch's result for the call plus a multiple of earlier "
                    "calls' results: what it computes builds up across calls (a gradient "
                    "added into, +=, and never reset)",
                )
            ]
        return [("state:step-dependent", f"{where} is right at its first call only")]
    return []


def _flat(value) -> np.ndarray | None:
    """All the float arrays of an output, end to end, in float64 (None: not arrays)."""
    arrays = _arrays(value)
    if not arrays or any(a.dtype.kind != "f" for a in arrays.values()):
        return None
    return np.concatenate([arrays[k].astype(np.float64).ravel() for k in sorted(arrays)])


def _carries_earlier(ours: list, theirs: list) -> bool:
    """Whether each later output is torch's plus a positive combination of torch's earlier
    outputs of the same method: accumulation, also the compounding kind of an autograd
    graph whose intermediate gradients are never zeroed (2*d1 + d2 at the second call)."""
    o = [_flat(v) for v in ours]
    t = [_flat(v) for v in theirs]
    if any(v is None or v.shape != t[0].shape or not np.isfinite(v).all() for v in o + t):
        return False
    carried = False
    for k in range(1, len(o)):
        diff = o[k] - t[k]
        if np.linalg.norm(diff) <= RTOL * np.linalg.norm(t[k]):
            continue  # this call agrees
        earlier = np.stack(t[:k], axis=1)  # (elements, k)
        coef, *_ = np.linalg.lstsq(earlier, diff, rcond=None)
        residual = np.linalg.norm(earlier @ coef - diff)
        if residual > RTOL * np.linalg.norm(diff) or (coef < -RTOL).any() or coef.sum() < 0.5:
            return False
        carried = True
    return carried


def describe(factory: str, objects: list[Recorded], adapter, diverged: dict) -> list[dict]:
    """The signatures of one layer's differing calls, most telling first, each once."""
    from .diagnosis import recorded, replay

    found: dict[str, str] = {}
    for rec in objects:
        for key, text in family_fits(rec):
            found.setdefault(key, text)
    for key, text in _contrast(objects, diverged):
        found.setdefault(key, text)
    # A finite-difference check builds hundreds of layers that differ alike: a few tell.
    for rec in [r for r in objects if any(diverged[r.index])][:COUNTERFACTUAL_OBJECTS]:
        for key, text in _counterfactuals(rec, adapter):
            found.setdefault(key, text)
    for rec in objects:
        if any(diverged[rec.index]) and _accumulates(rec, adapter):
            found.setdefault(
                "state:accumulates",
                f"{rec.call}.grads is the sum over every backward so far: the gradients "
                "accumulate, where torch's backward after zero_grad() gives this one's alone",
            )
        theirs = replay(rec, adapter)
        ours = [recorded(c) for c in rec.calls]
        for key, text in _state(rec, ours, theirs, diverged[rec.index]):
            found.setdefault(key, text)
        for j, differs in enumerate(diverged[rec.index]):
            if differs:
                for key, text in _compare(rec, j, ours[j], theirs[j]):
                    found.setdefault(key, text)
    return [{"id": f"signature:{k}", "text": v} for k, v in found.items()]
