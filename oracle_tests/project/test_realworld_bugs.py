"""The known bugs of the real-world families (oracle_tests/known_bugs/realworld.py): each,
planted in the reference, is named alone from a few calls that show it; their advice
fits the code that has them; and the choices their docstrings state hold (what differs,
what does not)."""

import contextlib
import re

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import CheckFailure, Implementation, load_adapter
from oracle_tests.known_bugs.catalogue import CATALOGUE
from oracle_tests.known_bugs.core import apply


@contextlib.contextmanager
def planted(name: str):
    """The reference's adapter with the known bug `name` planted in `reference` itself."""
    applied = apply(CATALOGUE[name])
    try:
        yield Implementation(load_adapter())
    finally:
        applied.undo()


def away_from_zero(rng, shape) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x + np.copysign(0.1, x)


# --- Scenarios: a few calls through the contract that show one bug ------------------------
def relu_at_nan(impl, rng):
    x = away_from_zero(rng, (3, 4))
    x[0, 1] = x[2, 2] = np.nan
    layer = impl.relu(x.dtype)
    layer.forward(x)
    layer.backward(rng.standard_normal(x.shape))


def relu_forward_at_nan(impl, rng):
    x = away_from_zero(rng, (3, 4))
    x[1, 1] = np.nan
    impl.relu(x.dtype).forward(x)


def relu_backward(impl, rng):
    x = away_from_zero(rng, (3, 4))
    layer = impl.relu(x.dtype)
    layer.forward(x)
    layer.backward(rng.standard_normal(x.shape))


def loss_on(logits: np.ndarray, labels: np.ndarray):
    def run(impl, rng):
        loss = impl.cross_entropy(logits.dtype)
        loss.forward(logits.copy(), labels)
        loss.backward()

    return run


LOGITS_1E4 = np.array([[1e4, -1e4, 0.0, 5.0], [0.5, -0.3, 0.1, 0.2]])
LOGITS_30 = 30 * np.random.default_rng(3).standard_normal((3, 5))
LOGITS = np.random.default_rng(4).standard_normal((4, 6))


def adam_steps(impl, rng):
    params = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    adam = impl.adam(params, 0.01, (0.9, 0.999), 1e-8)
    for _ in range(4):
        adam.step([rng.standard_normal(3), rng.standard_normal((2, 2))])


def linear_backward(impl, rng):
    layer = impl.linear(rng.standard_normal((2, 3)), rng.standard_normal(2))
    y = layer.forward(rng.standard_normal((4, 3)))
    layer.backward(rng.standard_normal(y.shape))
    layer.grads  # noqa: B018  (read through the wrapper, which records it)


def conv_on(x_shape: tuple, stride: int, padding: int, grads: bool = False):
    def run(impl, rng):
        layer = impl.conv2d(rng.standard_normal((2, x_shape[1], 3, 3)), None, stride, padding)
        y = layer.forward(rng.standard_normal(x_shape))
        layer.backward(rng.standard_normal(y.shape))
        if grads:  # what tells a wrong dw from a right one
            layer.grads  # noqa: B018  (read through the wrapper, which records it)

    return run


def pool_on(x_shape: tuple, k: int, s: int):
    def run(impl, rng):
        layer = impl.maxpool2d(k, s, np.float64)
        y = layer.forward(rng.standard_normal(x_shape))
        layer.backward(rng.standard_normal(y.shape))

    return run


def flatten_and_back(impl, rng):
    layer = impl.flatten(np.float64)
    y = layer.forward(rng.standard_normal((2, 3, 4, 5)))
    layer.backward(rng.standard_normal(y.shape))


