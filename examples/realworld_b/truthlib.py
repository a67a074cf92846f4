"""What the specimens' truth files are made of, and the torch they are checked against.

Each specimen (examples/realworld_b/<name>/) has a truth.py, written by hand from reading
its code, that declares:
- DIVERGENCES: each way the code differs from torch, in one layer (a report layer name),
  with the names a diagnosis may give it (a known-bug id, a `signature:...` id) and an
  evidence function that shows the difference with torch on a small input;
- AGREES: each layer that does what torch does, with an evidence function that holds it
  to torch on ordinary inputs (and on the special ones where the code has a say);
- CONVENTIONS: each convention point of the report, "torch's", "differs" or "n/a".

An evidence function returns if what it claims holds, and raises AssertionError
otherwise. oracle_tests/project/test_realworld_b_truth.py runs them all; the score
(oracle_tests/realworld.py) reads the declarations. Nothing here reads a suite report:
the truth is what torch says, not what the suite says.
"""

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
POINTS = (
    "kernel orientation",
    "tie rule",
    "ReLU'(0)",
    "loss reduction",
    "Adam variant",
    "NaN propagation",
)
TORCHS, DIFFERS, NA = "torch's", "differs", "n/a"
NAN = float("nan")


@dataclass(frozen=True)
class Divergence:
    layer: str  # the report's layer name: Conv2d, ReLU, MaxPool2d, ...
    what: str  # a short description, for the score's table
    names: tuple[str, ...]  # accepted names: known-bug ids and signature ids
    evidence: Callable[[], None]


@dataclass(frozen=True)
class Agreement:
    layer: str
    evidence: Callable[[], None]


