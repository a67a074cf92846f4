"""Finding a student's functions and classes, and calling them, for the presets.

- `from_modules`: import the course's modules (cs231n's layers.py, optim.py) from a
  folder, as a package, so that their relative imports work. They hold only definitions.
- `from_source`: take from a notebook or a .py only the definitions the preset maps, the
  definitions they use, and the imports those need, and execute nothing else: a cell
  that loads data, trains or plots never runs, nor does a script's training loop.
- A function the student has not written yet is a stub: its body does no work and
  holds `pass`, `...` or `raise NotImplementedError` (the starters' `out = None; pass;
  return out, cache`). A stub found only when called (it returned None) counts the same.
- `Student.call` names the student's function and file:line in any error it raises.
"""

import ast
import builtins
import importlib
import importlib.machinery
import importlib.util
import inspect
import json
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract import AdapterError
from . import PATH_VAR


def course_path(api: str, what: str) -> Path:
    """The student's code, from CNN_ORACLE_API_PATH (set by `cnn-oracle check --api`)."""
    raw = os.environ.get(PATH_VAR)
    if not raw:
        raise AdapterError(
            f"the {api} preset needs the code to check: run `cnn-oracle check --api {api} PATH` "
            f"(PATH: {what}), or set {PATH_VAR}"
        )
    path = Path(raw)
    if not path.exists():
        raise AdapterError(f"{PATH_VAR}={raw}: no such file or folder ({what})")
    return path


class NumPy1Float:
    """`float` as NumPy 1 let it be: float() of any size-1 array, such as the (1, 1, 1) bias
    slice that deeplearning.ai's conv_single_step casts with float(b). NumPy 2 raises
    TypeError there. `dtype=float` and isinstance(x, float) keep working."""

    dtype = np.dtype(np.float64)

    def __call__(self, x=0.0, /):
        if isinstance(x, np.ndarray) and x.ndim and x.size == 1:
            x = x.reshape(())
        return builtins.float(x)

    def __instancecheck__(self, obj) -> bool:
        return isinstance(obj, builtins.float)

    def __repr__(self) -> str:
        return "<float, converting size-1 arrays as NumPy 1 did>"


# --- Stubs --------------------------------------------------------------------------
# Calls that a starter's unwritten function makes: reading its parameters, making the
# empty outputs it would fill, raising for a bad mode.
_STARTER_CALLS = {
    "get", "setdefault", "zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like",
    "seed", "astype", "print", "len", "range", "float", "int", "super", "__init__",
    "ValueError", "TypeError", "KeyError", "NotImplementedError",
}  # fmt: skip


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _does_work(node: ast.AST) -> bool:
    if isinstance(node, (ast.For, ast.While, ast.comprehension, ast.AugAssign, ast.Lambda)):
        return True
    if isinstance(node, ast.BinOp):  # arithmetic; "text %s" % mode is a starter's message
        return not (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str))
    if isinstance(node, ast.UnaryOp):
        return not isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Call):
        return _callee(node) not in _STARTER_CALLS
    return False


def _is_marker(node: ast.AST) -> bool:
    """pass, ..., or raise NotImplementedError(...)."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return getattr(exc, "id", None) == "NotImplementedError"
    return False


def is_stub(fn: ast.FunctionDef) -> bool:
    """A function the student has not written: no work done, and a pass, ... or raise
    NotImplementedError (or nothing but a docstring)."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return True
    nodes = [n for stmt in body for n in ast.walk(stmt)]
    if not any(_does_work(n) for n in nodes) and any(_is_marker(n) for n in nodes):
        return True
    arguments = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)}
    return _returns_only_none(nodes, arguments)


