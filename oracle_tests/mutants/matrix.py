"""The diagnosis matrix: each layer, loss and optimizer entry of the catalogue, planted
in the reference and checked through the reference's adapter, against the bugs that
cnn-oracle names for it.

    python -m oracle_tests.mutants.matrix [--jobs N] [--out DIR] [--plots DIR]

runs those entries' selections (runner.py: one cnn-oracle session per entry, with the
bug planted in `reference`, while the diagnosis replays on its own private copy) and
writes diagnosis_matrix.json, .md and .png into plots/. The meta-test in
oracle_tests/project/test_mutants.py asserts the same diagonal on every CI run. The
data loader's and the model's entries are not adapter pieces, so they are not here.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from ..diagnosis import factory_of
from ..known_bugs.catalogue import CATALOGUE
from .runner import BASELINE, ROOT, _commit, run_catalogue

REFERENCE = "reference (unmutated)"  # the baseline job, as a row of the matrix
# Entries that cannot be diagnosed as themselves, and why. The meta-test holds each to
# its reason: an entry listed here that becomes diagnosed as itself must leave the list.
OFF_DIAGONAL = {
    "adam_default_eps_1e7": "invisible through the adapter contract: adam() is always handed "
    "eps, so the reference's own default never shows; a project test "
    "(test_reference_layers.py) catches it instead",
}


def entry_names() -> list[str]:
    """The catalogue's layer, loss and optimizer entries, controls included."""
    return sorted(n for n, m in CATALOGUE.items() if factory_of(m))


def build(summary: dict) -> dict:
    """The matrix from a runner summary (name -> {"diagnosed", ...}). `entries` lists
    the bugs, then the controls and the unmutated reference ("control": true)."""
    names = [n for n in entry_names() if n in summary]
    names.sort(key=lambda n: CATALOGUE[n].survives)
    entries = [
        {"id": n, "diagnosed": summary[n]["diagnosed"], "control": CATALOGUE[n].survives}
        for n in names
    ]
    if BASELINE in summary:
        entries.append(
            {"id": REFERENCE, "diagnosed": summary[BASELINE]["diagnosed"], "control": True}
        )
    bugs = [e for e in entries if not e["control"]]
    mine = [e for e in bugs if e["diagnosed"] == [e["id"]]]
    off = [
        {**e, "reason": OFF_DIAGONAL.get(e["id"], "not expected: a regression of the diagnosis")}
        for e in bugs
        if e not in mine
    ]
    return {
        "entries": entries,
        "diagonal_share": round(len(mine) / len(bugs), 4) if bugs else None,
        "bugs": len(bugs),
        "diagnosed_as_themselves": len(mine),
        "off_diagonal": off,
        "controls_diagnosed": [e for e in entries if e["control"] and e["diagnosed"]],
    }


def markdown(m: dict, totals: str) -> str:
    lines = [
        "# The diagnosis matrix",
        "",
        f"Written by `python -m oracle_tests.mutants.matrix` at {_commit()}: {totals}.",
        "",
        "Each catalogued bug of a layer, the loss or Adam is planted in the reference and "
        "checked through the reference's adapter; the column says which bugs cnn-oracle "
        "names. Controls (correct re-implementations) and the unmutated reference must get "
        "no diagnosis.",
        "",
        f"**Diagonal share: {m['diagnosed_as_themselves']} of {m['bugs']} bugs diagnosed as "
        f"themselves ({m['diagonal_share']:.1%}).**",
        "",
        "| entry | diagnosed as |",
        "| --- | --- |",
    ]
    for e in m["entries"]:
        named = ", ".join(f"`{d}`" for d in e["diagnosed"]) or "nothing"
        expected = [] if e["control"] else [e["id"]]
        mark = " (control)" if e["control"] else ""
        mark += "" if e["diagnosed"] == expected else " **(off the diagonal)**"
        lines.append(f"| `{e['id']}` | {named}{mark} |")
    lines += ["", "## Off the diagonal", ""]
    lines += [
        f"- `{e['id']}` ({e['diagnosed'] or 'nothing'}): {e['reason']}" for e in m["off_diagonal"]
    ]
    return "\n".join(lines) + "\n"


def figure(m: dict, path: Path) -> None:
    """Rows: the entries (then controls); columns: the bugs named, and "nothing"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = m["entries"]
    columns = [e["id"] for e in rows if not e["control"]] + ["nothing"]
    grid = np.zeros((len(rows), len(columns)))
    for i, e in enumerate(rows):
        for d in e["diagnosed"] or ["nothing"]:
            grid[i, columns.index(d)] = 1
    fig, ax = plt.subplots(figsize=(13, 13))
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=1.3)
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), [e["id"] for e in rows], fontsize=7)
    ax.set_xlabel("diagnosed as")
    ax.set_ylabel("bug planted (controls and the unmutated reference last)")
    ax.set_title(
        f"Diagnosis matrix: {m['diagnosed_as_themselves']} of {m['bugs']} bugs named as "
        f"themselves ({m['diagonal_share']:.1%})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/diagnosis-matrix"))
    parser.add_argument("--plots", type=Path, default=ROOT / "plots")
    opts = parser.parse_args(argv)
    start = time.monotonic()
    summary = run_catalogue(entry_names(), opts.out, opts.jobs)
    m = build(summary)
    controls = sum(e["control"] for e in m["entries"])
    totals = f"{m['bugs']} bugs and {controls} controls in {time.monotonic() - start:.0f}s"
    opts.plots.mkdir(parents=True, exist_ok=True)
    (opts.plots / "diagnosis_matrix.json").write_text(json.dumps(m, indent=1) + "\n")
    (opts.plots / "diagnosis_matrix.md").write_text(markdown(m, totals))
    figure(m, opts.plots / "diagnosis_matrix.png")
    print(f"{totals}; diagonal share {m['diagonal_share']:.1%}")
    for e in m["off_diagonal"]:
        print(f"off the diagonal: {e['id']} -> {e['diagnosed']}: {e['reason']}")
    bad = m["controls_diagnosed"]
    for c in bad:
        print(f"CONTROL DIAGNOSED: {c['id']} -> {c['diagnosed']}")
    return 1 if bad or any(not s["ok"] for s in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
