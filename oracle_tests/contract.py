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

import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import reject
from hypothesis.control import currently_in_test_context

from .tape import TAPE, copied

# The seed's pieces, then the optional pieces that real from-scratch code also has (each
# in torch's argument meanings; see docs/adapter.md). An adapter has any subset.
SEED_FACTORIES = ("conv2d", "linear", "relu", "maxpool2d", "flatten", "cross_entropy", "adam")
FACTORIES = (
    *SEED_FACTORIES,
    "sgd",
    "rmsprop",
    "softmax",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "mse_loss",
    "bce_loss",
    "cross_entropy_from_probabilities",
    "batchnorm2d",
    "batchnorm1d",
    "dropout",
    "avgpool2d",
)
OPTIMIZERS = ("adam", "sgd", "rmsprop")
SUPPORTED_DTYPES = ("float64", "float32")
DEFAULT_IMPL = "reference.adapter"


class CheckFailure(AssertionError):
    """A check failed; the message is the whole story (the plugin shows no traceback)."""


# How long one call to the adapter may take (cnn-oracle --timeout): a method that does not
# return by then fails its check with a message naming it, and the run goes on.
TIMEOUT = {"seconds": 60.0}


# A convention probe (conventions/) judges values only: there a result in another dtype,
# or a call that writes into its arguments, is read as it is, since the checks already
# fail those for what they are.
LENIENT = {"values only": False}


@contextlib.contextmanager
def values_only():
    LENIENT["values only"] = True
    try:
        yield
    finally:
        LENIENT["values only"] = False


class _TimedOut(BaseException):
    """Raised by the alarm inside a call that ran too long (BaseException: the adapter's
    own `except Exception` cannot swallow it)."""


@contextlib.contextmanager
def _time_limit(what: str):
    """Fail with a message naming `what` if the block runs over TIMEOUT (main thread only:
    SIGALRM is delivered there; elsewhere the call runs unlimited)."""
    seconds = TIMEOUT["seconds"]
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TimedOut:
        raise CheckFailure(
            f"{what} did not return within {seconds:g} s (cnn-oracle --timeout changes the limit)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
        compile(path.read_bytes(), str(path), "exec")  # a SyntaxError before torch's warm-up
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))  # so that `import my_network` beside it works
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        _guarded(lambda: spec.loader.exec_module(mod))
        return mod
    if importlib.util.find_spec(module.partition(".")[0]) is None:
        raise AdapterError(
            f"cannot import adapter module {module!r}: no module of that name on sys.path "
            "(give the path to its .py file instead)"
        )
    return _guarded(lambda: importlib.import_module(module))


