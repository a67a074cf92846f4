"""The pytest plugin (entry point `cnn_oracle`): which implementation the checks run on,
the run's header, "not provided", expected failures, and the report.

    pytest --impl MODULE[:OBJECT]     or    CNN_ORACLE_IMPL=MODULE[:OBJECT] pytest
    --xfails FILE          check ids (prefixes), one a line, with a `# reason`
    --oracle-json PATH     the report as JSON;  --oracle-markdown PATH  as Markdown

Without --impl the checks run on the reference's adapter, through the same path as
any other implementation.
"""

import dataclasses
import functools
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable

from . import contract, report
from .contract import CheckFailure, Implementation, load_adapter
from .tape import TAPE

ENV_VAR = "CNN_ORACLE_IMPL"
CHECKS_PACKAGE = "oracle_tests.checks"

# --- Hypothesis profiles ----------------------------------------------------------
# Declined examples (an adapter's NotImplementedError for some arguments) are filtered
# on purpose, so filter_too_much is no health failure here: a property whose every
# example is declined is reported "not provided" instead.
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# No "explain" phase: its coverage notes name lines of the suite, not of the adapter.
_PHASES = [p for p in Phase if p is not Phase.explain]
# "ci": deterministic (derandomize), no deadline (shared machines are noisy), and
# 30 examples per property: ~750 torch comparisons, each a fresh shape/stride/padding/tie
# pattern, inside the suite's time budget.
# No print_blob: its "@reproduce_failure" advice names the suite's functions, not the
# user's; a failure gives its drawn arguments in words and a cnn-oracle line instead.
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=30, print_blob=False,
    suppress_health_check=_SUPPRESS, phases=_PHASES,
)  # fmt: skip
# "thorough": for local runs before a release; random, 1000 examples per property.
settings.register_profile(
    "thorough", deadline=None, max_examples=1000, suppress_health_check=_SUPPRESS, phases=_PHASES
)


def check(quantity: str):
    """Mark a test as a conformance check of `quantity` (its module's LAYER is the layer)."""
    return pytest.mark.check(quantity=quantity)


def pytest_addoption(parser):
    group = parser.getgroup("cnn-oracle", "the conformance suite (cnn-oracle)")
    group.addoption(
        "--impl", default=None, metavar="MODULE[:OBJECT]",
        help=f"the adapter to check (default: ${ENV_VAR}, else {contract.DEFAULT_IMPL})",
    )  # fmt: skip
    group.addoption(
        "--xfails", default=None, metavar="FILE", help="expected failures, one id a line"
    )
    group.addoption(
        "--require-all", action="store_true", help="fail the run if a check is not provided"
    )
    group.addoption(
        "--oracle-timeout", type=float, default=contract.TIMEOUT["seconds"], metavar="SECONDS",
        help="fail a check whose call to the adapter runs longer (0: no limit)",
    )  # fmt: skip
    group.addoption("--oracle-json", default=None, metavar="PATH", help="write the report as JSON")
    group.addoption("--oracle-markdown", default=None, metavar="PATH", help="... as Markdown")


class OracleSession:
    """Per-run state: the adapter, the expected failures, the finished checks."""

    def __init__(self, config):
        self.spec = config.getoption("--impl") or os.environ.get(ENV_VAR) or None
        self.adapter = load_adapter(self.spec)
        self.xfails = _read_xfails(config.getoption("--xfails"))
        self.used: set[str] = set()
        self.checks: list[dict] = []
        self.start = time.monotonic()
        self._conventions: dict | None = None

    def conventions(self) -> dict:
        """The convention probes' observations (conventions/), run once, after the checks."""
        if self._conventions is None:
            from .conventions import observe

            self._conventions = observe(Implementation(self.adapter))
        return self._conventions


