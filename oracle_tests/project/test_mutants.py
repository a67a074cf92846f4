"""The curated mutant catalogue: every realistic bug must be caught by the oracle tests.

`tox -e mutants` (pytest -m mutants) runs this file. A session fixture starts the
runner (oracle_tests/mutants/runner.py) once, which runs, in parallel processes:
- the union of the selected mutants' test selections on the UNMUTATED reference,
  which must pass, or no kill counts (a broken harness fails everything);
- each mutant's own small selection with the mutant installed.
Then each mutant's test asserts that at least one selected test failed by assertion.
An error inside the mutant's own code, a patch point that vanished, a changed
signature or a patch never called are harness failures, never kills. The controls,
correct re-implementations through the same machinery, must pass their selections.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.known_bugs.core import Mutant, MutantApplyError, apply
from oracle_tests.mutants import matrix
from oracle_tests.mutants.plugin import CRASH, ERROR, KILL, MUTANTS_DIR, classify
from oracle_tests.mutants.runner import BASELINE

pytestmark = pytest.mark.mutants

ROOT = Path(__file__).resolve().parents[2]
BUGS = sorted(n for n, m in CATALOGUE.items() if not m.survives)
CONTROLS = sorted(n for n, m in CATALOGUE.items() if m.survives)
# Every component of the reference that the catalogue must reach (module of the patch).
COMPONENTS = (
    "layers.conv",
    "layers.pool",
    "layers.activation",
    "layers.flatten",
    "layers.linear",
    "loss",
    "optim",
    "model",
    "data",
)
RUNNER_TIMEOUT = 1800  # seconds; the whole catalogue takes ~2-3 min on 2 busy cores


def _selected(session) -> list[str]:
    """The mutant names whose meta-tests this session runs (honours -k and node ids)."""
    names = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.module.__name__ == __name__ and callspec and "name" in callspec.params:
            names.add(callspec.params["name"])
    return sorted(names)


@pytest.fixture(scope="session")
def catalogue_run(request, tmp_path_factory) -> dict:
    """Run the baseline and the selected mutants once; name -> runner summary entry."""
    names = _selected(request.session) or BUGS[:1]
    out = tmp_path_factory.mktemp("mutant-catalogue")
    jobs = os.environ.get("MUTANT_JOBS") or str(os.cpu_count() or 1)
    command = [sys.executable, "-m", "oracle_tests.mutants.runner", "--out", str(out)]
    proc = subprocess.run(
        [*command, "--jobs", jobs, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUNNER_TIMEOUT,
    )
    summary = out / "summary.json"
    assert summary.exists(), f"the mutant runner crashed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(summary.read_text())


def _require_baseline(run: dict) -> None:
    base = run[BASELINE]
    assert base["ok"], f"harness broken, no kill counts: {base['verdict']}"


def _check(name: str, run: dict) -> None:
    """Assert the mutant's verdict; skip if all its tests skipped (no MNIST, locally only:
    the mnist fixture fails instead of skipping in CI)."""
    _require_baseline(run)
    entry = run[name]
    if entry["verdict"].startswith("SKIPPED"):
        pytest.skip(f"{name}: {entry['verdict']}")
    assert entry["ok"], f"{name} ({CATALOGUE[name].bug}): {entry['verdict']}"


def test_catalogue_reaches_every_component_with_thirty_documented_bugs():
    assert len(BUGS) >= 30, f"only {len(BUGS)} mutants"
    reached = {
        t.split(":")[0].removeprefix("reference.") for n in BUGS for t in CATALOGUE[n].targets
    }
    assert set(COMPONENTS) <= reached, f"no mutant patches {set(COMPONENTS) - reached}"
    for m in CATALOGUE.values():
        assert m.kill and len(m.bug) > 40, f"{m.name} lacks a kill selection or a description"


def _raised(code: str, filename: str) -> BaseException:
    try:
        exec(compile(code, filename, "exec"), {})
    except BaseException as err:  # the point is to capture anything
        return err
    raise AssertionError("the code did not raise")


def test_plugin_counts_assertions_as_kills_and_blames_crashes_inside_a_mutant():
    in_mutant = str(MUTANTS_DIR / "conv.py")
    assert classify(_raised("assert 1 == 2", "test_x.py"))[0] == KILL
    assert classify(_raised("import pytest; pytest.fail('no')", "test_x.py"))[0] == KILL
    assert classify(_raised("raise AttributeError('_gone')", in_mutant))[0] == CRASH
    assert classify(_raised("raise ValueError('bad shape')", "/x/reference/y.py"))[0] == ERROR
    group = Exception("hypothesis: 2 distinct failures")  # an ExceptionGroup on py >= 3.11
    group.exceptions = (ValueError("e"), AssertionError("a"))
    assert classify(group)[0] == KILL


def test_a_stale_mutant_is_a_harness_error_not_a_kill():
    def vanished(p):
        p.patch("layers.conv", "conv2d_forward_renamed", lambda x: x)

    def changed_signature(p):
        p.patch("layers.conv", "conv2d_forward", lambda x, w, b, s=1: x)

    for make in (vanished, changed_signature):
        with pytest.raises(MutantApplyError):
            apply(Mutant(make.__name__, "stale", ("x",), make))


def test_applying_a_mutant_then_undoing_it_restores_every_alias():
    import reference
    from reference.layers import conv

    before = (conv.conv2d_forward, conv.Conv2d.backward, reference.load_mnist)
    for name in ("conv_flipped_kernel", "conv_layer_accumulates_grads", "data_pixels_float64"):
        applied = apply(CATALOGUE[name])
        assert (conv.conv2d_forward, conv.Conv2d.backward, reference.load_mnist) != before
        applied.undo()
    assert (conv.conv2d_forward, conv.Conv2d.backward, reference.load_mnist) == before


def test_unmutated_reference_passes_every_selection(catalogue_run):
    _require_baseline(catalogue_run)


@pytest.mark.parametrize("name", BUGS)
def test_mutant_is_killed_by_an_assertion_of_its_selection(name, catalogue_run):
    _check(name, catalogue_run)


@pytest.mark.parametrize("name", CONTROLS)
def test_control_reimplementation_passes_its_selection(name, catalogue_run):
    _check(name, catalogue_run)


# --- The diagnosis matrix (oracle_tests/mutants/matrix.py) --------------------------------
def test_every_layer_loss_and_adam_bug_says_what_it_is_and_how_to_fix_it():
    for name in matrix.entry_names():
        m = CATALOGUE[name]
        if not m.survives:
            assert m.diagnosis and len(m.diagnosis) > 40, f"{name} has no diagnosis sentence"
    assert set(matrix.OFF_DIAGONAL) <= set(matrix.entry_names())


def test_each_bug_is_diagnosed_as_itself_and_no_control_is_diagnosed(catalogue_run):
    _require_baseline(catalogue_run)
    live = matrix.build(catalogue_run)
    for e in live["entries"]:
        if e["control"]:
            assert e["diagnosed"] == [], f"control {e['id']} was diagnosed as {e['diagnosed']}"
        elif e["id"] in matrix.OFF_DIAGONAL:  # a stale excuse must be removed
            assert e["diagnosed"] != [e["id"]], f"{e['id']} is now diagnosed: unlist it"
        else:
            assert e["diagnosed"] == [e["id"]], f"{e['id']} was diagnosed as {e['diagnosed']}"
    if len(live["entries"]) > len(matrix.entry_names()):  # the whole catalogue ran
        assert live["diagonal_share"] >= 0.95, live["diagonal_share"]
        committed = json.loads((ROOT / "plots" / "diagnosis_matrix.json").read_text())
        assert committed["entries"] == live["entries"], (
            "plots/diagnosis_matrix.* is stale: run python -m oracle_tests.mutants.matrix"
        )