def _guarded(load):
    """Load the adapter with the process state it may change guarded (isolation.py)."""
    from .isolation import guarded

    with guarded():
        return load()


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
    before = set(sys.modules)
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
    adapter = _validated(obj, spec, getattr(mod, "__name__", module))
    from .isolation import warmed_without_stubs

    # torch's lazy parts, loaded as if the adapter had stubbed none of its imports
    warmed_without_stubs(set(sys.modules) - before, bool(set(adapter.factories) & set(OPTIMIZERS)))
    return adapter


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
        foreign = self._foreign(f)
        try:
            with _time_limit(f"adapter {call}"):
                obj = f(*args)
        except CheckFailure:
            raise
        except NotImplementedError as err:
            not_provided(
                f"{factory}: {err}" if str(err) else f"{factory} raised NotImplementedError"
            )
        except Exception as err:
            # A TypeError is the call's signature (softmax(z) called as softmax()); an
            # imported factory that raises anything else fails its checks like any other.
            if foreign and isinstance(err, TypeError):
                not_provided(_not_a_factory(factory, foreign, f"raised {type(err).__name__}"))
            raise CheckFailure(f"adapter {call} raised {type(err).__name__}: {err}") from None
        method = "step" if factory in OPTIMIZERS else "forward"
        if foreign and not callable(getattr(obj, method, None)):
            not_provided(_not_a_factory(factory, foreign, f"returned {_describe(obj)}"))
        _check_kept(call, given, kept)
        return obj, call, kept, TAPE.built(factory, args, call, maker=f)

    def _foreign(self, f) -> str | None:
        return foreign(self.adapter.obj, f)

    def _layer(self, factory: str, dtype, args: tuple, given: dict | None = None) -> "Layer":
        obj, call, kept, rec = self._build(factory, dtype, args, given)
        layer = Layer(call, obj, given or {}, kept, rec)
        layer.out_shape = lambda x_shape: output_shape(factory, args, x_shape)
        return layer

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
        return self._loss("cross_entropy", dtype)

    def _loss(self, factory: str, dtype) -> "Loss":
        obj, call, _, rec = self._build(factory, dtype, ())
        return Loss(call, obj, rec=rec)

    def _optimizer(self, factory: str, params: list, args: tuple) -> "Optimizer":
        obj, call, _, rec = self._build(factory, params[0].dtype, (params, *args))
        return Optimizer(call, obj, rec=rec, params=params)

    def adam(self, params: list, lr: float, betas: tuple, eps: float) -> "Optimizer":
        return self._optimizer("adam", params, (lr, betas, eps))

    # --- The optional pieces (torch's argument meanings, positional as in the docs) ---
    def sgd(
        self,
        params: list,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> "Optimizer":
        """torch.optim.SGD; the adapter raises NotImplementedError for what it lacks."""
        return self._optimizer("sgd", params, (lr, momentum, dampening, weight_decay, nesterov))

    def rmsprop(
        self,
        params: list,
        lr: float,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
    ) -> "Optimizer":
        """torch.optim.RMSprop with centered=False."""
        return self._optimizer("rmsprop", params, (lr, alpha, eps, weight_decay, momentum))

    def softmax(self, dtype) -> "Layer":
        return self._layer("softmax", dtype, ())

    def sigmoid(self, dtype) -> "Layer":
        return self._layer("sigmoid", dtype, ())

    def tanh(self, dtype) -> "Layer":
        return self._layer("tanh", dtype, ())

    def leaky_relu(self, negative_slope: float, dtype) -> "Layer":
        return self._layer("leaky_relu", dtype, (negative_slope,))

    def mse_loss(self, dtype) -> "Loss":
        """forward(pred (N, K), target (N, K)) -> the mean over all elements."""
        return self._loss("mse_loss", dtype)

    def bce_loss(self, dtype) -> "Loss":
        """forward(prob (N, K), target (N, K) in [0, 1]) -> the mean."""
        return self._loss("bce_loss", dtype)

    def cross_entropy_from_probabilities(self, dtype) -> "Loss":
        """forward(prob (N, K), labels (N,) int) -> mean -log p[label]."""
        return self._loss("cross_entropy_from_probabilities", dtype)

    def _batchnorm(self, factory, weight, bias, running_mean, running_var, eps, momentum):
        given = {"weight": weight, "bias": bias}
        kept = {"running_mean": running_mean, "running_var": running_var}
        args = (weight, bias, running_mean, running_var, eps, momentum)
        obj, call, snap, rec = self._build(factory, weight.dtype, args, {**given, **kept})
        # The running statistics the suite hands over are the layer's to update: the layer
        # may copy them or not, so only the parameters are held to "hands off".
        snap = {k: v for k, v in snap.items() if k in given}
        layer = Layer(call, obj, given, snap, rec)
        layer.out_shape = tuple  # normalised in place: the output has the input's shape
        return layer

    def batchnorm2d(self, weight, bias, running_mean, running_var, eps, momentum) -> "Layer":
        """nn.BatchNorm2d on (N, C, H, W): running_mean/running_var readable after forward."""
        return self._batchnorm(
            "batchnorm2d", weight, bias, running_mean, running_var, eps, momentum
        )

    def batchnorm1d(self, weight, bias, running_mean, running_var, eps, momentum) -> "Layer":
        """nn.BatchNorm1d on (N, C)."""
        return self._batchnorm(
            "batchnorm1d", weight, bias, running_mean, running_var, eps, momentum
        )

    def dropout(self, p: float, dtype) -> "Layer":
        """nn.Dropout: p is the probability of dropping an element."""
        return self._layer("dropout", dtype, (p,))

    def avgpool2d(self, kernel_size: int, stride: int, dtype) -> "Layer":
        """nn.AvgPool2d with padding 0."""
        return self._layer("avgpool2d", dtype, (kernel_size, stride))


def foreign(adapter_obj, f) -> str | None:
    """'module.name' when a module adapter's factory is a function imported from another
    module (`from deep_nn import softmax` puts the network's own softmax where the suite
    looks for its factory), else None."""
    owner = getattr(f, "__module__", None)
    if not isinstance(adapter_obj, types.ModuleType) or owner in (None, adapter_obj.__name__):
        return None
    return f"{owner}.{getattr(f, '__qualname__', '?')}"


def _not_a_factory(factory: str, foreign: str, did: str) -> str:
    return (
        f"the adapter's `{factory}` is {foreign}, imported from another module, and is no "
        f"factory: called as the suite's {factory}(...) it {did}. Import the module instead "
        f"(`import {foreign.rpartition('.')[0]}`), or define {factory}() in the adapter "
        "(docs/adapter.md)"
    )


def output_shape(factory: str, args: tuple, x: tuple) -> tuple | None:
    """The shape torch gives for input shape x (None where x cannot be an input)."""
    if factory in ("conv2d", "maxpool2d", "avgpool2d"):
        if len(x) != 4:
            return None
        if factory == "conv2d":
            weight, _, s, p = args
            (O, _, kH, kW), (H, W) = weight.shape, (x[2] + 2 * p, x[3] + 2 * p)
        else:
            (k, s), (O, H, W) = args, (x[1], x[2], x[3])
            kH = kW = k
        return (x[0], O, (H - kH) // s + 1, (W - kW) // s + 1)
    if factory == "linear":
        return (*x[:-1], args[0].shape[0])
    if factory == "flatten":
        return (x[0], int(np.prod(x[1:], dtype=np.int64))) if len(x) >= 1 else None
    return tuple(x)  # elementwise layers, softmax, batchnorm, dropout


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
    if out.dtype != dtype and not (LENIENT["values only"] and out.dtype.kind == "f"):
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
            with _time_limit(what):
                out = fn(*args)
        except CheckFailure:
            TAPE.called(self.rec, method, taped, raised="timeout")
            raise
        except NotImplementedError as err:
            not_provided(f"{what}: {err}" if str(err) else f"{what} raised NotImplementedError")
        except Exception as err:
            TAPE.called(self.rec, method, taped, raised=type(err).__name__)
            raise CheckFailure(f"{what} raised {type(err).__name__}: {err}") from None
        wrote = [
            i
            for i, (a, copy) in enumerate(zip(args, before, strict=True))
            if copy is not None and not _unchanged(a, copy)
        ]
        # An optimizer's output is the parameters it updated in place.
        out_taped = out if self.params is None else self.params
        TAPE.called(self.rec, method, taped, out_taped, wrote=tuple(wrote))
        if wrote and not LENIENT["values only"]:
            a = args[wrote[0]]
            raise CheckFailure(f"{what} wrote into its argument {wrote[0] + 1} ({_describe(a)})")
        _check_kept(what, self.given, self.kept)
        return out


class Layer(_Wrapped):
    """forward(x) -> y, backward(dy) -> dx or None, grads -> {"weight", "bias"}."""

    out_shape = None  # x.shape -> the output shape torch gives (set by the factory)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x_shape = x.shape
        y = self._invoke("forward", x)
        what = f"{self.call}.forward"
        y = _check_array(what, y, None, x.dtype)
        expected = self.out_shape(x.shape) if self.out_shape else None
        if expected is not None and y.shape != expected:
            raise CheckFailure(
                f"{what} returned shape {y.shape} for input {x.shape}; torch gives {expected}"
            )
        return y

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

    def eval(self) -> None:
        """Switch to evaluation mode; a layer without eval() makes the check not provided."""
        if not callable(getattr(self.obj, "eval", None)):
            not_provided(f"the object returned by adapter {self.call} has no eval()")
        self._invoke("eval")

    def train(self) -> None:
        """Switch back to training mode (not provided without train())."""
        if not callable(getattr(self.obj, "train", None)):
            not_provided(f"the object returned by adapter {self.call} has no train()")
        self._invoke("train")

    def stat(self, name: str) -> np.ndarray:
        """A copy of the array attribute `name` (BatchNorm's running_mean, running_var)."""
        what = f"{self.call}.{name}"
        value = getattr(self.obj, name, None)
        shape = self.given["weight"].shape
        out = np.array(_check_array(what, value, shape, self.given["weight"].dtype), copy=True)
        TAPE.called(self.rec, name, (), out)
        return out

    @property
    def running_mean(self) -> np.ndarray:
        return self.stat("running_mean")

    @property
    def running_var(self) -> np.ndarray:
        return self.stat("running_var")

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
            if not _unchanged(g, copy) and not LENIENT["values only"]:
                raise CheckFailure(f"{self.call}.step wrote into gradient {i}")
