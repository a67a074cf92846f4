"""The diagnosis's own machinery (oracle_tests/tape.py, diagnosis.py), on the reference:
a correct implementation's tape replays without a difference, a planted bug is named
from the tape alone, and the replay's private copy of the reference is untouched by a
bug planted in `reference` itself."""

import numpy as np

from oracle_tests import diagnosis, tape
from oracle_tests.contract import Implementation, load_adapter
from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.known_bugs.core import apply


def pool_on_a_plateau(impl: Implementation) -> None:
    """One tied 2x2 window per channel: a plateau of ones, pooled, and a backward."""
    x = np.ones((1, 2, 2, 2))
    layer = impl.maxpool2d(2, 2, x.dtype)
    layer.forward(x)
    layer.backward(np.array([[[[1.5]], [[-2.0]]]]))


def test_the_reference_replays_without_a_difference(recording):
    impl = Implementation(load_adapter())
    pool_on_a_plateau(impl)
    rng = np.random.default_rng(0)
    conv = impl.conv2d(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), 2, 1)
    y = conv.forward(rng.standard_normal((2, 2, 7, 7)))
    conv.backward(rng.standard_normal(y.shape))
    conv.grads  # noqa: B018  (read through the wrapper, which records it)
    assert len(recording.order) == 5 and not recording.truncated
    found = diagnosis.diagnose(recording)
    assert found["diagnosed"] == [] and found["layers"] == []
    assert found["text"].startswith("diagnosis: each of the adapter's 5 calls agrees")


def test_a_planted_bug_is_named_from_the_tape_and_the_private_copy_stays_clean(recording):
    import reference.layers.pool as pool

    original = pool.maxpool2d_backward
    applied = apply(CATALOGUE["pool_ties_to_every_max"])  # into `reference` itself
    try:
        pool_on_a_plateau(Implementation(load_adapter()))
        found = diagnosis.diagnose(recording)
    finally:
        applied.undo()
    assert pool.maxpool2d_backward is original
    assert found["diagnosed"] == ["pool_ties_to_every_max"], found
    layer = found["layers"][0]
    assert layer["first_divergence"] == "MaxPool2d backward (maxpool2d(2, 2).backward, call 2 of 2)"
    copy = diagnosis.pristine()
    assert copy.__name__ == f"{diagnosis.COPY}.adapter" and copy.MaxPool2d is not pool.MaxPool2d


def test_a_tape_too_long_is_cut_and_the_diagnosis_says_so(recording, monkeypatch):
    monkeypatch.setattr(tape, "MAX_BYTES", 100)
    applied = apply(CATALOGUE["pool_ties_to_every_max"])
    try:
        pool_on_a_plateau(Implementation(load_adapter()))
        pool_on_a_plateau(Implementation(load_adapter()))
    finally:
        applied.undo()
    assert recording.truncated and len(recording.order) < 4
    assert "the tape was cut short" in diagnosis.diagnose(recording)["text"]


def test_two_bugs_in_one_layer_are_named_as_a_pair(recording):
    # Real code often has two mistakes in one layer: no single known bug explains the
    # calls, the pair does.
    planted = [
        apply(CATALOGUE[n]) for n in ("conv_flipped_kernel", "conv_bias_grad_averaged_over_batch")
    ]
    try:
        rng = np.random.default_rng(0)
        impl = Implementation(load_adapter())
        conv = impl.conv2d(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), 1, 0)
        y = conv.forward(rng.standard_normal((2, 2, 6, 6)))
        conv.backward(rng.standard_normal(y.shape))
        conv.grads  # noqa: B018  (read through the wrapper, which records it)
    finally:
        for p in reversed(planted):
            p.undo()
    found = diagnosis.diagnose(recording)
    assert found["layers"][0]["matches"] == [
        "conv_flipped_kernel + conv_bias_grad_averaged_over_batch"
    ]
    assert set(found["diagnosed"]) == {"conv_flipped_kernel", "conv_bias_grad_averaged_over_batch"}


def test_a_check_matched_by_many_pairs_takes_the_pair_with_the_bug_others_name():
    # The loss at logits of 1e4 is NaN, so any pair with "no max subtracted" matches it;
    # the five other checks name "summed": the report must not add a third bug.
    from oracle_tests.report import _cover

    named = [{"summed"}] * 5 + [{"nomax + divided_grad", "nomax + summed"}]
    assert _cover(named) == {"summed": 5, "nomax + summed": 1}
