"""The conformance report: what ran on which implementation, and how each check ended.

`record_comparison` is called by every `compare()`; the plugin opens a check per test
(`begin`) and closes it with its outcome (`finish`). `build` assembles the JSON object
that `--oracle-json` writes, `markdown` the same as tables.
"""

import contextlib
import functools
import importlib.metadata
import math
import platform
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

LAYERS = (
    "Conv2d",
    "ReLU",
    "MaxPool2d",
    "Flatten",
    "Linear",
    "CrossEntropy",
    "Adam",
    "SGD",
    "RMSprop",
    "Softmax",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "MSELoss",
    "BCELoss",
    "CEOnProbs",
    "BatchNorm2d",
    "BatchNorm1d",
    "Dropout",
    "AvgPool2d",
    "Network",
)
STATUSES = ("passed", "failed", "not provided", "expected failure")

# (layer, quantity, dtype, oracle) -> the largest errors over every comparison of it.
ERRORS: dict[tuple[str, str, str, str], dict] = {}
_current: dict | None = None
_muted = False


@contextlib.contextmanager
def muted():
    """Record nothing meanwhile (the diagnosis's second run of a failed check)."""
    global _muted
    _muted = True
    try:
        yield
    finally:
        _muted = False


def begin() -> None:
    """Start collecting the comparisons of one check."""
    global _current
    _current = {"worst": None, "notes": []}


def note(text: str) -> None:
    """Say something about how the current check ran (e.g. which composition), kept
    in its report entry whatever its outcome."""
    if _current is not None and not _muted and text not in _current["notes"]:
        _current["notes"].append(text)


def notes() -> list[str]:
    """The current check's notes (read before finish())."""
    return list(_current["notes"]) if _current else []


def record_comparison(layer, quantity, dtype, oracle, err, rel, bound, tol) -> None:
    """Fold one comparison into the error table and into the current check."""
    if _muted:
        return
    row = ERRORS.setdefault(
        (layer, quantity, dtype, oracle),
        {"checks": 0, "max_abs_err": 0.0, "max_rel_err": 0.0, "rtol": 0.0, "atol": 0.0},
    )
    row["checks"] += 1
    # The loosest tolerance this row was held to (some checks use a data-dependent atol).
    row["rtol"] = max(row["rtol"], float(tol["rtol"]))
    row["atol"] = max(row["atol"], float(tol["atol"]))
    if not err.size:
        return
    row["max_abs_err"] = max(row["max_abs_err"], float(err.max()))
    row["max_rel_err"] = max(row["max_rel_err"], float(rel.max()))
    if _current is None:
        return
    # The check reports its comparison nearest to failing: the largest err / bound.
    # A huge error over a zero bound overflows to inf, which is the right ratio: no warning.
    with np.errstate(over="ignore"):
        ratio = float(np.max(err / np.maximum(bound, np.finfo(np.float64).tiny)))
    worst = _current["worst"]
    if worst is None or ratio > worst[0]:
        tolerance = {"rtol": float(tol["rtol"]), "atol": float(tol["atol"])}
        _current["worst"] = (ratio, float(err.max()), tolerance)


def finish() -> tuple[float | None, dict | None]:
    """(max_abs_err, tolerance) of the current check's comparison nearest to failing."""
    global _current
    worst = _current["worst"] if _current else None
    _current = None
    return (None, None) if worst is None else (worst[1], worst[2])