def _read_xfails(path: str | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise pytest.UsageError(f"--xfails {path}: {err.strerror}") from None
    entries = {}
    for line in text.splitlines():
        ident, _, reason = line.partition("#")
        if ident.strip():
            entries[ident.strip()] = reason.strip() or f"listed in {path}"
    return entries


_STATE = pytest.StashKey[OracleSession]()


def pytest_configure(config):
    config.addinivalue_line("markers", "check(quantity): a conformance check of the adapter")
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    contract.TIMEOUT["seconds"] = config.getoption("--oracle-timeout")
    try:
        config.stash[_STATE] = OracleSession(config)
    except contract.AdapterError as err:
        raise pytest.UsageError(f"cnn-oracle: {err}") from None


def pytest_report_header(config):
    a = config.stash[_STATE].adapter
    dtypes = ", ".join(a.dtypes) + ("" if a.dtypes_declared else " (not declared: both)")
    missing = [f for f in contract.FACTORIES if f not in a.factories]
    named = []  # an imported function is said to be one: it may be no factory at all
    for f in a.factories:
        imported = contract.foreign(a.obj, getattr(a.obj, f))
        named.append(f"{f} (imported: {imported})" if imported else f)
    return [
        f"cnn-oracle: checking {a.name} ({a.spec}, module {a.module}); dtypes {dtypes}",
        f"cnn-oracle: factories {', '.join(named)}"
        + (f"; missing (not provided): {', '.join(missing)}" if missing else ""),
        f"cnn-oracle: {ENV_VAR}={os.environ.get(ENV_VAR, '')!r}, "
        f"HYPOTHESIS_PROFILE={os.environ.get('HYPOTHESIS_PROFILE', 'ci')!r}",
    ]


def check_id(item) -> str:
    """A check's id, the same wherever the suite is installed: checks/FILE::NAME."""
    return f"checks/{Path(str(item.path)).name}::{item.name}"


def _is_check(item) -> bool:
    return item.get_closest_marker("check") is not None


# The arguments hypothesis drew for the example running now (the failing one, when a
# check fails: hypothesis runs its shrunk example last).
EXAMPLE: dict = {}


def _record_examples(fn) -> None:
    """Wrap a hypothesis test's inner function (hypothesis's documented hook) so that
    each example's arguments are kept in EXAMPLE."""
    hyp = getattr(fn, "hypothesis", None)
    if hyp is None or getattr(hyp.inner_test, "_records_examples", False):
        return
    inner = hyp.inner_test

    @functools.wraps(inner)
    def recording(*args, **kwargs):
        EXAMPLE.clear()
        EXAMPLE.update(kwargs)
        return inner(*args, **kwargs)

    recording._records_examples = True
    hyp.inner_test = recording


def _words(value) -> str:
    """A drawn argument in words: a dataclass's fields, plain numbers, dtype names."""
    if dataclasses.is_dataclass(value):
        return ", ".join(f"{f.name}={getattr(value, f.name)}" for f in dataclasses.fields(value))
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _example_lines(item, drawn: dict, notes: list[str]) -> list[str]:
    """The failing example in words, and the command that runs this check alone."""
    fixed = set(item.funcargs)
    said = [f"{k}: {_words(v)}" for k, v in drawn.items() if k not in fixed and k != "data"]
    said += [n.strip() for n in notes if n.strip().startswith("Draw ")]  # labelled draws
    from .presets import command

    spec = command(item.config.stash[_STATE].adapter.spec)
    lines = [f"example: {'; '.join(said)}"] if said else []
    return lines + [f'reproduce: cnn-oracle check {spec} -- -k "{item.name}"']


def pytest_collection_modifyitems(config, items):
    state = config.stash[_STATE]
    for item in items:
        if not _is_check(item):
            continue
        _record_examples(item.obj)
        ident = check_id(item)
        for prefix, reason in state.xfails.items():
            if ident.startswith(prefix):
                state.used.add(prefix)
                item.add_marker(pytest.mark.xfail(reason=reason, raises=AssertionError))
                break


@pytest.fixture(scope="session")
def impl(pytestconfig) -> Implementation:
    """The implementation under test, through its adapter."""
    return Implementation(pytestconfig.stash[_STATE].adapter)


@pytest.fixture(scope="session")
def mnist():
    """(x_train, y_train, x_test, y_test) of the seed's run: 12k train images, 10k test.

    Missing data skips locally but FAILS in CI (CI=true): a green CI must mean the
    real-data checks ran.
    """
    from reference import DatasetError, load_mnist

    try:
        return load_mnist(train_size=12000)
    except DatasetError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"MNIST is required in CI and could not be loaded: {e}")
        why = str(e).partition(":")[0]  # the download errors that follow run to a page
        pytest.skip(f"MNIST not available ({why}); set MNIST_DIR to a folder with its 4 files")


