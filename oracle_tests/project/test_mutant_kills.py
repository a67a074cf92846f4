"""Tests written to kill mutmut survivors (oracle_tests/mutants/SURVIVORS.md).

The oracle suite checks the numerics against torch; these pin down the contracts that
mutmut showed were unchecked: TrainConfig's validation, evaluate() and predict() at
batch sizes that do not divide the data, train()'s bookkeeping (history, callbacks,
dtype, seed, lr, the passed model, silence by default, the divergence message), and
the checkpoint file's mode and temp-file placement.
"""

import math
import os
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from oracle_tests.tolerances import to_torch
from reference import Adam, Conv2d, SeedCNN, SoftmaxCrossEntropy, TrainConfig, evaluate, train
from reference.checkpoint import load_checkpoint, save_checkpoint
from reference.training import epoch_batches, shuffle_rng

VALID = {"epochs": 1, "train_size": 1, "batch_size": 1, "lr": 1e-12, "dtype": "float32"}
INVALID = [
    ("epochs", 0),
    ("train_size", 0),
    ("train_size", 60001),
    ("batch_size", 0),
    ("lr", 0.0),
    ("lr", -1e-3),
    ("lr", math.inf),
    ("lr", math.nan),
    ("dtype", "float16"),
]


@pytest.mark.parametrize(("field", "value"), INVALID, ids=lambda v: repr(v))
def test_train_config_rejects_an_invalid_field_naming_it_and_its_value(field, value):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{**VALID, field: value})
    assert str(err.value) == f"TrainConfig: invalid {field}={value!r}"


@pytest.mark.parametrize(
    "overrides",
    [VALID, {"train_size": 60000}, {"dtype": "float64"}, {"dtype": "float32"}],
    ids=["smallest", "largest-train-size", "float64", "float32"],
)
def test_train_config_accepts_the_boundaries_of_every_range(overrides):
    config = TrainConfig(**{**VALID, **overrides})
    assert config.to_dict() == {**TrainConfig().to_dict(), **VALID, **overrides}


def images(n: int, seed: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """n random MNIST-shaped images in [0, 1] and labels."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n)


def test_evaluate_matches_torch_on_the_whole_set_for_a_batch_size_that_does_not_divide_it():
    model = SeedCNN(seed=1, dtype=np.float64)
    x, y = images(23, seed=2, dtype=np.float64)
    loss, accuracy = evaluate(model, x, y, batch_size=10)
    logits = model.forward(x)
    expected = F.cross_entropy(to_torch(logits), torch.from_numpy(y)).item()
    assert loss == pytest.approx(expected, rel=1e-12, abs=0)
    assert accuracy == np.mean(logits.argmax(axis=1) == y)
    assert 0 < accuracy < 1, "pick data where some but not all predictions are right"


def test_predict_in_chunks_equals_the_argmax_of_one_forward():
    model = SeedCNN(seed=1)
    x, _ = images(23, seed=3)
    expected = model.forward(x).argmax(axis=1)
    np.testing.assert_array_equal(model.predict(x, batch_size=7), expected)
    np.testing.assert_array_equal(model.predict(x), expected)


# With one BLAS thread, as train() runs: another thread count rounds the products
# differently, and equality below is exact.
@threadpool_limits.wrap(limits=1, user_api="blas")
def reference_loop(config: TrainConfig, data, model: SeedCNN) -> list[dict]:
    """train()'s contract written out: the same batches, steps and evaluations."""
    x, y, x_test, y_test = data
    dtype = np.dtype(config.dtype)
    x, y = x[: config.train_size].astype(dtype), y[: config.train_size]
    loss_fn, optimizer = SoftmaxCrossEntropy(), Adam(model.parameters(), lr=config.lr)
    rng, history = shuffle_rng(config.seed), []
    for epoch in range(1, config.epochs + 1):
        losses = []
        for idx in epoch_batches(len(x), config.batch_size, rng):
            losses.append(loss_fn.forward(model.forward(x[idx]), y[idx]))
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step(model.gradients())
        test_loss, test_accuracy = evaluate(model, x_test.astype(dtype), y_test)
        history.append(
            {"epoch": epoch, "train_loss": float(np.mean(losses)), "test_loss": test_loss}
            | {"test_accuracy": test_accuracy}
        )
    return history


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_follows_config_and_returns_the_history_of_the_loop_it_documents(dtype, capfd):
    x, y = images(72, seed=4)
    x_test, y_test = images(30, seed=5)
    data = (x, y, x_test, y_test)
    config = TrainConfig(epochs=2, train_size=40, batch_size=16, lr=3e-3, seed=3, dtype=dtype)
    seen = []
    start = time.perf_counter()
    history = train(config, data, on_epoch=seen.append)
    elapsed = time.perf_counter() - start  # each epoch's "seconds" is a part of this
    assert capfd.readouterr().err == "", "train() must be silent unless progress=True"
    expected_model = SeedCNN(3, dtype=np.dtype(dtype))
    expected = reference_loop(config, data, expected_model)
    assert seen == history and [h["epoch"] for h in history] == [1, 2]
    for ours, theirs in zip(history, expected, strict=True):
        assert set(ours) == {*theirs, "seconds"}
        assert {k: ours[k] for k in theirs} == theirs
        assert isinstance(ours["seconds"], float) and 0 < ours["seconds"] <= elapsed

    model = SeedCNN(3, dtype=np.dtype(dtype))
    train(config, data, model)
    for p, q in zip(model.parameters(), expected_model.parameters(), strict=True):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(p, q, err_msg="train() must train the model it is given")


def test_train_refuses_non_finite_training_images_even_if_the_test_set_is_finite():
    x, y = images(8, seed=6)
    x[3, 0, 5, 5] = np.nan
    with pytest.raises(
        FloatingPointError, match="^train: the input images contain NaN or infinity$"
    ):
        train(TrainConfig(epochs=1, train_size=8), (x, y, *images(4, seed=7)))


def test_train_names_the_epoch_and_batch_where_the_loss_stopped_being_finite():
    model = SeedCNN(seed=0)
    model.parameters()[-1][:] = np.nan  # fc2's bias: the very first loss is NaN
    config = TrainConfig(epochs=1, train_size=8, batch_size=4)
    expected = "train: loss became nan at epoch 1, batch 1; try a smaller --lr"
    with pytest.raises(FloatingPointError) as err:
        train(config, (*images(8, seed=8), *images(4, seed=9)), model)
    assert str(err.value) == expected


def test_checkpoint_file_gets_the_mode_open_would_give_it(tmp_path):
    old = os.umask(0o022)  # the common umask: a mode one bit too wide shows as 0o645
    try:
        save_checkpoint(SeedCNN(seed=0), tmp_path / "a.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o644


def test_checkpoint_temp_file_is_written_in_the_target_folder(tmp_path, monkeypatch):
    # os.replace is atomic only within one filesystem, so the temp file must sit beside
    # the target, never in the system temp folder.
    moves = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: moves.append((a, b)) or real_replace(a, b))
    save_checkpoint(SeedCNN(seed=0), tmp_path / "b.npz")
    [(src, dst)] = moves
    assert os.path.dirname(src) == str(tmp_path) and str(dst) == str(tmp_path / "b.npz")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_over_one_tiled_buffer_matches_adam_over_separate_arrays(dtype):
    # SeedCNN's parameters tile one buffer, so Adam takes its flat path there; separate
    # copies take the per-array path that test_adam checks against torch. Parameters
    # and the moments m, v that the optimizer exposes must agree at every step. A third
    # model gets its gradients the way SeedCNN.backward leaves them, written into the
    # model's own gradient arrays (one buffer too, which Adam then reads in place).
    model = SeedCNN(seed=0, dtype=dtype)
    tiled = Adam(model.parameters(), lr=1e-2)
    copies = [p.copy() for p in model.parameters()]
    separate = Adam(copies, lr=1e-2)
    live = SeedCNN(seed=0, dtype=dtype)
    in_place = Adam(live.parameters(), lr=1e-2)
    rng = np.random.default_rng(12)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape).astype(dtype) for p in copies]
        tiled.step(grads)
        separate.step(grads)
        for g_live, g in zip(live.gradients(), grads, strict=True):
            g_live[...] = g
        in_place.step(live.gradients())
        for name, ours, theirs, also in (
            ("param", model.parameters(), copies, live.parameters()),
            ("m", tiled.m, separate.m, in_place.m),
            ("v", tiled.v, separate.v, in_place.v),
        ):
            for a, b, c in zip(ours, theirs, also, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"Adam {name}, tiled vs separate")
                np.testing.assert_array_equal(c, b, err_msg=f"Adam {name}, in-place grads")


