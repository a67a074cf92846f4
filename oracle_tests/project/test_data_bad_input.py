"""Bad MNIST files: each is refused with a DatasetError naming the file, the problem and
the fix; and fuzzing `parse_idx` and the gzip path lets nothing else escape.

Synthetic files in the real IDX format, with data.SHA256 patched to match them, so the
only fault in each folder is the one a test puts there.
"""

import gzip
import hashlib
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import data
from reference.data import DatasetError, load_mnist, parse_idx

FIX = "MNIST_DIR"  # every message about a file in a folder says how to point elsewhere


def idx_bytes(a: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: magic 0x0000080<ndim>, big-endian dims, then data."""
    return struct.pack(f">I{a.ndim}I", 0x800 + a.ndim, *a.shape) + a.astype(np.uint8).tobytes()


def synthetic_files(n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    """Raw IDX bytes of a small MNIST-shaped dataset."""
    rng = np.random.default_rng(0)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        files[f"{split}-images-idx3-ubyte"] = idx_bytes(images)
        files[f"{split}-labels-idx1-ubyte"] = idx_bytes(rng.integers(0, 10, n, dtype=np.uint8))
    return files


GOOD = synthetic_files()
GOOD_SHA256 = {name: hashlib.sha256(raw).hexdigest() for name, raw in GOOD.items()}


def write(folder: Path, files: dict[str, bytes], gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


@pytest.fixture(autouse=True)
def synthetic_sha(monkeypatch, tmp_path):
    """The loader trusts GOOD; no test here may reach a cache or mirror."""
    monkeypatch.setattr(data, "SHA256", dict(GOOD_SHA256))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MNIST_URL", "http://127.0.0.1:9/")  # discard port: nothing answers


def load_error(folder: Path, **kwargs) -> str:
    with pytest.raises(DatasetError) as err:
        load_mnist(folder, **kwargs)
    return str(err.value)


# --- Folders ---------------------------------------------------------------------------
def test_missing_folder_raises_naming_folder_and_fix(tmp_path):
    message = load_error(tmp_path / "nowhere")
    for part in (str(tmp_path / "nowhere"), "does not exist", "MNIST_DIR", "--data-dir", "unset"):
        assert part in message


def test_missing_file_raises_naming_folder_file_and_fix(tmp_path, monkeypatch):
    files = dict(GOOD)
    del files["t10k-labels-idx1-ubyte"]
    monkeypatch.setenv("MNIST_DIR", str(write(tmp_path, files)))
    with pytest.raises(DatasetError) as err:
        load_mnist()
    message = str(err.value)
    for part in (str(tmp_path), "$MNIST_DIR", "lacks t10k-labels-idx1-ubyte", "--data-dir"):
        assert part in message
    assert "train-images" not in message, "only the missing file is named"


def test_good_synthetic_files_load_raw_and_gz(tmp_path):
    """The baseline the tests below break: without a fault the folder loads."""
    for gz in (False, True):
        x_train, y_train, _, y_test = load_mnist(write(tmp_path / str(gz), GOOD, gz), 6)
        assert x_train.shape == (6, 1, 28, 28) and y_test.shape == (4,)
        assert y_train.tolist() == list(GOOD["train-labels-idx1-ubyte"][8:])


# --- Bad files ----------------------------------------------------------------------------
def with_header(raw: bytes, magic: int) -> bytes:
    return struct.pack(">I", magic) + raw[4:]


BAD_FILES = {
    # id: (file, its bad bytes (raw), words the message must contain)
    "wrong-magic": (
        "train-labels-idx1-ubyte",
        with_header(GOOD["train-labels-idx1-ubyte"], 0x00000802),
        "wrong magic number 0x00000802",
    ),
    "not-ubyte-data": (
        "train-images-idx3-ubyte",
        with_header(GOOD["train-images-idx3-ubyte"], 0x00000D03),  # 0x0D: float32 data
        "wrong magic number 0x00000d03",
    ),
    "empty-file": ("t10k-images-idx3-ubyte", b"", "truncated: 0 bytes"),
    "truncated-header": ("train-images-idx3-ubyte", GOOD["train-images-idx3-ubyte"][:10], "header"),
    "truncated-data": (
        "train-images-idx3-ubyte",
        GOOD["train-images-idx3-ubyte"][:-1],
        "truncated: the header declares shape (6, 28, 28)",
    ),
    "trailing-bytes": (
        "t10k-labels-idx1-ubyte",
        GOOD["t10k-labels-idx1-ubyte"] + b"\0\0\0",
        "3 trailing bytes",
    ),
    "wrong-sha256": (
        "t10k-images-idx3-ubyte",
        GOOD["t10k-images-idx3-ubyte"][:-1] + bytes([GOOD["t10k-images-idx3-ubyte"][-1] ^ 1]),
        "wrong sha256",
    ),
    "labels-file-holds-images": (
        "train-labels-idx1-ubyte",
        GOOD["train-images-idx3-ubyte"],
        "expected labels but the file holds shape (6, 28, 28)",
    ),
    "images-not-28x28": (
        "t10k-images-idx3-ubyte",
        idx_bytes(np.zeros((4, 27, 29), np.uint8)),
        "expected 28x28 images",
    ),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_raises_dataset_error_naming_file_problem_and_fix(case, gz, tmp_path):
    name, bad, problem = case
    folder = write(tmp_path, {**GOOD, name: bad}, gz)
    message = load_error(folder, train_size=6)
    assert str(folder / (f"{name}.gz" if gz else name)) in message
    assert problem in message and FIX in message


@pytest.mark.parametrize(
    "mangle, problem",
    [
        (lambda gz: gz[:-9], "Compressed file ended before the end-of-stream marker"),
        (lambda gz: gz[:-4] + bytes(4), "Incorrect length of data produced"),
        (lambda gz: gz[:-8] + bytes(8), "CRC check failed"),
        (lambda gz: gz[:3] + b"\xff" + gz[4:], "gzip data ("),
        (lambda gz: gz[:10] + b"\xff" * 20 + gz[30:], "gzip data ("),
    ],
    ids=["cut", "wrong-length", "wrong-crc", "bad-flags", "bad-deflate"],
)
def test_corrupt_gzip_raises_dataset_error_naming_file(mangle, problem, tmp_path):
    name = "train-images-idx3-ubyte"
    folder = write(tmp_path, GOOD, gz=True)
    path = folder / f"{name}.gz"
    path.write_bytes(mangle(path.read_bytes()))
    message = load_error(folder, train_size=6)
    for part in (f"{path}: truncated or corrupt gzip data (", problem, FIX):
        assert part in message


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_image_and_label_count_mismatch_raises_naming_both_files(split, tmp_path):
    labels = f"{split}-labels-idx1-ubyte"
    short = idx_bytes(np.zeros(3, np.uint8))
    data.SHA256[labels] = hashlib.sha256(short).hexdigest()
    message = load_error(write(tmp_path, {**GOOD, labels: short}), train_size=3)
    n_images = {"train": 6, "t10k": 4}[split]
    mismatch = f"{split}-images-idx3-ubyte holds {n_images} images but {labels} holds 3 labels"
    for part in (mismatch, FIX):
        assert part in message


def test_train_size_beyond_the_files_training_set_raises(tmp_path):
    message = load_error(write(tmp_path, GOOD), train_size=7)
    assert "train_size=7" in message and "only 6 images" in message


# --- parse_idx ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(0,), (5,), (3, 28, 28), (1, 2, 3), (0, 28, 28)])
def test_parse_idx_returns_the_encoded_array_with_its_declared_shape(shape):
    a = np.arange(int(np.prod(shape)), dtype=np.int64).astype(np.uint8).reshape(shape)
    parsed = parse_idx(idx_bytes(a), "x")
    assert parsed.dtype == np.uint8
    np.testing.assert_array_equal(parsed, a, strict=True)


def test_parse_idx_huge_declared_shape_reports_truncated_rather_than_overflowing():
    raw = struct.pack(">IIII", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(10)
    with pytest.raises(DatasetError, match=r"huge: truncated: .*\(4294967295, "):
        parse_idx(raw, "huge")


@st.composite
def mutated_idx(draw) -> bytes:
    """A valid small IDX file, then a few byte overwrites, a cut, and/or extra bytes."""
    ndim = draw(st.sampled_from([1, 3]))
    shape = draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim))
    raw = bytearray(idx_bytes(np.zeros(shape, np.uint8)))
    for _ in range(draw(st.integers(0, 3))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    raw = raw[: draw(st.integers(0, len(raw)))] + draw(st.binary(max_size=8))
    return bytes(raw)


@given(st.one_of(st.binary(max_size=64), mutated_idx()))
def test_parse_idx_on_arbitrary_bytes_raises_only_dataset_error(raw):
    try:
        parsed = parse_idx(raw, "fuzz")
    except DatasetError as err:
        assert "fuzz" in str(err)
        return
    header = 4 + 4 * parsed.ndim
    assert parsed.ndim in (1, 3) and header + parsed.size == len(raw), "bytes unaccounted for"


@given(st.data())
def test_mutated_gzip_file_loads_unchanged_or_raises_only_dataset_error(choices):
    name = choices.draw(st.sampled_from(sorted(GOOD)), label="file")
    gz = bytearray(gzip.compress(GOOD[name]))
    for _ in range(choices.draw(st.integers(1, 3))):
        gz[choices.draw(st.integers(0, len(gz) - 1))] = choices.draw(st.integers(0, 255))
    gz = gz[: choices.draw(st.integers(0, len(gz)))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = write(Path(tmp), GOOD, gz=True)
        (folder / f"{name}.gz").write_bytes(bytes(gz))
        try:
            loaded = load_mnist(folder, train_size=6)
        except DatasetError as err:
            assert name in str(err)
            return
    # Only a mutation that left the content intact may load, and then it loads GOOD.
    assert loaded[1].tolist() == list(GOOD["train-labels-idx1-ubyte"][8:])
