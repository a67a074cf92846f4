"""The mutmut score: `python -m oracle_tests.mutants.mutmut_score` after `mutmut run`.

Reads every mutant's status from `mutmut results --all true` (run in the current
directory, which must be the one mutmut ran in) and writes plots/mutation_score.json:

    score = (killed + timeout + segfault) / (total - equivalent)

Equivalent mutants (EQUIVALENT below, with the reason each cannot change any observable
result) are excluded from the denominator; every other survivor, and every mutant no
test reaches ("no tests"), counts against the score. SURVIVORS.md beside this file
discusses each survivor. A timeout or a segfault is a kill: the mutant made a test
hang or crash the interpreter.
"""

import argparse
import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .mutmut_equivalents import EQUIVALENT

OUT = Path("plots/mutation_score.json")
DETECTED = ("killed", "timeout", "segfault")


def statuses(cwd: Path = Path(".")) -> dict[str, str]:
    """mutant name -> mutmut status ("killed", "survived", "no tests", "timeout", ...)."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith("reference."):
            result[name] = status
    return result


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95% Wilson interval of a proportion k/n (for a score measured on a sample)."""
    if not n:
        return [0.0, 1.0]
    p, d = k / n, 1 + z * z / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [round((centre - half) / d, 4), round((centre + half) / d, 4)]


def score(status: dict[str, str]) -> dict:
    """One run's summary: counts, equivalents excluded, the score and what survived."""
    counts = Counter(status.values())
    # An interrupted run leaves mutants "not checked": they are reported, never scored.
    status = {n: s for n, s in status.items() if s != "not checked"}
    survivors = sorted(n for n, s in status.items() if s not in DETECTED)
    equivalent = sorted(n for n in survivors if n in EQUIVALENT)
    unexplained = [n for n in survivors if n not in EQUIVALENT]
    scored = len(status) - len(equivalent)
    detected = sum(counts[s] for s in DETECTED)
    by_module = Counter(re.split(r"\.x[_\u01c1]", n)[0] for n in unexplained)
    config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
    return {
        "tool": "mutmut 3.8.1",
        "mutated": config.get("only_mutate") or config.get("source_paths"),
        "tests": ["pytest", *config.get("pytest_add_cli_args_test_selection", [])],
        "total": len(status),
        "not_checked": counts["not checked"],
        "by_status": dict(sorted(counts.items())),
        "equivalent": len(equivalent),
        "scored": scored,
        "detected": detected,
        "score": round(detected / scored, 4) if scored else None,
        "score_95ci": wilson(detected, scored),
        "undetected_not_equivalent": unexplained,
        "undetected_by_module": dict(sorted(by_module.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=Path, help="score only the mutants listed here")
    parser.add_argument("--label", default="run", help="the run's key under 'runs' in --out")
    parser.add_argument("--headline", action="store_true", help="copy this run to the top")
    parser.add_argument("--note", default="", help="what was run, in one sentence")
    parser.add_argument(
        "--new-kills",
        type=Path,
        help="mutants that survived in mutmut's database but were re-run since against the "
        "new tests and killed (first word of each line; lines must say KILLED)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    opts = parser.parse_args(argv)
    status = statuses()
    if opts.names:
        wanted = set(opts.names.read_text().split())
        status = {n: s for n, s in status.items() if n in wanted}
    if not status:
        print("no mutmut results here: run `mutmut run` first, in this directory")
        return 1
    before = score(status)
    new_kills = []
    if opts.new_kills:
        lines = [line.split() for line in opts.new_kills.read_text().splitlines() if line.strip()]
        new_kills = sorted(
            w[0] for w in lines if "KILLED" in w and status.get(w[0]) in ("survived", "no tests")
        )
        status.update(dict.fromkeys(new_kills, "killed"))
    summary = {"note": opts.note, **score(status)}
    summary["before_new_tests"] = {k: before[k] for k in ("detected", "scored", "score")}
    summary["killed_by_new_tests"] = new_kills
    summary["equivalents_not_in_this_run"] = sorted(set(EQUIVALENT) - set(status))
    report = json.loads(opts.out.read_text()) if opts.out.exists() else {}
    report.setdefault("runs", {})[opts.label] = summary
    if opts.headline:
        keys = ("note", "mutated", "scored", "detected", "equivalent", "score", "score_95ci")
        report.update({"headline_run": opts.label, **{k: summary[k] for k in keys}})
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"{opts.label}: mutation score {summary['score']:.1%} {summary['score_95ci']}: "
        f"{summary['detected']} of {summary['scored']} detected ({summary['total']} mutants, "
        f"{summary['equivalent']} equivalent); {opts.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
