"""Run the catalogue: every mutant's selection in its own process, several at a time.

    python -m oracle_tests.mutants.runner [--jobs N] [--out DIR] [--spawn] [NAME ...]

prints one line per mutant (verdict, the test that killed it, seconds) and exits 1 if
any mutant survived, any control was killed, or the harness failed. Run it from the
repository root. It first runs the union of the selections WITHOUT a mutant (job
"none"), in parallel with the mutants: if the unmutated reference fails there, no
kill counts.

Each job is a fresh pytest session (`-p oracle_tests.mutants.plugin --mutant NAME`).
By default the runner imports torch, NumPy, hypothesis and the reference once and
forks one child per job, which saves the ~2 s (CPU) of imports per mutant; --spawn
starts a fresh interpreter per job instead. Test modules are never imported before
the fork, so every child imports them after its mutant is installed.
"""

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = "none"
TIMEOUT = 300.0  # seconds per job: a mutant that hangs a test is reported, not waited on
DESELECT = "not mutants and not e2e"  # never recurse into the catalogue or the long run


def _environment() -> None:
    os.environ.setdefault("HYPOTHESIS_PROFILE", "ci")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def pytest_args(name: str, selection: list[str], report: Path, stop_on_kill: bool) -> list[str]:
    """The pytest command line (after `python -m pytest`) of one job."""
    return [
        "-p",
        "oracle_tests.mutants.plugin",
        "--mutant",
        name,
        "--mutant-report",
        str(report),
        # cnn-oracle's own report, whose diagnosis the diagnosis matrix reads (matrix.py)
        "--oracle-json",
        str(report.with_suffix(".oracle.json")),
        *(["--mutant-stop-on-kill"] if stop_on_kill else []),
        "-p",
        "no:cacheprovider",
        "-q",
        "-m",
        DESELECT,
        "--rootdir",
        str(ROOT),
        *selection,
    ]


def jobs_for(names: list[str], out: Path) -> list[tuple[str, list[str]]]:
    """(name, pytest args) for the baseline then each mutant, the baseline first."""
    from ..known_bugs.catalogue import CATALOGUE

    union = sorted({arg for n in names for arg in CATALOGUE[n].kill})
    jobs = [(BASELINE, pytest_args(BASELINE, union, out / f"{BASELINE}.json", False))]
    for n in names:
        m = CATALOGUE[n]
        jobs.append((n, pytest_args(n, list(m.kill), out / f"{n}.json", not m.survives)))
    return jobs


