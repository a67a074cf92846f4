"""Checkpoints: a save/load round trip gives the same network bit for bit, the arrays load
into torch's nn.Sequential under their state_dict names, and every damaged or foreign file
is refused with a ValueError naming the file and the problem.
"""

import re
import zipfile

import numpy as np
import pytest
import torch

from oracle_tests.tolerances import compare, to_torch
from reference import SeedCNN, load_checkpoint, save_checkpoint
from reference import checkpoint as ckpt
from reference.checkpoint import model_state

STATE_NAMES = {"0.weight", "0.bias", "4.weight", "4.bias", "6.weight", "6.bias"}


def images(n=16, seed=0, dtype=np.float32):
    """MNIST-shaped images in [0, 1]: (n, 1, 28, 28)."""
    return np.random.default_rng(seed).random((n, 1, 28, 28)).astype(dtype)


def perturbed(seed: int, dtype=np.float32) -> SeedCNN:
    """A SeedCNN whose parameters differ from any fresh one's (as after training)."""
    model = SeedCNN(seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    for p in model.parameters():
        p += rng.normal(0, 0.05, p.shape).astype(dtype)
    return model


def torch_seed_cnn() -> torch.nn.Sequential:
    """The seed's torch network; its state_dict names are the checkpoint's contract."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(8 * 13 * 13, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_then_load_gives_identical_parameters_dtype_and_logits(tmp_path, dtype):
    model = perturbed(3, dtype)
    save_checkpoint(model, tmp_path / "m.npz")
    loaded = load_checkpoint(tmp_path / "m.npz")
    for name, saved in model_state(model).items():
        got = model_state(loaded)[name]
        assert got.dtype == saved.dtype, f"{name}: dtype {got.dtype} vs saved {saved.dtype}"
        np.testing.assert_array_equal(got, saved, err_msg=f"{name} after the round trip")
    x = images(dtype=dtype)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x), err_msg="logits")


def test_load_with_dtype_converts_every_parameter(tmp_path):
    model = perturbed(4, np.float64)
    save_checkpoint(model, tmp_path / "m.npz")
    loaded = load_checkpoint(tmp_path / "m.npz", dtype="float32")
    for name, saved in model_state(model).items():
        got = model_state(loaded)[name]
        assert got.dtype == np.float32, f"{name}: dtype {got.dtype}, expected float32"
        np.testing.assert_array_equal(got, saved.astype(np.float32), err_msg=name)


def test_checkpoint_arrays_load_into_torch_sequential_and_give_its_logits(tmp_path):
    model = perturbed(5, np.float32)
    save_checkpoint(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        state = {k: torch.from_numpy(npz[k]) for k in npz.files if k in STATE_NAMES}
        assert set(npz.files) == STATE_NAMES | {"__architecture__", "__format_version__"}
    net = torch_seed_cnn()
    net.load_state_dict(state, strict=True)  # every torch name present, none extra
    x = images(32, seed=1)
    with torch.no_grad():
        theirs = net(to_torch(x))
    compare("checkpoint", "logits after torch load_state_dict", model.forward(x), theirs)


def test_save_is_atomic_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old = perturbed(6)
    save_checkpoint(old, path)

    def savez_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(perturbed(7), path)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"], "a temp file was left behind"
    np.testing.assert_array_equal(load_checkpoint(path).parameters()[0], old.parameters()[0])


def test_missing_checkpoint_raises_file_not_found_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_folder_given_as_checkpoint_raises_is_a_directory_naming_it(tmp_path):
    with pytest.raises(IsADirectoryError, match=rf"{re.escape(str(tmp_path))} is a folder"):
        load_checkpoint(tmp_path)


@pytest.fixture
def good_bytes(tmp_path) -> bytes:
    save_checkpoint(perturbed(8), tmp_path / "good.npz")
    return (tmp_path / "good.npz").read_bytes()


@pytest.mark.parametrize("keep", [0, 3, 100, 0.5, -1], ids=lambda k: f"keep={k}")
def test_truncated_checkpoint_raises_value_error_naming_the_file(tmp_path, good_bytes, keep):
    # keep: bytes kept from the start; a fraction of the file; or, if negative, bytes cut.
    n = int(len(good_bytes) * keep) if isinstance(keep, float) else keep % len(good_bytes)
    path = tmp_path / "cut.npz"
    path.write_bytes(good_bytes[:n])
    with pytest.raises(ValueError, match=r"checkpoint .*cut\.npz (is corrupt|is not a \.npz)"):
        load_checkpoint(path)


def test_flipped_byte_inside_the_weights_raises_value_error_naming_the_file(tmp_path, good_bytes):
    data = bytearray(good_bytes)
    data[len(data) // 2] ^= 0xFF  # inside 4.weight, the largest array: its CRC-32 fails
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"flipped\.npz is corrupt.*CRC"):
        load_checkpoint(path)


def test_plain_numpy_file_raises_value_error_naming_the_file_and_the_format(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros(3))
    with pytest.raises(ValueError, match=r"weights\.npy is not a \.npz \(zip\) file"):
        load_checkpoint(path)


def write_npz(path, arrays: dict) -> None:
    with zipfile.ZipFile(path, "w") as z:  # what np.savez does, but with any names
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, np.asanyarray(a), allow_pickle=True)


def tagged(**overrides) -> dict:
    """A valid checkpoint's arrays with some entries replaced (None removes one)."""
    arrays = {k: v.copy() for k, v in model_state(perturbed(9)).items()}
    arrays |= {"__architecture__": np.array("SeedCNN"), "__format_version__": np.array(1)}
    for name, a in overrides.items():
        if a is None:
            del arrays[name]
        else:
            arrays[name] = a
    return arrays


# what is wrong -> (the arrays of such a file, built lazily; the message it must give)
BAD_CHECKPOINTS = {
    "16 conv filters": (
        lambda: tagged(**{"0.weight": np.zeros((16, 1, 3, 3), np.float32)}),
        r"0\.weight has shape \(16, 1, 3, 3\), expected \(8, 1, 3, 3\)",
    ),
    "256 hidden units": (
        lambda: tagged(**{"4.bias": np.zeros(256, np.float32)}),
        r"4\.bias has shape \(256,\), expected \(128,\)",
    ),
    "a layer missing": (lambda: tagged(**{"6.weight": None}), r"missing \['6\.weight'\]"),
    "an extra layer": (
        lambda: tagged(**{"8.weight": np.zeros((10, 10), np.float32)}),
        r"unexpected \['8\.weight'\]",
    ),
    "torch-style prefixed names": (
        lambda: {f"net.{k}" if "." in k[:2] else k: v for k, v in tagged().items()},
        r"missing \[.*'0\.bias'.*\], unexpected \[.*'net\.0\.bias'",
    ),
    "another architecture tag": (
        lambda: tagged(__architecture__=np.array("LeNet5")),
        r"architecture 'LeNet5', expected 'SeedCNN'",
    ),
    "a future format version": (
        lambda: tagged(__format_version__=np.array(2)),
        r"format version 2, this code reads version 1",
    ),
    "no tags": (
        lambda: {k: v for k, v in tagged().items() if not k.startswith("__")},
        r"no __architecture__/__format_version__ tags",
    ),
    "integer weights": (
        lambda: tagged(**{"0.weight": np.zeros((8, 1, 3, 3), np.int64)}),
        r"0\.weight has dtype int64, expected float32/64",
    ),
    "a NaN weight": (
        lambda: tagged(**{"6.bias": np.full(10, np.nan, np.float32)}),
        r"6\.bias contains NaN or infinity",
    ),
    "mixed dtypes": (
        lambda: tagged(**{"6.bias": np.zeros(10, np.float64)}),
        r"mix dtypes \['float32', 'float64'\]",
    ),
    "a pickled object array": (
        lambda: tagged(**{"0.bias": np.array([object()] * 8)}),
        r"is corrupt.*(pickle|allow_pickle)",
    ),
}


@pytest.mark.parametrize("what", BAD_CHECKPOINTS)
def test_foreign_checkpoint_raises_value_error_naming_file_and_problem(tmp_path, what):
    make_arrays, problem = BAD_CHECKPOINTS[what]
    path = tmp_path / "other.npz"
    write_npz(path, make_arrays())
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(path))}.*{problem}"):
        load_checkpoint(path)
