"""Meta-test of the committed real-world score (plots/realworld.json): its totals add up,
it covers every specimen, and it is current: two specimens are re-scored live and must
give the committed figures (two, so that the meta-tests stay fast)."""

import json
from pathlib import Path

import pytest

from oracle_tests import realworld

pytestmark = pytest.mark.mutants

COMMITTED = Path(realworld.ROOT) / "plots" / "realworld.json"
LIVE = ("column_vectors", "im2col")


def _committed() -> dict:
    return json.loads(COMMITTED.read_text())


def test_the_score_covers_every_specimen_and_its_totals_add_up():
    result = _committed()
    assert [r["specimen"] for r in result["specimens"]] == realworld.SPECIMENS
    assert result["totals"] == realworld.totals(result["specimens"])
    for r in result["specimens"]:
        truth = realworld.load_truth(r["specimen"])
        assert r["divergences"] == len(truth.DIVERGENCES)
        assert r["named"] == len(r["named_list"]) == r["divergences"] - len(r["unnamed"])
        assert r["truth_conventions"] == dict(truth.CONVENTIONS)


def test_the_markdown_is_the_json_in_words():
    md = COMMITTED.with_suffix(".md").read_text()
    assert md == realworld.markdown(_committed())


@pytest.mark.parametrize("name", LIVE)
def test_the_committed_score_is_current(name):
    live = realworld.score(name, realworld.run_suite(name))
    committed = {r["specimen"]: r for r in _committed()["specimens"]}[name]
    for key in ("divergences", "named", "conventions"):
        assert live[key] == committed[key], key
    assert [u["layer"] for u in live["unnamed"]] == [u["layer"] for u in committed["unnamed"]]
    assert len(live["false_claims"]) == len(committed["false_claims"])
    assert sorted(a["check"] for a in live["false_alarms"]) == sorted(
        a["check"] for a in committed["false_alarms"]
    )


# --- The second set (examples/realworld_b, oracle_tests/realworld_b.py) -------------------
COMMITTED_B = Path(realworld.ROOT) / "plots" / "realworld_b.json"


def test_the_second_sets_score_covers_it_adds_up_and_is_its_markdown():
    from oracle_tests import realworld_b

    result = json.loads(COMMITTED_B.read_text())
    assert [r["specimen"] for r in result["specimens"]] == realworld_b.specimen_names()
    rows = {r["specimen"]: r for r in result["specimens"]}
    rebuilt = realworld_b.build(rows)
    assert result["totals"] == rebuilt["totals"]
    for r in result["specimens"]:
        assert r["hash"] == realworld_b.content_hash(r["specimen"]), (
            f"{r['specimen']} changed since it was scored: run python -m oracle_tests.realworld_b"
        )
        assert r["total"] == len(realworld_b.load_truth(r["specimen"]).DIVERGENCES)
    assert COMMITTED_B.with_suffix(".md").read_text() == realworld_b.markdown(result)


def test_the_second_sets_committed_score_is_current_on_one_specimen():
    from oracle_tests import realworld_b

    name = "column_vectors"  # its adapter imports the network's own softmax: not a factory
    live = realworld_b.score_live([name], jobs=1)[name]
    committed = {r["specimen"]: r for r in json.loads(COMMITTED_B.read_text())["specimens"]}
    for key in ("total", "named", "conventions", "false_claims", "false_alarms"):
        assert live[key] == committed[name][key], key
    assert live["undeclared_failures"] == committed[name]["undeclared_failures"]