# --- Loading a specimen's adapter -----------------------------------------------------
def adapter(specimen: str):
    """The specimen's adapter module, imported once, with its folder on sys.path while it
    imports (as cnn-oracle does); each specimen's modules have names of their own."""
    key = f"specimen_{specimen}_adapter"
    if key not in sys.modules:
        folder = str(HERE / specimen)
        sys.path.insert(0, folder)
        try:
            spec = importlib.util.spec_from_file_location(key, HERE / specimen / "adapter.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(folder)
    return sys.modules[key]


# --- Small tools ----------------------------------------------------------------------
def expect(cond, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def rtol(dtype) -> float:
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


def close(ours, theirs, dtype=np.float64) -> bool:
    """Same shape and values (NaN where torch has NaN), to rounding of `dtype`."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return False
    scale = max(1.0, float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0)))
    r = rtol(dtype)
    return bool(np.allclose(ours, theirs, rtol=r, atol=r * scale, equal_nan=True))


def same(ours, theirs, dtype=np.float64, what: str = "") -> None:
    """Raise unless ours equals torch's in shape, dtype and value."""
    expect(np.asarray(ours).dtype == np.dtype(dtype), f"{what}: dtype {np.asarray(ours).dtype}")
    expect(close(ours, theirs, dtype), f"{what}: differs from torch")


def _t(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().copy()


# --- Torch, the oracle (float64) -----------------------------------------------------
def torch_conv(x, w, b, stride, padding, dy) -> dict:
    xt, wt = _t(x), _t(w)
    bt = None if b is None else _t(b)
    y = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding)
    if dy is None:
        return {"y": _np(y)}
    y.backward(torch.tensor(np.asarray(dy, dtype=np.float64)))
    out = {"y": _np(y), "dx": _np(xt.grad), "weight": _np(wt.grad)}
    if bt is not None:
        out["bias"] = _np(bt.grad)
    return out


def torch_pool(x, k, s, dy) -> dict:
    xt = _t(x)
    y = torch.nn.functional.max_pool2d(xt, k, s)
    y.backward(torch.tensor(np.asarray(dy, dtype=np.float64)))
    return {"y": _np(y), "dx": _np(xt.grad)}


def torch_pool_shape(shape, k, s) -> tuple:
    N, C, H, W = shape
    return (N, C, (H - k) // s + 1, (W - k) // s + 1)


def torch_relu(x, dy) -> dict:
    xt = _t(x)
    y = torch.relu(xt)
    y.backward(torch.tensor(np.asarray(dy, dtype=np.float64)))
    return {"y": _np(y), "dx": _np(xt.grad)}


def torch_linear(x, w, b, dy) -> dict:
    xt, wt = _t(x), _t(w)
    bt = None if b is None else _t(b)
    y = torch.nn.functional.linear(xt, wt, bt)
    y.backward(torch.tensor(np.asarray(dy, dtype=np.float64)))
    out = {"y": _np(y), "dx": _np(xt.grad), "weight": _np(wt.grad)}
    if bt is not None:
        out["bias"] = _np(bt.grad)
    return out


def torch_flatten(x, dy) -> dict:
    xt = _t(x)
    y = torch.flatten(xt, 1)
    y.backward(torch.tensor(np.asarray(dy, dtype=np.float64)))
    return {"y": _np(y), "dx": _np(xt.grad)}


def torch_ce(logits, labels) -> dict:
    zt = _t(logits)
    loss = torch.nn.functional.cross_entropy(zt, torch.tensor(np.asarray(labels)))
    loss.backward()
    return {"loss": float(loss.detach()), "dlogits": _np(zt.grad)}


def torch_adam(params, grads_seq, lr, betas, eps) -> list[list[np.ndarray]]:
    """The parameters after each step of torch.optim.Adam."""
    ps = [torch.tensor(np.asarray(p, dtype=np.float64)) for p in params]
    opt = torch.optim.Adam(ps, lr=lr, betas=betas, eps=eps)
    out = []
    for grads in grads_seq:
        for p, g in zip(ps, grads, strict=True):
            p.grad = torch.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


def torch_sgd(params, grads_seq, lr) -> list[list[np.ndarray]]:
    ps = [torch.tensor(np.asarray(p, dtype=np.float64)) for p in params]
    opt = torch.optim.SGD(ps, lr=lr)
    out = []
    for grads in grads_seq:
        for p, g in zip(ps, grads, strict=True):
            p.grad = torch.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


# --- The specimen, through its adapter -------------------------------------------------
def run_layer(layer, x, dy) -> dict:
    """forward(x), backward(dy) and the grads, on copies (so writes stay visible)."""
    y = layer.forward(x)
    dx = layer.backward(dy)
    out = {"y": np.asarray(y), "dx": None if dx is None else np.asarray(dx)}
    for k, v in (getattr(layer, "grads", None) or {}).items():
        out[k] = np.array(v, copy=True)
    return out


def run_steps(opt, params, grads_seq) -> list[list[np.ndarray]]:
    out = []
    for grads in grads_seq:
        opt.step([np.array(g, copy=True) for g in grads])
        out.append([np.array(p, copy=True) for p in params])
    return out


def adam_gradients(seed: int, shapes, steps: int, dtype) -> list[list[np.ndarray]]:
    r = rng(seed)
    return [[r.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def matches_torch(ours: dict, theirs: dict, dtype, what: str) -> None:
    for k, t in theirs.items():
        expect(k in ours and ours[k] is not None, f"{what}: no {k}")
        same(ours[k], t, dtype, f"{what} {k}")


# --- Agreement evidence shared by the specimens ---------------------------------------
def conv_agrees(mod, dtypes, configs) -> None:
    """conv2d matches torch for each (N, C, H, W, O, k, stride, padding, bias) config, in
    each dtype, and a second backward overwrites (not adds to) the gradients."""
    for dtype in dtypes:
        for i, (N, C, H, W, O, k, s, p, bias) in enumerate(configs):
            r = rng(i)
            x = r.standard_normal((N, C, H, W)).astype(dtype)
            w = r.standard_normal((O, C, k, k)).astype(dtype)
            b = r.standard_normal(O).astype(dtype) if bias else None
            Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
            dy = r.standard_normal((N, O, Ho, Wo)).astype(dtype)
            layer = mod.conv2d(w.copy(), None if b is None else b.copy(), s, p)
            x0, dy0 = x.copy(), dy.copy()
            run_layer(layer, x, dy)
            ours = run_layer(layer, x, dy)  # the second call must not add to the first
            expect(np.array_equal(x, x0) and np.array_equal(dy, dy0), "conv writes its input")
            matches_torch(ours, torch_conv(x, w, b, s, p, dy), dtype, f"conv config {i}")


def linear_agrees(mod, dtypes) -> None:
    for dtype in dtypes:
        for i, (N, n_in, n_out, bias) in enumerate([(4, 7, 3, True), (1, 5, 6, False)]):
            r = rng(10 + i)
            x = r.standard_normal((N, n_in)).astype(dtype)
            w = r.standard_normal((n_out, n_in)).astype(dtype)
            b = r.standard_normal(n_out).astype(dtype) if bias else None
            dy = r.standard_normal((N, n_out)).astype(dtype)
            layer = mod.linear(w.copy(), None if b is None else b.copy())
            x0, dy0 = x.copy(), dy.copy()
            run_layer(layer, x, dy)
            ours = run_layer(layer, x, dy)
            expect(np.array_equal(x, x0) and np.array_equal(dy, dy0), "linear writes its input")
            matches_torch(ours, torch_linear(x, w, b, dy), dtype, f"linear config {i}")


def relu_agrees(mod, dtypes) -> None:
    """On (N, F) and (N, C, H, W), with NaN, -0.0, +0.0 and negatives among the inputs."""
    for dtype in dtypes:
        r = rng(20)
        for shape in [(3, 8), (2, 3, 4, 5)]:
            x = r.standard_normal(shape).astype(dtype)
            x.flat[:4] = [NAN, -0.0, 0.0, -2.0]
            dy = r.standard_normal(shape).astype(dtype)
            x0, dy0 = x.copy(), dy.copy()
            ours = run_layer(mod.relu(), x, dy)
            expect(np.array_equal(x, x0, equal_nan=True), "relu writes x")
            expect(np.array_equal(dy, dy0), "relu writes dy")
            matches_torch(ours, torch_relu(x, dy), dtype, f"relu {shape}")


def flatten_agrees(mod, dtypes) -> None:
    for dtype in dtypes:
        x = rng(30).standard_normal((2, 3, 4, 5)).astype(dtype)
        dy = rng(31).standard_normal((2, 60)).astype(dtype)
        matches_torch(run_layer(mod.flatten(), x, dy), torch_flatten(x, dy), dtype, "flatten")


def adam_agrees(mod, dtypes) -> None:
    for dtype in dtypes:
        r = rng(40)
        params = [r.standard_normal(6).astype(dtype), r.standard_normal((2, 3)).astype(dtype)]
        grads = adam_gradients(41, [(6,), (2, 3)], 6, dtype)
        grads[2][0][:] *= 1e-9  # tiny gradients: where eps decides
        want = torch_adam(params, grads, 0.05, (0.9, 0.999), 1e-8)
        got = run_steps(mod.adam(params, 0.05, (0.9, 0.999), 1e-8), params, grads)
        for step, (g, t) in enumerate(zip(got, want, strict=True), start=1):
            for a, b in zip(g, t, strict=True):
                same(a, b, dtype, f"Adam step {step}")


def loss_agrees(mod, dtypes) -> None:
    """cross_entropy matches torch on moderate and on huge logits (+-1e4)."""
    for dtype in dtypes:
        r = rng(50)
        for scale in (2.0, 1e4):
            z = (scale * r.standard_normal((5, 4))).astype(dtype)
            y = r.integers(0, 4, 5)
            f = mod.cross_entropy()
            loss = f.forward(z.copy(), y)
            dz = f.backward()
            t = torch_ce(z, y)
            expect(close(loss, t["loss"], dtype), f"loss at scale {scale}")
            same(dz, t["dlogits"], dtype, f"dlogits at scale {scale}")


# --- The convention points, observed with torch as the judge ----------------------------
def _conv_y(mod, x, w):
    try:
        return mod.conv2d(w, None, 1, 0).forward(x)
    except NotImplementedError:
        return mod.conv2d(w, np.zeros(len(w)), 1, 0).forward(x)


def _kernel(mod) -> str:
    r = rng(60)
    x, w = r.standard_normal((2, 2, 6, 6)), r.standard_normal((3, 2, 3, 3))
    return TORCHS if close(_conv_y(mod, x, w), torch_conv(x, w, None, 1, 0, None)["y"]) else DIFFERS


def _ties(mod) -> str:
    x = np.array([[5, 5, 1, 2], [0, 1, 2, 2], [7, 3, 4, 4], [7, 7, 4, 4.0]])[None, None]
    dy = np.array([[1.5, -2.5], [3.5, 0.5]])[None, None]
    dx = run_layer(mod.maxpool2d(2, 2), x, dy)["dx"]
    return TORCHS if close(dx, torch_pool(x, 2, 2, dy)["dx"]) else DIFFERS


def _relu_prime_zero(mod) -> str:
    x, dy = np.array([[-1.5, -0.0, 0.0, 2.5]]), np.array([[1.5, -2.5, 3.5, -4.5]])
    return TORCHS if close(run_layer(mod.relu(), x, dy)["dx"], torch_relu(x, dy)["dx"]) else DIFFERS


def _reduction(mod) -> str:
    r = rng(61)
    z, y = 2 * r.standard_normal((4, 10)), r.integers(0, 10, 4)
    f, g = mod.cross_entropy(), mod.cross_entropy()
    one, dz1 = f.forward(z.copy(), y), f.backward()
    two, dz2 = g.forward(np.concatenate([z, z]), np.concatenate([y, y])), g.backward()
    return TORCHS if close(one, two) and close(dz2[:4], np.asarray(dz1) / 2) else DIFFERS


def _adam(mod) -> str:
    r = rng(62)
    params = [r.standard_normal(6), r.standard_normal((2, 3))]
    grads = adam_gradients(63, [(6,), (2, 3)], 5, np.float64)
    want = torch_adam(params, grads, 0.05, (0.9, 0.999), 1e-8)
    got = run_steps(mod.adam(params, 0.05, (0.9, 0.999), 1e-8), params, grads)
    ok = all(close(a, b) for g, t in zip(got, want, strict=True) for a, b in zip(g, t, strict=True))
    return TORCHS if ok else DIFFERS


def _nan(mod) -> str:
    """ReLU on NaN forward and backward; a 2x2 window holding one NaN, forward and back
    (a square input: a pool that is wrong on others is judged on NaN alone)."""
    ok = True
    if callable(getattr(mod, "relu", None)):
        x, dy = np.array([[NAN, -1.0, 2.0]]), np.array([[1.5, 2.5, -3.5]])
        ok &= close(run_layer(mod.relu(), x, dy)["dx"], torch_relu(x, dy)["dx"])
        ok &= bool(np.isnan(run_layer(mod.relu(), x, dy)["y"][0, 0]))
    if callable(getattr(mod, "maxpool2d", None)):
        x = np.array([[1, NAN, 3, 4], [2, 0.5, 1, 0], [5, 6, 0, 1], [7, 1, 2, 3]])[None, None]
        dy = np.array([[1.5, -2.5], [0.5, 3.0]])[None, None]
        try:
            ours = run_layer(mod.maxpool2d(2, 2), x, dy)
        except Exception:  # a pool that raises on NaN does not propagate it
            return DIFFERS
        t = torch_pool(x, 2, 2, dy)
        ok &= close(ours["y"], t["y"]) and close(ours["dx"], t["dx"])
    return TORCHS if ok else DIFFERS


def conventions_of(mod) -> dict[str, str]:
    """Each convention point of the specimen's code, decided here with torch in float64:
    "n/a" where the adapter lacks the piece."""
    has = {f for f in ("conv2d", "maxpool2d", "relu", "cross_entropy", "adam") if hasattr(mod, f)}
    probes = {
        "kernel orientation": ("conv2d", _kernel),
        "tie rule": ("maxpool2d", _ties),
        "ReLU'(0)": ("relu", _relu_prime_zero),
        "loss reduction": ("cross_entropy", _reduction),
        "Adam variant": ("adam", _adam),
    }
    out = {p: (probe(mod) if f in has else NA) for p, (f, probe) in probes.items()}
    out["NaN propagation"] = _nan(mod) if has & {"relu", "maxpool2d"} else NA
    return out
