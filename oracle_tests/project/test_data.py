"""The MNIST loader: real data read independently with gzip+struct, folder precedence,
and downloads from a local HTTP mirror on 127.0.0.1 (never the internet).

Bad files and their messages are in test_data_bad_input.py.
"""

import gzip
import hashlib
import http.server
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reference import data
from reference.data import DatasetError, load_mnist

REPO = Path(__file__).resolve().parents[2]
# Read once at import: the autouse fixture below removes MNIST_DIR from every test's env.
REAL_MNIST_DIR = os.environ.get("MNIST_DIR", "")
NAMES = data.FILES


# --- Synthetic MNIST: the real format, a few images, SHA256 patched to match ----------
def idx_bytes(a: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: magic 0x0000080<ndim>, big-endian dims, then data."""
    return struct.pack(f">I{a.ndim}I", 0x800 + a.ndim, *a.shape) + a.astype(np.uint8).tobytes()


def synthetic_arrays(n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, :2] = 0, 255  # both ends of the range appear
        arrays[f"{split}-images-idx3-ubyte"] = images
        arrays[f"{split}-labels-idx1-ubyte"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    return arrays


@pytest.fixture
def synthetic(monkeypatch):
    """Arrays of a small synthetic MNIST whose sha256s the loader now expects."""
    arrays = synthetic_arrays()
    for name, a in arrays.items():
        monkeypatch.setitem(data.SHA256, name, hashlib.sha256(idx_bytes(a)).hexdigest())
    return arrays


def write_dataset(folder: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        raw = idx_bytes(a)
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


def assert_loaded(loaded, arrays, train_size):
    x_train, y_train, x_test, y_test = loaded
    images, labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    expected = images[:train_size, None].astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(x_train, expected, err_msg="x_train vs synthetic images/255")
    np.testing.assert_array_equal(y_train, labels[:train_size], err_msg="y_train vs synthetic")
    np.testing.assert_array_equal(x_test[:, 0] * 255, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


# --- A local mirror ---------------------------------------------------------------------
def dead_url() -> str:
    """A 127.0.0.1 URL where nothing listens: bind a free port, then release it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class Mirror:
    """A ThreadingHTTPServer on 127.0.0.1 serving `folder`, recording each GET path.

    mode "serve" answers normally; "drop" sends a Content-Length of 1 MB, 1 kB of it,
    then closes; "stall" sends the same header, then drips 1 kB every 50 ms until stopped.
    """

    def __init__(self, folder: Path, mode: str = "serve"):
        self.requests: list[str] = []
        self.stop = threading.Event()
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                mirror.requests.append(self.path.lstrip("/"))
                if mode == "serve":
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 20))
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + bytes(1022))
                # Bounded: at most ~20 s even if nobody sets `stop`.
                for _ in range(400 if mode == "stall" else 0):
                    if mirror.stop.wait(0.05):
                        break
                    self.wfile.write(bytes(1024))
                    self.wfile.flush()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        # A short poll interval makes shutdown() quick; the default costs 0.5 s per test.
        poll = {"poll_interval": 0.02}
        threading.Thread(target=self.server.serve_forever, kwargs=poll, daemon=True).start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror():
    """Start local mirrors: mirror(folder, mode="serve") -> Mirror; all closed afterwards."""
    started = []

    def start(folder: Path, mode: str = "serve") -> Mirror:
        started.append(Mirror(folder, mode))
        return started[-1]

    yield start
    for m in started:
        m.close()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test may touch the real cache or the internet: the cache is a tmp folder and the
    mirror a dead local port unless a test says otherwise. Returns the cache folder."""
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MNIST_URL", dead_url())
    for var in ("NO_PROXY", "no_proxy"):  # a CI proxy must not intercept the local mirror
        monkeypatch.setenv(var, "127.0.0.1")
    return tmp_path / "cache"


# --- Real MNIST -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_dir() -> Path:
    """$MNIST_DIR with the four real files; skips if absent, but FAILS in CI (CI=true)."""
    folder = Path(REAL_MNIST_DIR)
    missing = [
        n for n in NAMES if not (folder / n).is_file() and not (folder / f"{n}.gz").is_file()
    ]
    if not REAL_MNIST_DIR or missing:
        why = f"real MNIST not found: MNIST_DIR={REAL_MNIST_DIR!r} lacks {missing}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{why}; CI must run the real-data tests (set MNIST_DIR)")
        pytest.skip(why)
    return folder


@pytest.fixture(scope="module")
def real(real_dir):
    return load_mnist(real_dir)


def read_raw(path: Path, count: int | None = None) -> tuple[tuple[int, ...], bytes]:
    """Header dims and the first `count` items of a gzipped IDX file, via gzip+struct only."""
    with gzip.open(path, "rb") as f:
        magic, *_ = struct.unpack(">I", f.read(4))
        ndim = magic & 0xFF
        dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        item = int(np.prod(dims[1:]))
        return dims, f.read(item * (dims[0] if count is None else count))


def test_real_mnist_arrays_have_contract_shapes_dtypes_and_range(real):
    x_train, y_train, x_test, y_test = real
    for name, a, shape, dtype in (
        ("x_train", x_train, (12000, 1, 28, 28), np.float32),
        ("y_train", y_train, (12000,), np.int64),
        ("x_test", x_test, (10000, 1, 28, 28), np.float32),
        ("y_test", y_test, (10000,), np.int64),
    ):
        assert (a.shape, a.dtype) == (shape, dtype), f"{name}: {a.shape} {a.dtype}"
        assert a.flags.c_contiguous, f"{name} is not C-contiguous"
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        assert (x.min(), x.max()) == (0.0, 1.0), f"{name} range {x.min()}..{x.max()}"
    assert set(np.unique(y_train)) == set(range(10))


def test_real_labels_and_pixels_match_raw_files_read_with_gzip_and_struct(real_dir, real):
    x_train, y_train, x_test, y_test = real
    dims, labels = read_raw(real_dir / "train-labels-idx1-ubyte.gz", count=12000)
    assert dims == (60000,)
    assert y_train.tolist() == list(labels)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known start
    dims, labels = read_raw(real_dir / "t10k-labels-idx1-ubyte.gz")
    assert dims == (10000,)
    assert y_test.tolist() == list(labels)
    dims, pixels = read_raw(real_dir / "train-images-idx3-ubyte.gz", count=50)
    assert dims == (60000, 28, 28)
    first = np.frombuffer(pixels, np.uint8).reshape(50, 1, 28, 28)
    np.testing.assert_array_equal(x_train[:50], first.astype(np.float32) / np.float32(255))


def test_train_size_selects_the_first_images_of_the_official_training_set(real_dir, real):
    x_full, y_full, x_test, _ = load_mnist(real_dir, train_size=60000)
    assert x_full.shape == (60000, 1, 28, 28) and y_full.shape == (60000,)
    np.testing.assert_array_equal(x_full[:12000], real[0])
    np.testing.assert_array_equal(y_full[:12000], real[1])
    np.testing.assert_array_equal(x_test, real[2], err_msg="test set must not depend on size")
    _, labels = read_raw(real_dir / "train-labels-idx1-ubyte.gz")
    assert y_full[-1] == labels[-1]
    x_one, y_one, _, _ = load_mnist(real_dir, train_size=1)
    assert x_one.shape == (1, 1, 28, 28) and y_one.tolist() == [5]


def test_real_raw_files_load_the_same_as_gzipped_ones(real_dir, real, tmp_path):
    for name in NAMES:
        with gzip.open(real_dir / f"{name}.gz") as src, open(tmp_path / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    for ours, gz in zip(load_mnist(tmp_path), real, strict=True):
        np.testing.assert_array_equal(ours, gz)


def test_real_mnist_downloads_from_a_local_mirror_into_the_cache(
    real_dir, real, mirror, isolated_env, monkeypatch
):
    served = mirror(real_dir)
    monkeypatch.setenv("MNIST_URL", served.url)
    for ours, direct in zip(load_mnist(), real, strict=True):
        np.testing.assert_array_equal(ours, direct)
    assert sorted(served.requests) == sorted(f"{n}.gz" for n in NAMES)
    assert sorted(p.name for p in isolated_env.iterdir()) == sorted(f"{n}.gz" for n in NAMES)


# --- The contract on synthetic data ----------------------------------------------------
def test_synthetic_files_load_as_float32_over_255_and_int64(synthetic, tmp_path):
    folder = write_dataset(tmp_path / "d", synthetic)
    loaded = load_mnist(folder, train_size=np.int64(4))  # a NumPy int is an int too
    assert_loaded(loaded, synthetic, train_size=4)
    assert [a.dtype for a in loaded] == [np.float32, np.int64, np.float32, np.int64]


@pytest.mark.parametrize("bad", [0, -1, 60001, 1.5, 12000.0, "100", True, None])
def test_train_size_outside_1_to_60000_raises_value_error_naming_value_and_range(bad, tmp_path):
    # The folder does not exist: a loader that checked files first would raise DatasetError.
    with pytest.raises(ValueError) as err:
        load_mnist(tmp_path / "nowhere", train_size=bad)
    assert type(err.value) is ValueError
    assert repr(bad) in str(err.value) and "1..60000" in str(err.value)


def test_data_dir_argument_takes_precedence_over_mnist_dir(synthetic, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "nowhere"))
    assert_loaded(load_mnist(write_dataset(tmp_path / "d", synthetic), 6), synthetic, 6)


def test_mnist_dir_takes_precedence_over_the_cache(synthetic, tmp_path, monkeypatch, isolated_env):
    isolated_env.mkdir()
    for name in NAMES:
        (isolated_env / name).write_bytes(b"not mnist")
    monkeypatch.setenv("MNIST_DIR", str(write_dataset(tmp_path / "d", synthetic, gz=False)))
    assert_loaded(load_mnist(train_size=6), synthetic, 6)


def test_explicit_mnist_dir_lacking_files_raises_without_downloading(
    synthetic, tmp_path, mirror, monkeypatch
):
    served = mirror(write_dataset(tmp_path / "served", synthetic))
    monkeypatch.setenv("MNIST_URL", served.url)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="lacks train-images-idx3-ubyte"):
        load_mnist(train_size=6)
    assert served.requests == []


# --- Downloads ---------------------------------------------------------------------------
def test_download_fills_the_cache_and_a_second_call_makes_no_request(
    synthetic, tmp_path, mirror, monkeypatch, isolated_env
):
    served = mirror(write_dataset(tmp_path / "served", synthetic))
    monkeypatch.setenv("MNIST_URL", served.url.rstrip("/"))  # with or without the slash
    assert_loaded(load_mnist(train_size=6), synthetic, 6)
    assert sorted(served.requests) == sorted(f"{n}.gz" for n in NAMES)
    assert sorted(p.name for p in isolated_env.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert_loaded(load_mnist(train_size=3), synthetic, 3)
    assert len(served.requests) == 4, "the second call downloaded again"


def test_download_falls_back_to_the_next_mirror_when_the_first_is_down(
    synthetic, tmp_path, mirror, monkeypatch
):
    served = mirror(write_dataset(tmp_path / "served", synthetic))
    monkeypatch.delenv("MNIST_URL")
    monkeypatch.setattr(data, "MIRRORS", (dead_url(), served.url))
    assert_loaded(load_mnist(train_size=6), synthetic, 6)
    assert len(served.requests) == 4


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (lambda gz, raw: gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1])), "wrong sha256"),
        (lambda gz, raw: gz[: len(gz) // 2], "corrupt gzip data"),
        (lambda gz, raw: gzip.compress(raw[:-2]), "truncated"),
    ],
    ids=["one-byte-changed", "gzip-cut-in-half", "idx-truncated"],
)
def test_corrupt_download_raises_naming_file_and_url_and_is_deleted_then_refetched(
    corrupt, problem, synthetic, tmp_path, mirror, monkeypatch, isolated_env
):
    name = "train-labels-idx1-ubyte"
    folder = write_dataset(tmp_path / "served", synthetic)
    good = (folder / f"{name}.gz").read_bytes()
    (folder / f"{name}.gz").write_bytes(corrupt(good, idx_bytes(synthetic[name])))
    served = mirror(folder)
    monkeypatch.setenv("MNIST_URL", served.url)
    with pytest.raises(DatasetError) as err:
        load_mnist(train_size=6)
    for part in (name, problem, f"downloaded from {served.url}{name}.gz", "Deleted it"):
        assert part in str(err.value)
    assert not (isolated_env / f"{name}.gz").exists(), "a bad download stayed in the cache"
    (folder / f"{name}.gz").write_bytes(good)  # the mirror is repaired
    assert_loaded(load_mnist(train_size=6), synthetic, 6)
    assert served.requests.count(f"{name}.gz") == 2


def test_bad_cached_file_is_deleted_and_downloaded_again_on_the_next_call(
    synthetic, tmp_path, mirror, monkeypatch, isolated_env
):
    served = mirror(write_dataset(tmp_path / "served", synthetic))
    monkeypatch.setenv("MNIST_URL", served.url)
    write_dataset(isolated_env, synthetic)
    (isolated_env / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x03"))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*truncated.*cached file"):
        load_mnist(train_size=6)
    assert served.requests == []
    assert_loaded(load_mnist(train_size=6), synthetic, 6)
    assert served.requests == ["t10k-images-idx3-ubyte.gz"]


def test_unreachable_mirror_raises_dataset_error_naming_url_and_fix(isolated_env):
    url = os.environ["MNIST_URL"]
    with pytest.raises(DatasetError) as err:
        load_mnist()
    message = str(err.value)
    assert f"{url}train-images-idx3-ubyte.gz" in message
    assert "could not download train-images-idx3-ubyte" in message and "MNIST_DIR" in message
    assert not isolated_env.exists() or not any(isolated_env.iterdir())


def test_mirror_answering_404_raises_dataset_error_naming_url(tmp_path, mirror, monkeypatch):
    served = mirror(tmp_path)  # an empty folder: every file is a 404
    monkeypatch.setenv("MNIST_URL", served.url)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: 404"):
        load_mnist()


def test_connection_dropped_mid_download_raises_and_leaves_no_file(
    tmp_path, mirror, monkeypatch, isolated_env
):
    served = mirror(tmp_path, mode="drop")
    monkeypatch.setenv("MNIST_URL", served.url)
    with pytest.raises(DatasetError, match="could not download train-images-idx3-ubyte"):
        load_mnist()
    assert served.requests == ["train-images-idx3-ubyte.gz"]
    assert list(isolated_env.iterdir()) == [], "pooch left its temp file"


def test_download_killed_mid_transfer_leaves_no_file_that_a_later_load_trusts(
    synthetic, tmp_path, mirror, monkeypatch, isolated_env
):
    stalled = mirror(tmp_path, mode="stall")
    env = {**os.environ, "MNIST_URL": stalled.url, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", "from reference.data import load_mnist; load_mnist()"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        # Wait until the child has written part of the body to disk, then kill it.
        while not any(p.stat().st_size > 2048 for p in isolated_env.glob("*")):
            assert child.poll() is None, "the child exited before the download started"
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    final = isolated_env / "train-images-idx3-ubyte.gz"
    assert not final.exists(), "a killed download left a file under the final name"
    assert any(isolated_env.iterdir()), "nothing partial on disk: the kill was not mid-transfer"
    served = mirror(write_dataset(tmp_path / "served", synthetic))
    monkeypatch.setenv("MNIST_URL", served.url)
    assert_loaded(load_mnist(train_size=6), synthetic, 6)
    assert "train-images-idx3-ubyte.gz" in served.requests