@pytest.mark.parametrize("dropped", ["__architecture__", "__format_version__"])
def test_checkpoint_missing_either_tag_is_refused_naming_both(tmp_path, dropped):
    save_checkpoint(SeedCNN(seed=0), tmp_path / "full.npz")
    with np.load(tmp_path / "full.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != dropped}
    np.savez(tmp_path / "one_tag.npz", **arrays)
    with pytest.raises(ValueError, match="has no __architecture__/__format_version__ tags"):
        load_checkpoint(tmp_path / "one_tag.npz")


def test_corrupt_checkpoint_message_names_the_error_class(tmp_path):
    save_checkpoint(SeedCNN(seed=0), tmp_path / "c.npz")
    raw = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "c.npz").write_bytes(raw[: len(raw) // 2])  # a zip cut in half
    with pytest.raises(ValueError, match=r"\((BadZipFile|EOFError|OSError|ValueError): "):
        load_checkpoint(tmp_path / "c.npz")


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (12, 4), (5, 8), (1, 1)])
def test_epoch_batches_cut_one_permutation_into_consecutive_batches(n, batch_size):
    order = np.random.default_rng(0).permutation(n)  # what epoch_batches draws first
    batches = list(epoch_batches(n, batch_size, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [min(batch_size, n - i) for i in range(0, n, batch_size)]
    np.testing.assert_array_equal(np.concatenate(batches), order)


@pytest.mark.parametrize("shape", [(1, 1, 2, 9), (1, 1, 9, 2)], ids=["short", "narrow"])
def test_conv2d_refuses_an_input_smaller_than_the_kernel_even_after_padding(shape):
    # 2 + 2*1 = 4 rows (or columns) for a 5x5 kernel: no output position exists.
    layer = Conv2d(1, 1, 5, padding=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^Conv2d: padded input \(\d+, \d+\) is smaller than"):
        layer.forward(np.zeros(shape))


def test_loss_refuses_non_2d_logits_naming_the_loss_and_the_logits():
    with pytest.raises(ValueError, match=r"^SoftmaxCrossEntropy: expected a 2-D logits array"):
        SoftmaxCrossEntropy().forward(np.zeros(10), np.array([3]))
