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

import json
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


def score(status: dict[str, str]) -> dict:
    """The summary written to plots/mutation_score.json."""
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
        "undetected_not_equivalent": unexplained,
        "undetected_by_module": dict(sorted(by_module.items())),
    }


def main() -> int:
    status = statuses()
    if not status:
        print("no mutmut results here: run `mutmut run` first, in this directory")
        return 1
    stale = sorted(set(EQUIVALENT) - set(status))
    summary = score(status)
    summary["equivalents_not_in_this_run"] = stale
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"mutation score {summary['score']:.1%}: {summary['detected']} of {summary['scored']} "
        f"detected ({summary['total']} mutants, {summary['equivalent']} equivalent); {OUT}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