SCENARIOS = {
    "relu_nan_to_zero_both_ways": relu_at_nan,
    "relu_backward_writes_into_dy": relu_backward,
    "loss_log_of_underflowed_softmax": loss_on(LOGITS_1E4, np.array([1, 0])),
    "loss_log_of_p_plus_eps": loss_on(LOGITS_30, np.array([0, 1, 2])),
    "loss_writes_into_logits": loss_on(LOGITS, np.array([0, 5, 2, 2])),
    "loss_binary_ce_for_multiclass": loss_on(LOGITS, np.array([0, 5, 2, 2])),
    "adam_bias_correction_without_step": adam_steps,
    "adam_state_reset_every_step": adam_steps,
    "linear_gradients_divided_by_batch": linear_backward,
    "conv_dx_empty_at_padding_zero": conv_on((2, 1, 6, 6), 1, 0),
    "conv_ignores_stride": conv_on((1, 2, 7, 7), 2, 1),
    "conv_backward_ignores_stride": conv_on((1, 2, 7, 7), 2, 1, grads=True),
    "conv_assumes_square_input": conv_on((1, 1, 5, 7), 1, 0),
    "pool_output_size_h_over_stride": pool_on((1, 1, 6, 6), 3, 1),
    "pool_assumes_square_input": pool_on((1, 2, 5, 7), 2, 2),
    "flatten_w_h_c": flatten_and_back,
}


def diagnosed(name: str, scenario, recording) -> dict:
    """The diagnosis of `scenario` run on the reference with `name` planted."""
    with planted(name) as impl, contextlib.suppress(CheckFailure):
        scenario(impl, np.random.default_rng(0))
    return diagnosis.diagnose(recording)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_real_world_bug_is_named_alone_from_calls_that_show_it(name, recording):
    found = diagnosed(name, SCENARIOS[name], recording)
    assert found["diagnosed"] == [name], found["text"]


@pytest.mark.parametrize(
    "control", ["control_conv_sized_like_torch", "control_pool_sized_like_torch"]
)
def test_the_sized_controls_replay_like_the_reference(control, recording):
    scenario = conv_on((1, 1, 5, 7), 2, 1) if "conv" in control else pool_on((1, 2, 7, 9), 3, 2)
    found = diagnosed(control, scenario, recording)
    assert found["diagnosed"] == [] and found["layers"] == [], found["text"]


def test_nan_to_zero_forward_alone_names_both_nan_bugs_and_the_backward_names_one(recording):
    # Forward alone cannot tell "NaN -> 0 forward" from "NaN -> 0 both ways": both are
    # named, each with its fix. The backward at NaN tells them apart.
    found = diagnosed("relu_nan_to_zero_both_ways", relu_forward_at_nan, recording)
    assert sorted(found["diagnosed"]) == ["relu_nan_becomes_zero", "relu_nan_to_zero_both_ways"]
    recording.reset()
    found = diagnosed("relu_nan_becomes_zero", relu_at_nan, recording)
    assert found["diagnosed"] == ["relu_nan_becomes_zero"], found["text"]


# --- Advice that fits ---------------------------------------------------------------------
def test_the_underflowed_log_is_told_to_use_a_log_softmax_not_to_subtract_the_max(recording):
    text = CATALOGUE["loss_log_of_underflowed_softmax"].diagnosis
    assert "log-softmax" in text and "already subtracted" in text
    assert not re.search(r"\bsubtract\b", text), "advises what the code already does"
    name = "loss_log_of_underflowed_softmax"
    found = diagnosed(name, SCENARIOS[name], recording)
    assert "log-softmax" in found["text"] and "loss_softmax_without_max" not in found["text"]


def test_the_epsilon_in_the_log_is_told_to_drop_it_and_the_nan_relu_to_keep_nan_both_ways():
    assert "drop the 1e-8" in CATALOGUE["loss_log_of_p_plus_eps"].diagnosis
    both = CATALOGUE["relu_nan_to_zero_both_ways"].diagnosis
    assert "np.maximum(x, 0)" in both and "np.where(x <= 0, 0, dy)" in both
    # The fix of a backward that writes into dy keeps its NaN rule (x <= 0 blocks).
    assert "dx[x <= 0] = 0" in CATALOGUE["relu_backward_writes_into_dy"].diagnosis


# --- What each bug changes, and what it leaves alone ---------------------------------------
def loss_and_grad(impl, logits, labels):
    loss = impl.cross_entropy(logits.dtype)
    return loss.forward(logits, labels), loss.backward()


