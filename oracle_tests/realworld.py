"""The score of the suite on the project's real-world specimens (examples/realworld/).

Each specimen's folder holds a small from-scratch implementation in a public style, its
adapter, and truth.py: its divergences from torch (each with the names that would identify
it, a catalogue id or a signature), the layers that agree with torch, and the truth of each
convention point, all checked against torch by oracle_tests/project/test_realworld_truth.py.

`python -m oracle_tests.realworld [--jobs 2] [--only NAME ...] [--out plots/realworld]`
runs `cnn-oracle check ADAPTER --json` on each specimen and scores the report:
- a divergence is named when one of its names is among the findings for its layer;
- a false convention claim is "torch's" where the truth says "differs", or "differs" where
  it says "torch's" ("not observed" is never a false claim);
- a false alarm is a failed check in a layer the truth lists as agreeing (a Network check
  counts only when no component layer diverges).
It writes plots/realworld.json and plots/realworld.md.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECIMEN_DIR = ROOT / "examples" / "realworld"
SPECIMENS = sorted(p.name for p in SPECIMEN_DIR.iterdir() if (p / "truth.py").is_file())
CONVENTION_POINTS = (
    "kernel orientation",
    "tie rule",
    "ReLU'(0)",
    "NaN propagation",
    "loss reduction",
    "Adam variant",
)
COMPONENTS = ("Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "CrossEntropy", "Adam")


def load_truth(name: str, folder: Path = SPECIMEN_DIR, prefix: str = "realworld"):
    """The truth.py of specimen `name` in `folder`, imported once as a module of its own
    (the folder goes on sys.path, for the helpers the truths share)."""
    key = f"{prefix}_{name}_truth"
    if key not in sys.modules:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        spec = importlib.util.spec_from_file_location(key, folder / name / "truth.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def run_suite(name: str) -> dict:
    """The suite's JSON report on specimen `name` (a subprocess)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "oracle_tests.cli", "check"]
        cmd += [str(SPECIMEN_DIR / name / "adapter.py"), "--json", str(out)]
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if not out.exists():
            raise RuntimeError(f"{name}: no report (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return json.loads(out.read_text())


def score(name: str, report: dict) -> dict:
    """One specimen's figures from its report and its truth."""
    truth = load_truth(name)
    findings = report.get("findings", [])
    named, unnamed = [], []
    for d in truth.DIVERGENCES:
        said = [f for f in findings if f["layer"] == d["layer"]]
        hit = [f["id"] for f in said if f["id"] in d["names"]]
        entry = {"layer": d["layer"], "what": d["what"], "names": d["names"]}
        if hit:
            named.append(dict(entry, named_by=hit[0]))
        else:
            unnamed.append(dict(entry, report_said=[f"{f['id']}: {f['text']}" for f in said]))
    claims = []
    conventions = report.get("conventions", {})
    for point in CONVENTION_POINTS:
        want, got = truth.CONVENTIONS[point], conventions.get(point, {})
        status = got.get("status", "missing")
        if (want, status) in (("differs", "torch's"), ("torch's", "differs")):
            claims.append(
                {"point": point, "truth": want, "status": status, "observed": got.get("observed")}
            )
    diverging = {d["layer"] for d in truth.DIVERGENCES}
    alarms = []
    for check in report.get("checks", []):
        if check["status"] != "failed":
            continue
        layer = check["layer"]
        network_alarm = layer == "Network" and not diverging & set(COMPONENTS)
        if layer in truth.AGREES or network_alarm:
            alarms.append({"layer": layer, "check": check["id"], "reason": check.get("reason")})
    return {
        "specimen": name,
        "divergences": len(truth.DIVERGENCES),
        "named": len(named),
        "named_list": named,
        "unnamed": unnamed,
        "false_claims": claims,
        "false_alarms": alarms,
        "conventions": {p: conventions.get(p, {}).get("status") for p in CONVENTION_POINTS},
        "truth_conventions": dict(truth.CONVENTIONS),
        "suite_commit": report.get("environment", {}).get("suite_commit"),
    }


def totals(rows: list[dict]) -> dict:
    return {
        "specimens": len(rows),
        "divergences": sum(r["divergences"] for r in rows),
        "named": sum(r["named"] for r in rows),
        "false_claims": sum(len(r["false_claims"]) for r in rows),
        "false_alarms": sum(len(r["false_alarms"]) for r in rows),
    }


def markdown(result: dict) -> str:
    t = result["totals"]
    lines = [
        "# The suite on the project's real-world specimens",
        "",
        "Written by `python -m oracle_tests.realworld` from `cnn-oracle check --json` on each "
        "of `examples/realworld/*`, scored against each specimen's `truth.py` (checked against "
        "torch by `oracle_tests/project/test_realworld_truth.py`).",
        "",
        "| specimen | named / divergences | false claims | false alarms |",
        "| --- | --- | --- | --- |",
    ]
    for r in result["specimens"]:
        lines.append(
            f"| {r['specimen']} | {r['named']} / {r['divergences']} | "
            f"{len(r['false_claims'])} | {len(r['false_alarms'])} |"
        )
    lines.append(
        f"| **total** | **{t['named']} / {t['divergences']}** | **{t['false_claims']}** | "
        f"**{t['false_alarms']}** |"
    )
    lines += ["", "## Divergences not named", ""]
    for r in result["specimens"]:
        for u in r["unnamed"]:
            said = "; ".join(u["report_said"]) or "no finding for this layer"
            lines.append(
                f"- **{r['specimen']}**, {u['layer']}: {u['what']} (accepted: "
                f"{', '.join(u['names'])}). The report said: {said}"
            )
    lines += ["", "## False convention claims", ""]
    for r in result["specimens"]:
        for c in r["false_claims"]:
            lines.append(
                f"- **{r['specimen']}**, {c['point']}: the truth is {c['truth']}; the report "
                f"said {c['status']}: {c['observed']}"
            )
    lines += ["", "## False alarms", ""]
    for r in result["specimens"]:
        for a in r["false_alarms"]:
            lines.append(f"- **{r['specimen']}**, {a['layer']}: `{a['check']}`: {a['reason']}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", default=str(ROOT / "plots" / "realworld"))
    args = parser.parse_args(argv)
    names = args.only or SPECIMENS
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        reports = list(pool.map(run_suite, names))
    rows = [score(n, r) for n, r in zip(names, reports, strict=True)]
    out = Path(args.out)
    if args.only and out.with_suffix(".json").exists():  # re-score some, keep the rest
        kept = {
            r["specimen"]: r for r in json.loads(out.with_suffix(".json").read_text())["specimens"]
        }
        kept.update({r["specimen"]: r for r in rows})
        rows = [kept[n] for n in SPECIMENS if n in kept]
    result = {"totals": totals(rows), "specimens": rows}
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