def pytest_runtest_setup(item):
    contract.DECLINED.clear()
    report.begin()


_DIAGNOSIS = pytest.StashKey[dict]()
_EXAMPLE = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    try:
        return (yield)
    except Unsatisfiable:
        if not contract.DECLINED:
            raise
        reasons = sorted(set(contract.DECLINED))
        pytest.skip(f"not provided: {report.DECLINED_ALL}{'; '.join(reasons)}")
    except Exception as exc:  # a CheckFailure, or several in a hypothesis ExceptionGroup
        expected = pyfuncitem.get_closest_marker("xfail") is not None
        if _is_check(pyfuncitem) and _owned(exc):
            notes = [n for e in (exc, *getattr(exc, "exceptions", ())) for n in _notes(e)]
            pyfuncitem.stash[_EXAMPLE] = _example_lines(pyfuncitem, dict(EXAMPLE), notes)
            if not expected:
                pyfuncitem.stash[_DIAGNOSIS] = _diagnose(pyfuncitem)
        raise


def _diagnose(item) -> dict | None:
    """Run the failed check again with the tape on, and diagnose its last example.

    Only failures pay for this. Hypothesis replays the failing example (the "ci"
    profile is derandomized); the tape restarts with every example, so it ends holding
    the failing one.
    """
    from .diagnosis import diagnose

    fn = item.obj
    kwargs = {name: item.funcargs[name] for name in item._fixtureinfo.argnames}
    hyp = getattr(fn, "hypothesis", None)
    inner = hyp.inner_test if hyp is not None else None
    if hyp is not None:

        @functools.wraps(inner)
        def each_example(*args, **kw):
            TAPE.reset()
            return inner(*args, **kw)

        hyp.inner_test = each_example  # hypothesis's documented hook for wrapping a test
    TAPE.reset()
    TAPE.recording = True
    failed = False
    try:
        with report.muted():
            fn(**kwargs)
    except (Exception, pytest.skip.Exception, pytest.fail.Exception):
        failed = True
    finally:
        TAPE.recording = False
        if hyp is not None:
            hyp.inner_test = inner
    try:
        if not failed:
            return {
                "diagnosed": [],
                "layers": [],
                "text": "diagnosis: none (it passed when run again)",
            }
        return diagnose(TAPE)
    except Exception as err:  # the check's own failure stands; the diagnosis gives way
        return {
            "diagnosed": [],
            "layers": [],
            "text": f"diagnosis: none (the diagnosis itself failed: {type(err).__name__}: "
            f"{err}; please report this to the suite's authors)",
        }
    finally:
        TAPE.reset()


def _notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", None) or [])


def _message(exc: BaseException, item=None) -> str:
    """A check failure's message, then its example in words: no traceback, and none of
    hypothesis's notes, which show the suite's objects and functions."""
    parts = getattr(exc, "exceptions", None)
    if parts:  # several distinct failures (an ExceptionGroup)
        text = "\n".join(_message(e) for e in parts)
    else:
        text = str(exc).strip()
    if item is not None:
        text = "\n".join([text, *item.stash.get(_EXAMPLE, [])])
    return text


