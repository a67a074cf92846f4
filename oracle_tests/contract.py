"""The adapter contract in code: loading an adapter, and the wrappers every check calls.

An adapter is a module or an object with any subset of the factories in FACTORIES
(see docs/adapter.md). The checks never call it directly: they call an
`Implementation`, whose wrappers
- turn a missing factory, an undeclared dtype or a NotImplementedError into
  "not provided" (`not_provided`): a skip, or inside hypothesis a discarded example;
- turn anything else the adapter does wrong into a failure that names the adapter's
  method: an exception, an output of the wrong type, shape or dtype, a write into an
  argument, a change to the weights it was handed.
"""

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import reject
from hypothesis.control import currently_in_test_context

from .tape import TAPE, copied

FACTORIES = ("conv2d", "linear", "relu", "maxpool2d", "flatten", "cross_entropy", "adam")
SUPPORTED_DTYPES = ("float64", "float32")
DEFAULT_IMPL = "reference.adapter"


class CheckFailure(AssertionError):
    """A check failed; the message is the whole story (the plugin shows no traceback)."""


class AdapterError(Exception):
    """The adapter cannot be imported or is not an adapter (cnn-oracle exits 2)."""


# Reasons given by not_provided() during the current test: a hypothesis property whose
# every example was declined is reported "not provided" with them (see plugin.py).
DECLINED: list[str] = []


def not_provided(reason: str, *, any_arguments: bool = False):
    """This check (or, inside hypothesis, this example) cannot run on this adapter.

    any_arguments: the reason holds whatever the arguments (a missing factory, an
    undeclared dtype), so a hypothesis property stops at once instead of drawing
    examples that would all be declined (pytest's skip passes through hypothesis).
    """
    DECLINED.append(reason)
    if currently_in_test_context() and not any_arguments:
        reject()
    pytest.skip(f"not provided: {reason}")


# --- Loading ----------------------------------------------------------------------
@dataclass(frozen=True)
class Adapter:
    """A loaded adapter: the object, what to call it, where it came from, its dtypes."""

    obj: object
    name: str
    spec: str
    module: str
    dtypes: tuple[str, ...]
    dtypes_declared: bool

    @property
    def factories(self) -> list[str]:
        return _factories(self.obj)


def _factories(obj) -> list[str]:
    """The contract's factories that `obj` has."""
    return [f for f in FACTORIES if callable(getattr(obj, f, None))]


def _import_module(module: str):
    """Import a dotted module name or a .py file (its folder goes first on sys.path)."""
    path = Path(module)
    if module.endswith(".py") or path.is_file():
        if not path.is_file():
            raise AdapterError(f"adapter file {module} does not exist")
        path = path.resolve()
        name = f"cnn_oracle_adapter_{path.stem}"
        loaded = sys.modules.get(name)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path):
            return loaded  # already imported in this process (the CLI checks it first)
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))  # so that `import my_network` beside it works
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod
    return importlib.import_module(module)