def _returns_only_none(nodes: list[ast.AST], arguments: set[str]) -> bool:
    """Every return's output (its first element) is a name only ever set to None, or never
    set: the starter's `out = None ... return out, cache` with some shapes computed around
    it, or a template's `return Z, cache` under an empty "YOUR CODE" block."""
    returns = [n.value for n in nodes if isinstance(n, ast.Return) and n.value is not None]
    firsts = [r.elts[0] if isinstance(r, ast.Tuple) and r.elts else r for r in returns]
    if not firsts or not all(isinstance(f, ast.Name) for f in firsts):
        return False
    names = {f.id for f in firsts}
    if names & arguments:
        return False
    set_to_none = {
        id(target)
        for n in nodes
        if isinstance(n, ast.Assign)
        for target, value in _pairs(n.targets, n.value)
        if isinstance(value, ast.Constant) and value.value is None
    }
    stores = [n for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return all(id(n) in set_to_none for n in stores if n.id in names)


def _pairs(targets: list, value):
    """(target Name, its value or None where unknown) for each name an assignment binds."""
    for target in targets:
        if isinstance(target, ast.Name):
            yield target, value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else []
            if len(values) != len(target.elts):
                values = [None] * len(target.elts)
            for t, v in zip(target.elts, values, strict=True):
                yield from _pairs([t], v)


# --- What was found -----------------------------------------------------------------
@dataclass
class Found:
    """One of the student's definitions: the object, where it is, its AST."""

    obj: object
    where: str  # "layers.py:57", "mistakes.ipynb, cell 9"
    node: ast.AST


@dataclass
class Student:
    """The student's definitions that a preset maps, by name."""

    api: str
    path: Path
    defs: dict[str, Found]
    files: set = field(default_factory=set)  # filenames of the student's code objects
    stubs_seen: set = field(default_factory=set)  # found stubs only when called

    # --- lookup ---
    def get(self, name: str):
        """The function or class `name` (None when the student's code has none)."""
        found = self.defs.get(name)
        return None if found is None else found.obj

    def has(self, name: str) -> bool:
        cls, _, method = name.partition(".")
        return cls in self.defs and (not method or self._method(cls, method) is not None)

    def _method(self, cls: str, method: str):
        """The FunctionDef of cls.method, looked up through the bases found."""
        found = self.defs.get(cls)
        if found is None or not isinstance(found.node, ast.ClassDef):
            return None
        for stmt in found.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == method:
                return stmt
        for base in found.node.bases:
            if isinstance(base, ast.Name) and base.id != cls:
                node = self._method(base.id, method)
                if node is not None:
                    return node
        return None

    def uses(self, name: str) -> set[str]:
        """The names the definition `name` refers to (the helpers it calls)."""
        found = self.defs.get(name)
        return set() if found is None else _uses(found.node)

    def is_stub(self, name: str) -> bool:
        if name in self.stubs_seen:
            return True
        cls, _, method = name.partition(".")
        node = self._method(cls, method) if method else self.defs[name].node
        return isinstance(node, ast.FunctionDef) and is_stub(node)

    def unwritten(self, *names: str) -> str | None:
        """Why the piece made of `names` cannot run yet: those missing, those stubs."""
        missing = [n for n in names if not self.has(n)]
        stubs = [n for n in names if n not in missing and self.is_stub(n)]
        why = []
        if missing:
            why.append(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in "
                       f"{self.path.name}")  # fmt: skip
        if stubs:
            why.append(f"{' and '.join(stubs)} {'is' if len(stubs) == 1 else 'are'} still the "
                       f"starter stub{'s' if len(stubs) > 1 else ''}")  # fmt: skip
        return "; ".join(why) or None

    def require(self, *names: str) -> None:
        """Raise NotImplementedError (the contract's "not provided") naming a stub."""
        why = self.unwritten(*names)
        if why:
            raise NotImplementedError(why)

    def stub_returned_none(self, name: str) -> None:
        """A function that returned None where its output belongs: not written yet."""
        self.stubs_seen.add(name)
        raise NotImplementedError(f"{name} is still the starter stub: it returned None")

    # --- calling ---
    def call(self, name: str, fn, *args, **kwargs):
        """fn(*args): an error names the student's function and file:line."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError as err:
            self.stubs_seen.add(name)
            raise NotImplementedError(f"{name} raises NotImplementedError {err}".strip()) from None
        except Exception as err:
            raise self._named(err, name) from None

    def _named(self, err: Exception, name: str) -> Exception:
        where = ""
        tb = err.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename in self.files:
                where = f" ({_short(code.co_filename)}, line {tb.tb_lineno})"
            tb = tb.tb_next
        msg = f"in your {name}{where}: {err}"
        try:
            named = type(err)(msg)
        except Exception:
            named = None
        if named is None or str(named) != msg:  # KeyError quotes its message
            named = RuntimeError(f"in your {name}{where}: {type(err).__name__}: {err}")
        return named

    # --- what to print ---
    def header(self, pieces: dict[str, tuple[str, ...]], notes: list[str]) -> str:
        """The adapter's name: the API, the path, each piece's functions, stubs, notes."""
        shown, stubs, absent = [], [], []
        for factory, names in pieces.items():
            have = [n for n in names if self.has(n)]
            if not have:
                absent.extend(names)
                continue
            shown.append(f"{factory} = {_joined(names)}")
            stubs += [n for n in have if self.is_stub(n) and n not in stubs]
            absent += [n for n in names if n not in have]
        parts = [f"{self.api} ({self.path})", "; ".join(shown) or "none of the API's functions"]
        if stubs:
            parts.append(f"still stubs: {', '.join(stubs)}")
        if absent:
            parts.append(f"not found: {', '.join(dict.fromkeys(absent))}")
        return " | ".join(parts + notes)

    def check_api(self, api: dict[str, str]) -> None:
        """check_signature for each function of `api` (name -> "name(a, b)") found."""
        for name, expected in api.items():
            if name in self.defs:
                self.check_signature(name, expected, *arguments(expected))

    def check_signature(self, name: str, expected: str, *args, method: str = "") -> None:
        """AdapterError (exit 2, one line) if `name` cannot be called as `expected`."""
        obj = self.get(name)
        fn = getattr(obj, method) if method else obj
        if fn is None:
            return
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return
        try:
            sig.bind(*args)
        except TypeError:
            label = f"{name}.{method}" if method else name
            where = self.defs[name].where
            raise AdapterError(
                f"{label}{sig} ({where}) does not match the {self.api} API: it is called as "
                f"{expected}"
            ) from None


def _joined(names: tuple[str, ...]) -> str:
    """conv_forward_naive, conv_backward_naive -> conv_{forward,backward}_naive."""
    if len(names) == 2:
        a, b = (n.split("_") for n in names)
        differ = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
        if len(a) == len(b) and len(differ) == 1:
            i = differ[0]
            return "_".join([*a[:i], f"{{{a[i]},{b[i]}}}", *a[i + 1 :]])
    return ", ".join(names)


def arguments(expected: str) -> list[None]:
    """Placeholders for the positional arguments of "name(a, b, config=None)"."""
    inside = expected.partition("(")[2].rpartition(")")[0]
    return [None for a in inside.split(",") if a.strip() and a.strip() != "self"]


def _short(filename: str) -> str:
    return Path(filename).name if os.sep in filename else filename


# --- Loading a folder of modules (cs231n) -------------------------------------------
def from_modules(api: str, path: Path, modules: tuple[str, ...], wanted) -> Student:
    """Import `modules` (stems) from the folder `path` as one package (or the one file
    `path`), and keep the functions named in `wanted`."""
    folder = path if path.is_dir() else path.parent
    stems = modules if path.is_dir() else (path.stem,)
    files = [folder / f"{stem}.py" for stem in stems if (folder / f"{stem}.py").is_file()]
    if not files:
        raise AdapterError(f"{path} holds none of {', '.join(f'{m}.py' for m in modules)}")
    package = _package(folder)
    defs, seen = {}, set()
    for file in files:
        tree = _parse(file.read_text(encoding="utf-8"), str(file))
        try:
            module = importlib.import_module(f"{package}.{file.stem}")
        except Exception as err:
            raise AdapterError(
                f"cannot import {file}: {type(err).__name__}: {err}{_line_of(err, str(file))}"
            ) from None
        seen.add(str(file))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in wanted:
                obj = getattr(module, node.name, None)
                if callable(obj):
                    defs[node.name] = Found(obj, f"{file.name}:{node.lineno}", node)
    return Student(api, path, defs, seen)


def _package(folder: Path) -> str:
    """A package for `folder` (its __init__.py is not run), named as the folder where
    that is free (old cs231n modules import `cs231n.im2col` by that name)."""
    name, n = folder.name, 0
    while not name.isidentifier() or name in sys.modules or importlib.util.find_spec(name):
        n += 1
        name = f"cnn_oracle_course_{n}"  # a fresh one: each load imports its own files
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    return name


def _parse(text: str, filename: str) -> ast.Module:
    try:
        return ast.parse(text, filename)
    except SyntaxError as err:
        raise AdapterError(f"{filename}, line {err.lineno}: SyntaxError: {err.msg}") from None


def _line_of(err: BaseException, filename: str) -> str:
    tb, line = err.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(err, SyntaxError) and err.filename == filename:
        line = err.lineno
    return f" (line {line})" if line else ""


# --- Extracting definitions from a notebook or a script (deeplearning.ai, nnfs) -----
def _cells(path: Path) -> list[tuple[str, str]]:
    """(label, source) of each code cell of a notebook, or of the whole .py file."""
    if path.suffix != ".ipynb":
        return [(path.name, path.read_text(encoding="utf-8"))]
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise AdapterError(f"{path} is not a notebook (JSON): {err}") from None
    out = []
    for i, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        out.append((f"{path.name}, cell {i}", _without_magics(source)))
    return out


def _without_magics(source: str) -> str:
    """IPython's %magics and !shell lines blanked out (line numbers kept)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _bound(node: ast.AST) -> list[str]:
    """The names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).partition(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def _constant(node: ast.AST) -> bool:
    """A top-level assignment of a constant (EPS = 1e-7), which is safe to execute."""
    if not isinstance(node, ast.Assign):
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _uses(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def from_source(api: str, path: Path, wanted, extra_globals: dict | None = None) -> Student:
    """Execute, from the notebook or script `path`, only the definitions in `wanted`,
    those they use (functions, classes, constants) and the imports those need."""
    top: dict[str, tuple[int, ast.AST, str]] = {}  # name -> (order, statement, label)
    broken, order = [], 0
    for label, source in _cells(path):
        try:
            tree = ast.parse(source, label)
        except SyntaxError as err:
            broken.append((label, err, source))
            continue
        for node in tree.body:
            if isinstance(node, _DEFINITIONS) or _constant(node):
                order += 1
                for name in _bound(node):
                    top[name] = (order, node, label)  # a later definition replaces it
    for label, err, source in broken:  # a cell we need that does not parse: say so
        if any(f"def {w}(" in source or f"class {w}" in source for w in wanted):
            raise AdapterError(f"{label}, line {err.lineno}: SyntaxError: {err.msg}")
    keep, todo = {}, [w for w in wanted if w in top]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep[name] = top[name]
            todo += [n for n in _uses(keep[name][1]) if n in top and n not in keep]
    # Imports first, then the definitions in the order of the source.
    statements = sorted(
        {id(s[1]): s for s in keep.values()}.values(),
        key=lambda s: (not isinstance(s[1], (ast.Import, ast.ImportFrom)), s[0]),
    )
    module = types.ModuleType(f"cnn_oracle_{api.replace('-', '_')}_code")
    module.__file__ = str(path)
    module.__dict__.update(extra_globals or {})
    sys.modules[module.__name__] = module
    files, defs = set(), {}
    for _, node, label in statements:
        files.add(label)
        try:
            # One definition, import or constant at a time: nothing else ever runs.
            exec(compile(ast.Module([node], []), label, "exec"), module.__dict__)
        except Exception as err:
            raise AdapterError(
                f"{label}, line {node.lineno}: {type(err).__name__}: {err}"
            ) from None
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            where = f"{label}, line {node.lineno}"
            defs[node.name] = Found(module.__dict__[node.name], where, node)
    return Student(api, path, defs, files)


_DEFINITIONS = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