def _owned(exc: BaseException) -> bool:
    parts = getattr(exc, "exceptions", None)
    if parts:
        return all(_owned(e) for e in parts)
    return isinstance(exc, CheckFailure)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if not _is_check(item):
        return rep
    if rep.failed and call.excinfo is not None and _owned(call.excinfo.value):
        rep.longrepr = _message(call.excinfo.value, item)
        found = item.stash.get(_DIAGNOSIS, None)
        if found:
            rep.longrepr += "\n" + found["text"]
    if rep.skipped and isinstance(rep.longrepr, tuple):
        # Point "not provided" at the check, not at the suite's helper that said so.
        rep.longrepr = (str(item.path), item.location[1] + 1, rep.longrepr[2])
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        _finish(item, rep, call)
    return rep


def _finish(item, rep, call) -> None:
    state = item.config.stash[_STATE]
    xfail = hasattr(rep, "wasxfail")
    if rep.passed:
        status = "passed"
        reason = f"expected to fail ({rep.wasxfail}) but passed: remove it" if xfail else None
    elif rep.skipped:
        status = "expected failure" if xfail else "not provided"
        reason = rep.wasxfail if xfail else _skip_reason(rep)
    else:
        status = "failed"
        reason = _message(call.excinfo.value, item) if call.excinfo else str(rep.longrepr)
        found = item.stash.get(_DIAGNOSIS, None)
        if found and call.excinfo:
            reason += "\n" + found["text"]
    notes = report.notes()
    max_err, tol = report.finish()
    params = getattr(getattr(item, "callspec", None), "params", {})
    dtype = params.get("dtype")
    state.checks.append(
        {
            "id": check_id(item),
            "layer": item.module.LAYER,
            "quantity": item.get_closest_marker("check").kwargs["quantity"],
            "dtype": getattr(dtype, "__name__", None) or (str(dtype) if dtype else "float64"),
            "status": status,
            "reason": reason,
            "max_abs_err": max_err,
            "tolerance": tol,
            "diagnosis": item.stash.get(_DIAGNOSIS, None) if status == "failed" else None,
            "notes": notes,
        }
    )


def _skip_reason(rep) -> str:
    longrepr = rep.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash[_STATE]
    for prefix in sorted(set(state.xfails) - state.used):
        terminalreporter.write_line(
            f"cnn-oracle: warning: --xfails entry {prefix!r} matches no check"
        )
    if not state.checks:
        return
    terminalreporter.section(f"cnn-oracle: {state.adapter.name}")
    for line in pytest_report_header(config):
        terminalreporter.write_line(line)
    for line in report.summary_lines(state.checks):
        terminalreporter.write_line(line)
    # Causes first (one line per layer and cause, with its count), then each failure.
    for line in report.diagnosis_lines(state.checks):
        terminalreporter.write_line(line)
    for c in state.checks:
        if c["status"] == "failed":
            first = (c["reason"] or "").partition("\n")[0]
            terminalreporter.write_line(f"FAILED {c['id']}: {first[:300]}")
    composed = sorted({n for c in state.checks if c["layer"] == "Network" for n in c["notes"]})
    if composed:
        terminalreporter.write_line(f"NETWORK composed with {'; '.join(composed)}")
    for line in report.convention_lines(state.conventions()):
        terminalreporter.write_line(line)
    missing = [c["id"] for c in state.checks if c["status"] == "not provided"]
    for line in report.not_provided_lines(state.checks):
        terminalreporter.write_line(line)
    if config.getoption("--require-all") and missing:
        terminalreporter.write_line(
            f"cnn-oracle: --require-all: {len(missing)} checks not provided, e.g. {missing[0]}"
        )


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash.get(_STATE, None)
    if state is None or not state.checks:
        return
    missing = [c["id"] for c in state.checks if c["status"] == "not provided"]
    if session.config.getoption("--require-all") and missing and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    from .tolerances import tolerance_table

    duration = time.monotonic() - state.start
    rep = report.build(state.adapter, state.checks, duration, state.conventions())
    json_path = session.config.getoption("--oracle-json")
    md_path = session.config.getoption("--oracle-markdown")
    if json_path:
        _atomic_write(Path(json_path), json.dumps(rep, indent=1) + "\n")
    if md_path:
        _atomic_write(Path(md_path), report.markdown(rep, tolerance_table()))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
