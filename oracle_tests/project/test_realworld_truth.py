"""The real-world specimens' truth (examples/realworld/*/truth.py) holds against torch: every
divergence's evidence shows the specimen differing from torch in the way it says, and every
layer listed as agreeing matches torch. The score (oracle_tests/realworld.py) reads these
files, so the expected findings are facts checked here, not copies of the suite's output."""

import warnings

import pytest

from oracle_tests.realworld import CONVENTION_POINTS, SPECIMENS, load_truth

CASES = [
    pytest.param(name, i, id=f"{name}-{d['layer']}-{i}")
    for name in SPECIMENS
    for i, d in enumerate(load_truth(name).DIVERGENCES)
]
AGREEING = [
    pytest.param(name, layer, id=f"{name}-{layer}")
    for name in SPECIMENS
    for layer in load_truth(name).AGREES
]


@pytest.mark.parametrize(("name", "i"), CASES)
def test_divergence_is_real(name, i):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_truth(name).DIVERGENCES[i]["evidence"]()


@pytest.mark.parametrize(("name", "layer"), AGREEING)
def test_agreeing_layer_matches_torch(name, layer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_truth(name).AGREES[layer]()


@pytest.mark.parametrize("name", SPECIMENS)
def test_truth_is_well_formed(name):
    truth = load_truth(name)
    assert set(truth.CONVENTIONS) == set(CONVENTION_POINTS)
    assert set(truth.CONVENTIONS.values()) <= {"torch's", "differs", "n/a"}
    assert len(truth.DIVERGENCES) >= 2
    for d in truth.DIVERGENCES:
        assert d["names"] and d["what"] and d["layer"] not in truth.AGREES


def test_the_specimens_cover_the_brief():
    assert len(SPECIMENS) >= 8
    exact = [n for n in SPECIMENS if load_truth(n).AGREES]
    assert len(exact) >= 2
