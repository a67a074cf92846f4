"""The mutant machinery: a registry of named bugs and the patcher that applies one.

A mutant is a function `f(p: Patcher)` that reads originals with `p.original(...)` and
registers replacements with `p.patch(...)`. Nothing is written to disk: `apply()` sets
module and class attributes at run time (before the tests are imported, see plugin.py)
and `Applied.undo()` puts them back.

Three checks turn a stale mutant into a loud harness failure instead of a silent kill:
- a patch point that no longer exists raises MutantApplyError;
- a replacement must have the original's parameter names and kinds, so a changed
  public signature raises MutantApplyError too;
- every replacement counts its calls, so a patch the tests never reach shows up as
  "never exercised" (e.g. after a refactor stopped routing through the public function).
"""

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass

# Where the code under test lives: aliases of a patched function are rebound in every
# loaded module of this package (e.g. a re-export in reference/__init__.py).
PACKAGE = "reference"


class MutantApplyError(RuntimeError):
    """A mutant's patch point vanished or changed signature: fix the mutant, not the tests."""


@dataclass(frozen=True)
class Mutant:
    """One catalogued bug.

    name: the registry key (the mutant function's name).
    bug: one line: what is wrong, and why a real implementation could contain it.
    kill: pytest arguments (node ids, files relative to oracle_tests/, or "-k EXPR")
        selecting the few oracle tests that must catch it.
    make: the function that registers the patches on a Patcher.
    survives: True for a control, a correct re-implementation through the same
        machinery, which the selected tests must PASS (proves kills are not artefacts).
    diagnosis: for a bug the suite can name (see oracle_tests/diagnosis.py), one
        sentence for the user: what the implementation does, what torch does, the fix.
    factory: the adapter factory whose layer it shows up in, where its module alone does
        not say (several pieces in one reference module); else diagnosis.FACTORY_OF.
    """

    name: str
    bug: str
    kill: tuple[str, ...]
    make: Callable[["Patcher"], None]
    survives: bool = False
    diagnosis: str | None = None
    factory: str | None = None

    @property
    def targets(self) -> list[str]:
        """The "module:qualname" patch points, found by a dry run of `make`."""
        p = Patcher()
        self.make(p)
        return [t for t, _ in p.replacements]

    @property
    def component(self) -> str:
        """The module of the reference that it patches, e.g. "layers.pool" or "optim"."""
        modules = {t.split(":")[0].removeprefix(PACKAGE).lstrip(".") for t in self.targets}
        if len(modules) != 1:
            raise MutantApplyError(f"mutant {self.name} patches several modules: {modules}")
        return modules.pop()


CATALOGUE: dict[str, Mutant] = {}


def mutant(
    *,
    bug: str,
    kill: tuple[str, ...] | list[str],
    survives: bool = False,
    diagnosis: str | None = None,
    factory: str | None = None,
):
    """Register the decorated `f(p: Patcher)` in CATALOGUE under its function name."""

    def register(make: Callable[["Patcher"], None]) -> Callable[["Patcher"], None]:
        name = make.__name__
        if name in CATALOGUE:
            raise ValueError(f"duplicate mutant name {name}")
        text = " ".join(diagnosis.split()) if diagnosis else None
        CATALOGUE[name] = Mutant(
            name, " ".join(bug.split()), tuple(kill), make, survives, text, factory
        )
        return make

    return register


def _resolve(module: str, qualname: str) -> tuple[object, str, object]:
    """(owner, attribute name, current value) of module:qualname, e.g. "optim", "Adam.step"."""
    try:
        owner = importlib.import_module(module)
        *path, attr = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        return owner, attr, inspect.getattr_static(owner, attr)
    except (ImportError, AttributeError) as err:
        raise MutantApplyError(f"patch point {module}:{qualname} does not exist ({err})") from err


def _check_signature(target: str, original: object, replacement: Callable) -> None:
    """The replacement must accept exactly what the original accepts (defaults may differ)."""
    if not callable(original):
        return

    def shape(f):
        return [(q.name, q.kind) for q in inspect.signature(f).parameters.values()]

    if shape(original) != shape(replacement):
        raise MutantApplyError(
            f"{target}: the public signature changed; the original takes "
            f"{inspect.signature(original)}, the mutant {inspect.signature(replacement)}"
        )


class Patcher:
    """Collects a mutant's replacements; `apply()` installs them and counts their calls.

    package: the import name of the reference to patch; the diagnosis patches a private
    copy of it (oracle_tests/diagnosis.py) and leaves `reference` itself alone.
    """

    def __init__(self, package: str = PACKAGE):
        self.package = package
        self.replacements: list[tuple[str, Callable]] = []

    def original(self, module: str, qualname: str) -> Callable:
        """The current (unpatched) object at module:qualname; raises if it vanished."""
        return _resolve(f"{self.package}.{module}" if module else self.package, qualname)[2]

    def patch(self, module: str, qualname: str, replacement: Callable) -> None:
        """Replace module:qualname (module relative to the package) by `replacement`."""
        full = f"{self.package}.{module}" if module else self.package
        self.replacements.append((f"{full}:{qualname}", replacement))


class Applied:
    """The installed patches of one mutant: call counts, and `undo()`."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        self._restore: list[tuple[object, str, object]] = []

    def set(self, owner: object, attr: str, value: object) -> None:
        self._restore.append((owner, attr, inspect.getattr_static(owner, attr)))
        setattr(owner, attr, value)

    def undo(self) -> None:
        for owner, attr, value in reversed(self._restore):
            setattr(owner, attr, value)
        self._restore.clear()


def _counted(target: str, replacement: Callable, calls: dict[str, int]) -> Callable:
    @functools.wraps(replacement)
    def counting(*args, **kwargs):
        calls[target] += 1
        return replacement(*args, **kwargs)

    return counting


def apply(m: Mutant, package: str = PACKAGE) -> Applied:
    """Install mutant `m` into `package` (the reference, or a copy of it under another
    import name). Raises MutantApplyError (and installs nothing) if it is stale."""
    p = Patcher(package)
    m.make(p)
    if not p.replacements:
        raise MutantApplyError(f"mutant {m.name} patches nothing")
    plan = []
    for target, replacement in p.replacements:
        module, qualname = target.split(":")
        owner, attr, original = _resolve(module, qualname)
        _check_signature(target, original, replacement)
        plan.append((target, owner, attr, original, replacement))
    applied = Applied()
    for target, owner, attr, original, replacement in plan:
        applied.calls[target] = 0
        wrapped = _counted(target, replacement, applied.calls)
        applied.set(owner, attr, wrapped)
        if inspect.isclass(owner):
            continue
        # Rebind re-exports (`from .conv import conv2d_forward`) of module-level objects.
        for name, mod in list(sys.modules.items()):
            if mod is owner or not (name == package or name.startswith(package + ".")):
                continue
            for alias, value in list(vars(mod).items()):
                if value is original:
                    applied.set(mod, alias, wrapped)
    return applied
