"""pytest plugin: run the oracle tests against one catalogued mutant.

    python -m pytest -p oracle_tests.mutants.plugin --mutant NAME [--mutant-report F] TESTS

The patch is installed in pytest_configure, before any test module is imported, so a
test's `from reference.layers.conv import conv2d_forward` binds the mutant. The plugin
then classifies every failure:

- "assertion": an AssertionError or pytest.fail (incl. pytest.raises' DID NOT RAISE),
  also inside a hypothesis exception group. Only these count as kills.
- "mutant-crash": any other exception raised by the mutant's own code (e.g. an
  AttributeError because a refactor renamed something it uses): a broken mutant.
- "error": any other exception (in the reference, the test or a fixture).

With --mutant-stop-on-kill the session stops at the first assertion failure. Hypothesis
still generates exactly the examples of the active profile, but skips shrinking: a
kill needs one failing example, not the minimal one. The report (JSON) holds the apply
error if any, the call count of every patched function, and the failures.
"""

import json
import traceback
from pathlib import Path

import pytest

from ..known_bugs.catalogue import CATALOGUE
from ..known_bugs.core import MutantApplyError, apply

MUTANTS_DIR = Path(__file__).resolve().parents[1] / "known_bugs"
KILL, CRASH, ERROR = "assertion", "mutant-crash", "error"


def pytest_addoption(parser):
    group = parser.getgroup("mutants", "the curated mutant catalogue")
    group.addoption("--mutant", default=None, help="apply this catalogued mutant (or 'none')")
    group.addoption("--mutant-report", default=None, help="write the outcome as JSON here")
    group.addoption(
        "--mutant-stop-on-kill", action="store_true", help="stop at the first assertion failure"
    )


class MutantSession:
    """Per-session state: the applied mutant, the failures seen, the output file."""

    def __init__(self, config):
        self.config = config
        self.name = config.getoption("--mutant")
        self.report = config.getoption("--mutant-report")
        self.stop_on_kill = config.getoption("--mutant-stop-on-kill")
        self.applied = None
        self.failures: list[dict] = []
        self.passed = 0
        self.skipped: list[str] = []
        self.session = None

    def install(self) -> None:
        if self.name in (None, "none"):
            return
        if self.name not in CATALOGUE:
            self.write(apply_error=f"unknown mutant {self.name!r}")
            raise pytest.UsageError(f"unknown mutant {self.name!r}")
        try:
            self.applied = apply(CATALOGUE[self.name])
        except MutantApplyError as err:
            self.write(apply_error=str(err))
            raise pytest.UsageError(f"mutant {self.name} could not be applied: {err}") from err

    def write(self, exitstatus=None, apply_error=None) -> None:
        if not self.report:
            return
        result = {
            "mutant": self.name,
            "apply_error": apply_error,
            "exitstatus": None if exitstatus is None else int(exitstatus),
            "calls": {} if self.applied is None else dict(self.applied.calls),
            "passed": self.passed,
            "skipped": self.skipped,
            "failures": self.failures,
        }
        Path(self.report).write_text(json.dumps(result, indent=1) + "\n")


def _innermost_project_frame(exc: BaseException) -> str | None:
    """File:line of the innermost frame outside site-packages and the stdlib."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "site-packages" not in frame.filename and "/lib/python" not in frame.filename:
            return f"{frame.filename}:{frame.lineno}"
    return None


def classify(exc: BaseException) -> tuple[str, str, str | None]:
    """(kind, exception type name, where) of one failure; see the module docstring."""
    group = getattr(exc, "exceptions", None)  # an ExceptionGroup (hypothesis, py>=3.11)
    if isinstance(group, list | tuple) and group:
        parts = [classify(e) for e in group]
        order = {KILL: 0, ERROR: 1, CRASH: 2}
        return min(parts, key=lambda part: order[part[0]])
    name = type(exc).__name__
    where = _innermost_project_frame(exc)
    if isinstance(exc, AssertionError | pytest.fail.Exception):
        return KILL, name, where
    if where is not None and where.startswith(str(MUTANTS_DIR)):
        return CRASH, name, where
    return ERROR, name, where


_STATE = pytest.StashKey[MutantSession]()


def pytest_configure(config):
    state = MutantSession(config)
    config.stash[_STATE] = state
    state.install()
    if state.stop_on_kill:
        from hypothesis import Phase, settings

        phases = [ph for ph in settings.default.phases if ph not in (Phase.shrink, Phase.explain)]
        settings.register_profile("mutant-run", settings.default, phases=phases)
        settings.load_profile("mutant-run")


def pytest_sessionstart(session):
    session.config.stash[_STATE].session = session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    state = item.config.stash[_STATE]
    if report.failed and call.excinfo is not None:
        kind, exc_type, where = classify(call.excinfo.value)
        message = str(call.excinfo.value).strip().splitlines()
        state.failures.append(
            {
                "nodeid": item.nodeid,
                "when": report.when,
                "kind": kind,
                "exception": exc_type,
                "where": where,
                "message": message[0][:300] if message else "",
            }
        )
        if kind == KILL and state.stop_on_kill and state.session is not None:
            state.session.shouldstop = f"mutant {state.name} killed by {item.nodeid}"
    elif report.when == "call" and report.passed:
        state.passed += 1
    elif report.skipped:
        state.skipped.append(f"{item.nodeid}: {report.longrepr[-1] if report.longrepr else ''}")
    return report


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_STATE].write(exitstatus=exitstatus)
