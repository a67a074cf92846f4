"""The specimens' truth (examples/realworld_b/*/truth.py) holds against torch.

Each specimen's truth is written by hand from its code; here torch checks it: every
declared divergence shows on a small input, every layer declared agreeing matches torch
(on ordinary inputs and on the special ones its code has a say on), the parts declared
right are, and each convention point is what truthlib's own torch probes observe. The
score (oracle_tests/realworld_b.py) reads these files, so what it expects of a
report are facts checked here, never copies of the suite's output.
"""

import warnings

import pytest

from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.realworld_b import POINTS, load_truth, specimen_names
from oracle_tests.report import LAYERS

NAMES = specimen_names()
TRUTH = {n: load_truth(n) for n in NAMES}
DIVERGENCES = [
    pytest.param(n, i, id=f"{n}-{d.layer}-{i}")
    for n in NAMES
    for i, d in enumerate(TRUTH[n].DIVERGENCES)
]
AGREEMENTS = [
    pytest.param(n, i, id=f"{n}-{a.layer}") for n in NAMES for i, a in enumerate(TRUTH[n].AGREES)
]
PARTS = [
    pytest.param(n, i, id=f"{n}-{f.__name__}")
    for n in NAMES
    for i, f in enumerate(getattr(TRUTH[n], "RIGHT_PARTS", []))
]


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():  # overflow, log(0), 0 / 0: what the specimens do
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize(("name", "i"), DIVERGENCES)
def test_each_declared_divergence_shows_against_torch(name, i):
    TRUTH[name].DIVERGENCES[i].evidence()


@pytest.mark.parametrize(("name", "i"), AGREEMENTS)
def test_each_layer_declared_agreeing_matches_torch(name, i):
    TRUTH[name].AGREES[i].evidence()


@pytest.mark.parametrize(("name", "i"), PARTS)
def test_each_part_declared_right_matches_torch(name, i):
    TRUTH[name].RIGHT_PARTS[i]()


@pytest.mark.parametrize("name", NAMES)
def test_each_convention_is_as_declared(name):
    from truthlib import adapter, conventions_of  # on sys.path once a truth is loaded

    assert conventions_of(adapter(name)) == TRUTH[name].CONVENTIONS


@pytest.mark.parametrize("name", NAMES)
def test_the_truth_is_well_formed(name):
    truth = TRUTH[name]
    assert set(truth.CONVENTIONS) == set(POINTS)
    assert set(truth.CONVENTIONS.values()) <= {"torch's", "differs", "n/a"}
    assert len(truth.DIVERGENCES) >= 2, "each specimen carries two or more families"
    agreeing = {a.layer for a in truth.AGREES}
    for d in truth.DIVERGENCES:
        assert d.layer in LAYERS and d.layer not in agreeing, d.layer
        assert d.what and d.names
        for n in d.names:
            assert n.startswith("signature:") or n in CATALOGUE, f"unknown bug id {n}"
    assert agreeing <= set(LAYERS)


def test_the_specimens_cover_the_brief():
    assert len(NAMES) >= 8
    assert sum(bool(TRUTH[n].AGREES) for n in NAMES) >= 2, "layers that are exactly right"
    for point in POINTS:  # each convention point is decided both ways somewhere
        seen = {TRUTH[n].CONVENTIONS[point] for n in NAMES}
        assert {"torch's", "differs"} <= seen, point