def _where(err: BaseException) -> str:
    """' (file:line)' of the innermost frame of an import error, for the one-line message."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if isinstance(err, SyntaxError) and err.filename:
        return f" ({err.filename}:{err.lineno})"
    return f" ({tb.tb_frame.f_code.co_filename}:{tb.tb_lineno})" if tb else ""


def load_adapter(spec: str | None = None) -> Adapter:
    """Load MODULE[:OBJECT] (default: the reference's adapter); raise AdapterError."""
    spec = spec or DEFAULT_IMPL
    module, _, attr = spec.partition(":")
    if not module:
        raise AdapterError(f"adapter {spec!r}: no module before ':'")
    try:
        mod = _import_module(module)
    except AdapterError:
        raise
    except Exception as err:  # anything the adapter's own import raises
        raise AdapterError(
            f"cannot import adapter module {module!r}: {type(err).__name__}: {err}{_where(err)}"
        ) from err
    obj = mod
    if attr:
        if not hasattr(mod, attr):
            raise AdapterError(f"adapter module {module!r} has no object {attr!r}")
        obj = getattr(mod, attr)
        if isinstance(obj, type):  # a class: its instance is the adapter
            try:
                obj = obj()
            except Exception as err:
                raise AdapterError(
                    f"adapter class {attr} could not be instantiated with no arguments: "
                    f"{type(err).__name__}: {err}"
                ) from err
    return _validated(obj, spec, getattr(mod, "__name__", module))


def _validated(obj, spec: str, module: str) -> Adapter:
    if not _factories(obj):
        raise AdapterError(
            f"{spec} is not an adapter: it has none of the factories {', '.join(FACTORIES)}"
        )
    name = getattr(obj, "name", None)
    if name is not None and not isinstance(name, str):
        raise AdapterError(f"{spec}: `name` must be a string, got {type(name).__name__}")
    raw = getattr(obj, "dtypes", None)
    declared = raw is not None
    if isinstance(raw, str):
        raw = (raw,)
    try:
        dtypes = tuple(np.dtype(d).name for d in (raw if declared else SUPPORTED_DTYPES))
    except TypeError as err:
        raise AdapterError(f"{spec}: `dtypes` must list dtype names, got {raw!r} ({err})") from err
    if not set(dtypes) & set(SUPPORTED_DTYPES):
        raise AdapterError(
            f"{spec}: `dtypes` {dtypes} lists neither float64 nor float32, the dtypes the "
            "suite checks"
        )
    return Adapter(obj, name or spec, spec, module, dtypes, declared)


# --- The wrappers -----------------------------------------------------------------
def _snapshot(arrays: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in arrays.items() if isinstance(v, np.ndarray)}


def _unchanged(a: np.ndarray, copy: np.ndarray) -> bool:
    return a.shape == copy.shape and np.array_equal(a, copy, equal_nan=True)


class Implementation:
    """The adapter as the checks see it: one factory per layer, each returning a wrapper."""

    def __init__(self, adapter: Adapter):
        self.adapter = adapter

    def _factory(self, factory: str, dtype) -> object:
        dtype = np.dtype(dtype).name
        if dtype not in self.adapter.dtypes:
            reason = f"dtype {dtype} is not among the adapter's dtypes {self.adapter.dtypes}"
            not_provided(reason, any_arguments=True)
        f = getattr(self.adapter.obj, factory, None)
        if not callable(f):
            not_provided(f"the adapter has no {factory}()", any_arguments=True)
        return f

    def _build(self, factory: str, dtype, args: tuple, given: dict | None = None):
        """(object, call, snapshot, record): the adapter's factory called on `args`, a
        description of that call for messages, copies of the `given` arrays it must leave
        alone, and its record on the tape (None unless the tape records)."""
        f = self._factory(factory, dtype)
        given = given or {}
        kept = _snapshot(given)
        call = f"{factory}({', '.join(_describe(a) for a in args)})"
        try:
            obj = f(*args)
        except NotImplementedError as err:
            not_provided(
                f"{factory}: {err}" if str(err) else f"{factory} raised NotImplementedError"
            )
        except Exception as err:
            raise CheckFailure(f"adapter {call} raised {type(err).__name__}: {err}") from None
        _check_kept(call, given, kept)
        return obj, call, kept, TAPE.built(factory, args, call)

    def _layer(self, factory: str, dtype, args: tuple, given: dict | None = None) -> "Layer":
        obj, call, kept, rec = self._build(factory, dtype, args, given)
        return Layer(call, obj, given or {}, kept, rec)

    def conv2d(self, weight, bias, stride: int = 1, padding: int = 0) -> "Layer":
        args, given = (weight, bias, stride, padding), {"weight": weight, "bias": bias}
        return self._layer("conv2d", weight.dtype, args, given)

    def linear(self, weight, bias) -> "Layer":
        return self._layer("linear", weight.dtype, (weight, bias), {"weight": weight, "bias": bias})

    def relu(self, dtype) -> "Layer":
        return self._layer("relu", dtype, ())

    def maxpool2d(self, kernel_size: int, stride: int, dtype) -> "Layer":
        return self._layer("maxpool2d", dtype, (kernel_size, stride))

    def flatten(self, dtype) -> "Layer":
        return self._layer("flatten", dtype, ())

    def cross_entropy(self, dtype) -> "Loss":
        obj, call, _, rec = self._build("cross_entropy", dtype, ())
        return Loss(call, obj, rec=rec)

    def adam(self, params: list, lr: float, betas: tuple, eps: float) -> "Optimizer":
        obj, call, _, rec = self._build("adam", params[0].dtype, (params, lr, betas, eps))
        return Optimizer(call, obj, rec=rec, params=params)


def _describe(a) -> str:
    if isinstance(a, np.ndarray):
        return f"<{a.dtype} array {a.shape}>"
    if isinstance(a, list):
        return f"<list of {len(a)} arrays>"
    return repr(a)


def _check_kept(call: str, given: dict, kept: dict) -> None:
    for k, copy in kept.items():
        if not _unchanged(given[k], copy):
            raise CheckFailure(
                f"adapter {call} changed the {k} array the suite handed it; copy it instead "
                "(the suite keeps using its arrays)"
            )


def _check_array(what: str, out, shape: tuple | None, dtype) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise CheckFailure(f"{what} returned {type(out).__name__}, expected a NumPy array")
    if shape is not None and out.shape != tuple(shape):
        raise CheckFailure(f"{what} returned shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise CheckFailure(
            f"{what} returned dtype {out.dtype} for {np.dtype(dtype).name} inputs; compute in "
            "the dtype of the inputs"
        )
    return out


class _Wrapped:
    """Calls one method of the adapter's object, with the checks every call gets."""

    def __init__(self, call: str, obj, given=None, kept=None, rec=None, params=None):
        self.call, self.obj = call, obj
        self.given, self.kept = given or {}, kept or {}
        self.rec, self.params = rec, params  # its tape record; an optimizer's parameters

    def _invoke(self, method: str, *args):
        what = f"{self.call}.{method}"
        fn = getattr(self.obj, method, None)
        if not callable(fn):
            raise CheckFailure(f"the object returned by adapter {self.call} has no {method}()")
        before = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
        taped = copied(args) if self.rec is not None else None
        try:
            out = fn(*args)
        except NotImplementedError as err:
            not_provided(f"{what}: {err}" if str(err) else f"{what} raised NotImplementedError")
        except Exception as err:
            TAPE.called(self.rec, method, taped, raised=type(err).__name__)
            raise CheckFailure(f"{what} raised {type(err).__name__}: {err}") from None
        # An optimizer's output is the parameters it updated in place.
        TAPE.called(self.rec, method, taped, out if self.params is None else self.params)
        for i, (a, copy) in enumerate(zip(args, before, strict=True)):
            if copy is not None and not _unchanged(a, copy):
                raise CheckFailure(f"{what} wrote into its argument {i + 1} ({_describe(a)})")
        _check_kept(what, self.given, self.kept)
        return out


class Layer(_Wrapped):
    """forward(x) -> y, backward(dy) -> dx or None, grads -> {"weight", "bias"}."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        y = self._invoke("forward", x)
        return _check_array(f"{self.call}.forward", y, None, x.dtype)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        dx = self._invoke("backward", dy)
        if dx is None:
            return None
        return _check_array(f"{self.call}.backward", dx, self._x_shape, dy.dtype)

    def backward_dx(self, dy: np.ndarray) -> np.ndarray:
        """backward(dy), where the check needs dx: None (no input gradient) is not provided."""
        dx = self.backward(dy)
        if dx is None:
            not_provided(f"{self.call}.backward returns no input gradient (None)")
        return dx

    @property
    def grads(self) -> dict:
        """Copies of the gradients of the last backward, checked against the parameters."""
        g = getattr(self.obj, "grads", None)
        if not isinstance(g, dict):
            raise CheckFailure(
                f"after backward, {self.call}.grads is {type(g).__name__}, expected a dict "
                "with 'weight' and 'bias'"
            )
        wanted = {k: g[k] for k, p in self.given.items() if p is not None and k in g}
        TAPE.called(self.rec, "grads", (), wanted)
        out = {}
        for k, p in self.given.items():
            if p is None:
                continue
            if k not in g:
                raise CheckFailure(f"after backward, {self.call}.grads has no {k!r} entry")
            what = f"{self.call}.grads[{k!r}]"
            out[k] = np.array(_check_array(what, g[k], p.shape, p.dtype), copy=True)
        return out


class Loss(_Wrapped):
    """forward(logits, labels) -> float, backward() -> dlogits."""

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        self._logits = (logits.shape, logits.dtype)
        loss = self._invoke("forward", logits, labels)
        if np.ndim(loss) != 0:
            raise CheckFailure(f"{self.call}.forward returned {type(loss).__name__}, not a float")
        try:
            return float(loss)
        except (TypeError, ValueError):
            raise CheckFailure(f"{self.call}.forward returned {loss!r}, not a float") from None

    def backward(self) -> np.ndarray:
        d = self._invoke("backward")
        return _check_array(f"{self.call}.backward", d, *self._logits)


class Optimizer(_Wrapped):
    """step(grads) updates the params it was built on, in place."""

    def step(self, grads: list) -> None:
        kept = [g.copy() for g in grads]
        self._invoke("step", grads)
        for i, (g, copy) in enumerate(zip(grads, kept, strict=True)):
            if not _unchanged(g, copy):
                raise CheckFailure(f"{self.call}.step wrote into gradient {i}")