def test_the_loss_bugs_leave_dlogits_alone_and_binary_ce_equals_ce_for_two_classes():
    rng = np.random.default_rng(5)
    logits, labels = 5 * rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    right = loss_and_grad(Implementation(load_adapter()), logits, labels)
    for name in ("loss_log_of_p_plus_eps", "loss_binary_ce_for_multiclass"):
        with planted(name) as impl:
            loss, dlogits = loss_and_grad(impl, logits, labels)
        assert not np.isclose(loss, right[0], rtol=1e-10, atol=0)
        np.testing.assert_allclose(dlogits, right[1], rtol=1e-12)
    two = logits[:, :2].copy()
    ce = loss_and_grad(Implementation(load_adapter()), two, labels % 2)[0]
    with planted("loss_binary_ce_for_multiclass") as impl:
        assert np.isclose(loss_and_grad(impl, two, labels % 2)[0], ce, rtol=1e-12)


def trajectory(impl, grads_seq) -> list[np.ndarray]:
    params = [np.array([0.5, -1.0, 2.0])]
    adam = impl.adam(params, 0.01, (0.9, 0.999), 1e-8)
    out = []
    for g in grads_seq:
        adam.step([g.copy()])
        out.append(params[0].copy())
    return out


def test_the_adam_bugs_agree_with_torch_at_step_one_only():
    rng = np.random.default_rng(6)
    grads_seq = [rng.standard_normal(3) for _ in range(3)]
    right = trajectory(Implementation(load_adapter()), grads_seq)
    for name in ("adam_bias_correction_without_step", "adam_state_reset_every_step"):
        with planted(name) as impl:
            ours = trajectory(impl, grads_seq)
        np.testing.assert_allclose(ours[0], right[0], rtol=1e-12)
        assert not np.allclose(ours[1], right[1], rtol=1e-6, atol=0), name
    with planted("adam_state_reset_every_step") as impl:
        moves = np.diff([[0.5, -1.0, 2.0], *trajectory(impl, grads_seq)], axis=0)
    np.testing.assert_allclose(moves, -0.01 * np.sign(grads_seq), rtol=1e-6)  # lr * sign(g)


def test_the_size_bugs_agree_with_torch_where_they_should():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 7, 9))
    cases = [
        ("pool_output_size_h_over_stride", lambda impl: impl.maxpool2d(3, 3, np.float64)),
        ("pool_assumes_square_input", lambda impl: impl.maxpool2d(2, 2, np.float64)),
        (
            "conv_dx_empty_at_padding_zero",
            lambda impl: impl.conv2d(np.ones((1, 2, 3, 3)), None, 1, 1),
        ),
    ]
    square = x[:, :, :, :7].copy()
    for name, build in cases:
        ref = build(Implementation(load_adapter()))
        inputs = square if "square" in name else x  # k == s; a square input; padding 1
        y_ref = ref.forward(inputs)
        dx_ref = ref.backward(np.ones_like(y_ref))
        with planted(name) as impl:
            layer = build(impl)
            y = layer.forward(inputs)
            dx = layer.backward(np.ones_like(y))
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-12)


def test_known_bugs_that_fit_a_checks_calls_alike_are_told_apart_on_fresh_arrays(recording):
    # A one-hot kernel with its 1 at (0, 0), k = 2, p = 1: padding 2p on one side and
    # a flipped kernel read the same pixels, so both bugs fit the check's one forward.
    # The diagnosis runs the adapter's own layer again on random arrays of the same
    # shapes, where only the planted bug still fits.
    def one_hot_forward(impl, rng):
        w = np.zeros((2, 2, 2, 2))
        w[0, 0, 0, 0] = w[1, 1, 0, 0] = 1.0
        impl.conv2d(w, None, 3, 1).forward(rng.standard_normal((4, 2, 5, 5)))

    with planted("conv_padding_one_sided") as impl:  # the adapter's layer stays buggy
        with contextlib.suppress(CheckFailure):
            one_hot_forward(impl, np.random.default_rng(0))
        found = diagnosis.diagnose(recording)
    assert found["diagnosed"] == ["conv_padding_one_sided"], found["text"]