@functools.cache
def environment() -> dict:
    """The suite's version and commit, and the versions of what it ran on."""
    try:
        version = importlib.metadata.version("seed-cnn-oracle")
    except importlib.metadata.PackageNotFoundError:
        version = None
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {
        "suite_version": version,
        "suite_commit": _git_commit(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch_version,
        "platform": platform.platform(),
    }


def _git_commit() -> str | None:
    """The commit of the suite's checkout, when it runs from one (not from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def summary(checks: list[dict]) -> dict:
    """layer -> status -> count, every layer and status present."""
    counts = Counter((c["layer"], c["status"]) for c in checks)
    return {layer: {s: counts[layer, s] for s in STATUSES} for layer in LAYERS}


def diagnosis_summary(checks: list[dict]) -> dict:
    """The run's diagnosis: per layer that a failing check found differing, how many
    checks reach it, the causes that explain them and, where no known bug does, the
    signatures seen; `diagnosed`, the known bugs of every layer's causes.

    One cause per headline: a layer's causes are the fewest known bugs (or pairs) that
    between them explain every check naming any, taken greedily, most checks first; a
    bug named only where a broader one is named too (NaN to 0 in the forward, where the
    forward-and-backward variant explains those checks and more) is left out.
    """
    layers: dict[str, dict] = {}
    for c in checks:
        for found in (c.get("diagnosis") or {}).get("layers", []):
            row = layers.setdefault(
                found["layer"],
                {"failing_checks": 0, "named": [], "signatures": Counter(), "texts": {}},
            )
            row["failing_checks"] += 1
            row["named"].append(set(found["matches"]))
            for sig in found.get("signatures", []):
                row["signatures"][sig["id"]] += 1
                row["texts"].setdefault(sig["id"], sig["text"])
    diagnosed = []
    for row in layers.values():
        row["matches"] = _cover(row.pop("named"))
        diagnosed += [b for m in row["matches"] for b in m.split(" + ") if b not in diagnosed]
        row["signatures"] = dict(row["signatures"].most_common())
    return {"diagnosed": diagnosed, "layers": layers}


def _cover(named: list[set]) -> dict[str, int]:
    """match -> the checks naming it, for few known bugs that explain every check that
    names any. Greedy on bugs, not matches: the match with the most checks per bug it
    adds first, a match of bugs already chosen before any other (a check whose NaN hides
    everything else, matched by many pairs, takes the pair with the bug the other checks
    name), then by name."""
    left = [n for n in named if n]
    out, chosen = {}, set()

    def key(m):
        new = len(set(m.split(" + ")) - chosen)
        return (-(counts[m] / new) if new else -math.inf, new, m)

    while left:
        counts = Counter(m for n in left for m in n)
        best = min(counts, key=key)
        chosen |= set(best.split(" + "))
        out[best] = sum(best in n for n in named)
        left = [n for n in left if best not in n]
    return out


def findings(summary: dict) -> list[dict]:
    """One finding per (layer, cause): a known bug (or pair) the failing checks name, and
    each signature of the failing checks that no known bug explains; with how many
    failing checks support it."""
    from .diagnosis import sentence

    out = []
    for layer, row in summary["layers"].items():
        bugs = Counter()  # a bug alone and in a pair is one finding, its checks summed
        for match, n in row["matches"].items():
            for bug in match.split(" + "):
                bugs[bug] += n
        for bug, n in bugs.items():
            out.append({"layer": layer, "id": bug, "checks": n, "text": sentence(bug)})
        for sig, n in row["signatures"].items():
            out.append({"layer": layer, "id": sig, "checks": n, "text": row["texts"][sig]})
    return out


def diagnosis_lines(checks: list[dict]) -> list[str]:
    """One DIAGNOSIS line per (layer, cause) that failing checks found, with its count."""
    from .diagnosis import sentence

    lines = []
    for layer, row in diagnosis_summary(checks)["layers"].items():
        head = f"DIAGNOSIS {layer} ({row['failing_checks']} failing checks differ there): "
        for name, n in row["matches"].items():
            lines.append(head + f"matches {sentence(name)} ({n} checks)")
        if not row["matches"] and not row["signatures"]:
            lines.append(head + "no known bug matches")
        for sig, n in row["signatures"].items():
            lines.append(head + f"no known bug matches; {row['texts'][sig]} ({n} checks)")
    return lines


def convention_lines(conventions: dict) -> list[str]:
    """One CONVENTION line per point that differs from torch, then one for the rest (the
    probe that decided each is in the report)."""
    lines = [
        f"CONVENTION {name}: {c['observed']} (torch: {c['torch']})"
        for name, c in conventions.items()
        if c["status"] == "differs"
    ]
    same = [name for name, c in conventions.items() if c["status"] == "torch's"]
    unseen = [name for name, c in conventions.items() if c["status"] == "not observed"]
    if same:
        lines.append(f"CONVENTIONS as torch's: {', '.join(same)}")
    if unseen:
        lines.append(f"CONVENTIONS not observed (a piece missing or failing): {', '.join(unseen)}")
    return lines


def build(adapter, checks: list[dict], duration: float, conventions: dict) -> dict:
    """The report object that --oracle-json writes."""
    diagnosis = diagnosis_summary(checks)
    return {
        "implementation": {
            "name": adapter.name,
            "module": adapter.module,
            "spec": adapter.spec,
            "dtypes": list(adapter.dtypes),
        },
        "environment": environment(),
        "duration_seconds": round(duration, 1),
        "checks": checks,
        "summary": summary(checks),
        "diagnosis": diagnosis,
        "findings": findings(diagnosis),
        "conventions": conventions,
        "errors": [
            {"layer": k[0], "quantity": k[1], "dtype": k[2], "oracle": k[3], **v}
            for k, v in sorted(ERRORS.items())
        ],
    }


def summary_lines(checks: list[dict]) -> list[str]:
    """The per-layer table, as printed at the end of a run; layers none of whose checks
    ran (the adapter lacks the piece) are named on one line below it instead of a row."""
    lines = [f"{'layer':<14}" + "".join(f"{s:>18}" for s in STATUSES)]
    total, absent = Counter(), []
    for layer, row in summary(checks).items():
        if not any(row.values()):
            continue
        total.update(row)
        if row["not provided"] == sum(row.values()):
            absent.append(layer)
            continue
        lines.append(f"{layer:<14}" + "".join(f"{row[s]:>18}" for s in STATUSES))
    lines.append(f"{'all':<14}" + "".join(f"{total[s]:>18}" for s in STATUSES))
    if absent:
        lines.append(f"not provided at all: {', '.join(absent)}")
    return lines


DECLINED_ALL = "every example was declined: "


def not_provided_lines(checks: list[dict]) -> list[str]:
    """One NOT PROVIDED line per reason, with its count; the missing factories on one."""
    # A property whose every example was declined has the reason of a plain check.
    reasons = Counter(
        (c["reason"] or "").removeprefix("not provided: ").removeprefix(DECLINED_ALL)
        for c in checks
        if c["status"] == "not provided"
    )
    missing = {r: n for r, n in reasons.items() if re.fullmatch(r"the adapter has no \w+\(\)", r)}
    lines = []
    if missing:
        names = ", ".join(r.removeprefix("the adapter has no ") for r in missing)
        lines.append(f"NOT PROVIDED ({sum(missing.values())}): the adapter has no {names}")
    for reason, n in reasons.most_common():
        if reason not in missing:
            lines.append(f"NOT PROVIDED ({n}): {reason}")
    return lines


def markdown(report: dict, tolerances: dict) -> str:
    """The report as Markdown: header, per-layer summary, every check, the error table."""
    impl, env = report["implementation"], report["environment"]
    failed = sum(row["failed"] for row in report["summary"].values())
    lines = [
        f"# Conformance report: {impl['name']}",
        "",
        f"Implementation `{impl['spec']}` (module `{impl['module']}`, dtypes "
        f"{', '.join(impl['dtypes'])}), checked by seed-cnn-oracle {env['suite_version']}"
        f" (commit {env['suite_commit'] or 'unknown'}) against torch {env['torch']}, "
        f"numpy {env['numpy']}, python {env['python']}.",
        f"Result: **{'FAILED' if failed else 'passed'}**.",
        "",
        "| layer | " + " | ".join(STATUSES) + " |",
        "| --- |" + " ---: |" * len(STATUSES),
    ]
    for layer, row in report["summary"].items():
        if any(row.values()):
            lines.append(f"| {layer} | " + " | ".join(str(row[s]) for s in STATUSES) + " |")
    lines += [
        "",
        "## Conventions",
        "",
        "| convention | status | observed | torch's | decided by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, conv in report["conventions"].items():
        lines.append(
            f"| {name} | {conv['status']} | {conv['observed']} | {conv['torch']} | "
            f"{conv['probe']} |"
        )
    diagnosis = report["diagnosis"]["layers"]
    if diagnosis:
        lines += ["", "## Diagnosis", "", "| layer | failing checks | cause | checks |"]
        lines.append("| --- | ---: | --- | ---: |")
        for f in report["findings"]:
            row = diagnosis[f["layer"]]
            lines.append(
                f"| {f['layer']} | {row['failing_checks']} | `{f['id']}` | {f['checks']} |"
            )
    lines += [
        "",
        "## Checks",
        "",
        "| check | layer | quantity | dtype | status | max abs err | "
        "tolerance (rtol, atol) | reason |",
        "| --- | --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for c in report["checks"]:
        err = "" if c["max_abs_err"] is None else f"{c['max_abs_err']:.2e}"
        tol = (
            ""
            if c["tolerance"] is None
            else f"{c['tolerance']['rtol']:.1e}, {c['tolerance']['atol']:.1e}"
        )
        reason = (c["reason"] or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{c['id']}` | {c['layer']} | {c['quantity']} | {c['dtype']} | "
            f"{c['status']} | {err} | {tol} | {reason} |"
        )
    lines += [
        "",
        "## Largest errors, per quantity",
        "",
        "| layer | quantity | dtype | oracle | comparisons | max abs err | max rel err "
        "| rtol | atol |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["errors"]:
        lines.append(
            f"| {r['layer']} | {r['quantity']} | {r['dtype']} | {r['oracle']} | "
            f"{r['checks']} | {r['max_abs_err']:.2e} | {r['max_rel_err']:.2e} | "
            f"{r['rtol']:.1e} | {r['atol']:.1e} |"
        )
    lines += [
        "",
        "A comparison passes if abs err <= atol + rtol * |oracle| elementwise; the "
        "rtol and atol columns give the loosest tolerance each row was held to. "
        "The defaults:",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in tolerances.items()]
    return "\n".join(lines) + "\n"