def _preload() -> None:
    """Import the heavy libraries and the reference once, in the parent, before forking."""
    import hypothesis  # noqa: F401
    import hypothesis.strategies  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (torch.optim's first step imports it: ~2 s CPU)
    import torch.nn.functional  # noqa: F401

    import reference  # noqa: F401


def _start(args: list[str], log: Path, spawn: bool):
    """Start one pytest session; returns a handle for _poll."""
    if spawn:
        import subprocess

        with open(log, "wb") as f:
            return subprocess.Popen(
                [sys.executable, "-m", "pytest", *args],
                stdout=f,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
    pid = os.fork()
    if pid:
        return pid
    code = 3
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(ROOT)
        import pytest

        code = int(pytest.main(args))
    except BaseException:  # the child must never return into the parent's loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _poll(handle) -> tuple[int | None, float | None]:
    """(exit code or None while running, CPU seconds of a forked child once it ended)."""
    if not isinstance(handle, int):
        return handle.poll(), None
    pid, status, usage = os.wait4(handle, os.WNOHANG)
    if pid == 0:
        return None, None
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def _kill(handle) -> None:
    if isinstance(handle, int):
        os.kill(handle, 9)
        os.waitpid(handle, 0)
    else:
        handle.kill()
        handle.wait()


def run_jobs(jobs, out: Path, workers: int, spawn: bool) -> dict[str, dict]:
    """Run the jobs, `workers` at a time; name -> {exit, seconds, cpu_seconds}."""
    if not spawn:
        _preload()
    pending, running, done = list(jobs), {}, {}
    while pending or running:
        while pending and len(running) < workers:
            name, args = pending.pop(0)
            running[name] = (_start(args, out / f"{name}.log", spawn), time.monotonic())
        time.sleep(0.05)
        for name, (handle, start) in list(running.items()):
            (code, cpu), elapsed = _poll(handle), time.monotonic() - start
            if code is None and elapsed > TIMEOUT:
                _kill(handle)
                code = "timeout"
            if code is not None:
                cpu = None if cpu is None else round(cpu, 2)
                done[name] = {"exit": code, "seconds": round(elapsed, 2), "cpu_seconds": cpu}
                del running[name]
    return done


def verdict(name: str, result: dict | None, survives: bool) -> tuple[bool, str]:
    """(as expected?, explanation) for one job's plugin report (None if it wrote none)."""
    if result is None:
        return False, f"HARNESS: {name} wrote no report (crashed or timed out; see {name}.log)"
    if result["apply_error"]:
        return False, f"HARNESS: {name} could not be applied: {result['apply_error']}"
    failures, skipped = result["failures"], result.get("skipped", [])
    if not failures and not result["passed"] and skipped:
        return False, f"SKIPPED: every selected test skipped: {skipped[0]}"
    if name == BASELINE:
        if failures or not result["passed"] or result["exitstatus"] != 0:
            return False, f"HARNESS: the unmutated reference fails its selections: {failures}"
        return True, f"unmutated reference passes ({result['passed']} tests)"
    if not sum(result["calls"].values()):
        return False, f"HARNESS: {name} was never exercised by its selection: {result['calls']}"
    kills = [f for f in failures if f["kind"] == "assertion"]
    if survives:
        if failures or result["exitstatus"] != 0:
            return False, f"CONTROL KILLED: {name} must pass its selection, got {failures}"
        return True, f"control passes ({result['passed']} tests)"
    if kills:
        return True, f"killed by {kills[0]['nodeid']} ({kills[0]['message'][:120]})"
    crashes = [f for f in failures if f["kind"] == "mutant-crash"]
    if crashes:
        return False, f"MUTANT CRASHED (not a kill): {crashes[0]}"
    if failures:
        return False, f"NOT KILLED BY AN ASSERTION, only errors: {failures}"
    return False, f"SURVIVED: {name} passed all of {result['passed']} selected tests"


def diagnosed(oracle_report: Path) -> list[str]:
    """The bugs cnn-oracle named in one job ([] when no check failed or none ran)."""
    if not oracle_report.exists():
        return []
    return json.loads(oracle_report.read_text())["diagnosis"]["diagnosed"]


def run_catalogue(names: list[str], out: Path, workers: int, spawn: bool = False) -> dict:
    """Run the baseline and the named mutants; returns name -> result dict with verdict."""
    from ..known_bugs.catalogue import CATALOGUE

    _environment()
    out.mkdir(parents=True, exist_ok=True)
    timing = run_jobs(jobs_for(names, out), out, workers, spawn)
    summary = {}
    for name, t in timing.items():
        path = out / f"{name}.json"
        result = json.loads(path.read_text()) if path.exists() else None
        survives = name != BASELINE and CATALOGUE[name].survives
        ok, text = verdict(name, result, survives)
        summary[name] = {"ok": ok, "verdict": text, **t, "result": result}
        summary[name]["diagnosed"] = diagnosed(out / f"{name}.oracle.json")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _commit() -> str:
    import subprocess

    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "an unknown commit"


def markdown(names: list[str], summary: dict, totals: str) -> str:
    """The verdicts as a Markdown table: mutant, bug, verdict (the killing test)."""
    from ..known_bugs.catalogue import CATALOGUE

    lines = [
        "# The mutant catalogue, last run",
        "",
        f"Written by `python -m oracle_tests.mutants.runner --markdown ...` at {_commit()}: "
        f"{totals}.",
        "",
        "| mutant | bug | verdict |",
        "| --- | --- | --- |",
    ]
    for name in names:
        verdict = summary[name]["verdict"].split(" (")[0].replace("oracle_tests/", "")
        lines.append(f"| `{name}` | {CATALOGUE[name].bug} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from ..known_bugs.catalogue import CATALOGUE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mutant-catalogue"))
    parser.add_argument("--spawn", action="store_true", help="a fresh interpreter per job")
    parser.add_argument("--markdown", type=Path, help="also write the verdicts as a table here")
    opts = parser.parse_args(argv)
    names = opts.names or sorted(CATALOGUE)
    start = time.monotonic()
    summary = run_catalogue(names, opts.out, opts.jobs, opts.spawn)
    for name in [BASELINE, *names]:
        s = summary[name]
        mark, cpu = "ok " if s["ok"] else "BAD", s["cpu_seconds"] or 0.0
        print(f"{mark} {s['seconds']:6.1f}s {cpu:5.1f}s cpu {name}: {s['verdict']}")
    bad = sum(not s["ok"] for s in summary.values())
    cpu = sum(s["cpu_seconds"] or 0.0 for s in summary.values())
    wall = time.monotonic() - start
    totals = (
        f"{len(names)} mutants, {bad} not as expected, {wall:.0f}s wall with --jobs "
        f"{opts.jobs}, {cpu:.0f}s cpu in jobs"
    )
    print(totals)
    if opts.markdown:
        opts.markdown.write_text(markdown(names, summary, totals))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
