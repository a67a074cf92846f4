"""Load MNIST from the four canonical IDX files, verified byte for byte.

`load_mnist` looks for the files, in order, in the `data_dir` argument, in `$MNIST_DIR`,
and in a per-user cache (`$MNIST_CACHE_DIR` overrides its location); only when neither a
folder argument nor `$MNIST_DIR` is given does it download the missing files into that cache.
Each file may be raw or gzip-compressed. Every file is parsed and then checked against the
sha256 of its decompressed bytes, so a corrupt, truncated or foreign file is refused with a
`DatasetError` that names the file, the problem and the fix.
"""

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import pooch

# sha256 of the decompressed IDX bytes. The .gz bytes differ between mirrors (and from
# ../shared/mnist), but the content inside is the same everywhere.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FILES = tuple(SHA256)  # fixed here, so tests that swap SHA256 cannot change which files load
# The mirrors torchvision uses, in its order. $MNIST_URL replaces the whole list.
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
CACHE_NAME = "seed-cnn-mnist"
TRAIN_SET_SIZE = 60000

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # unsigned byte data, 3 dims / 1 dim
GZIP_MAGIC = b"\x1f\x8b"
FIX_DIR = (
    "Replace it with the canonical MNIST file, point MNIST_DIR (or --data-dir) at a folder "
    "that holds good copies, or unset both to download the files into the cache."
)


class DatasetError(ValueError):
    """A dataset file is missing, corrupt, or not the canonical MNIST file."""


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Parse the bytes of one uncompressed IDX file of unsigned bytes.

    Accepts images (magic 0x00000803, 3 dims) and labels (magic 0x00000801, 1 dim).
    Returns a read-only uint8 view of `raw` with the shape the header declares, e.g.
    (N, 28, 28) or (N,). Raises DatasetError naming `name` if the magic number is wrong,
    the header or data is truncated, or bytes follow the data.
    """
    if len(raw) < 4:
        raise DatasetError(f"{name}: truncated: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DatasetError(
            f"{name}: wrong magic number 0x{magic:08x}, expected 0x{IMAGES_MAGIC:08x} (images) "
            f"or 0x{LABELS_MAGIC:08x} (labels); this is not an MNIST IDX file"
        )
    ndim = raw[3]  # the magic's last byte is the number of dimensions
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{name}: truncated inside the header ({len(raw)} of {header} bytes)")
    shape = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4))
    size = int(np.prod(shape, dtype=object))  # Python ints: a forged header cannot overflow
    payload = len(raw) - header
    if payload < size:
        raise DatasetError(
            f"{name}: truncated: the header declares shape {shape} ({size} data bytes) "
            f"but only {payload} follow"
        )
    if payload > size:
        raise DatasetError(
            f"{name}: {payload - size} trailing bytes after the {size} data bytes of shape {shape}"
        )
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(shape)


def load_mnist(
    data_dir: str | os.PathLike | None = None, train_size: int = 12000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test) from verified MNIST files.

    x_train, y_train: the first `train_size` images of the official training set,
        float32 (train_size, 1, 28, 28) in [0, 1] and int64 (train_size,).
    x_test, y_test: all 10,000 test images, (10000, 1, 28, 28) and (10000,).
    Looks in `data_dir`, then $MNIST_DIR, then the cache (downloading into it if needed).
    Raises ValueError for a bad `train_size` and DatasetError for a missing or bad file.
    """
    if (
        isinstance(train_size, bool)
        or not isinstance(train_size, int | np.integer)
        or not 1 <= train_size <= TRAIN_SET_SIZE
    ):
        raise ValueError(f"train_size must be an int in 1..{TRAIN_SET_SIZE}, got {train_size!r}")
    folder, origin = _explicit_folder(data_dir)
    if folder is not None:
        _require_files(folder, origin)
        arrays = {name: _read_user_file(folder, name) for name in FILES}
    else:
        folder = Path(os.environ.get("MNIST_CACHE_DIR") or pooch.os_cache(CACHE_NAME))
        arrays = {name: _read_cached_file(folder, name) for name in FILES}
    x_train, y_train = _pair(arrays, "train", folder)
    x_test, y_test = _pair(arrays, "t10k", folder)
    if len(x_train) < train_size:
        raise DatasetError(
            f"train_size={train_size} but the training set in {folder} has only "
            f"{len(x_train)} images"
        )
    y_train, y_test = y_train[:train_size].astype(np.int64), y_test.astype(np.int64)
    return _to_float(x_train[:train_size]), y_train, _to_float(x_test), y_test


def _to_float(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float32)  # a fresh C-contiguous copy
    x /= 255  # the same float32 division as torchvision's ToTensor
    return x.reshape(-1, 1, 28, 28)  # N,1,28,28


def _explicit_folder(data_dir: str | os.PathLike | None) -> tuple[Path | None, str]:
    if data_dir is not None:
        return Path(data_dir), "the data_dir argument"
    # An empty MNIST_DIR counts as unset, the usual convention for env vars.
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"]), "$MNIST_DIR"
    return None, ""


def _require_files(folder: Path, origin: str) -> None:
    """An explicit folder must be complete: downloading behind the user's back would hide
    a typo in the path and fetch 11 MB the user did not ask for."""
    if not folder.is_dir():
        raise DatasetError(
            f"MNIST folder {folder} (from {origin}) does not exist. Set MNIST_DIR or pass "
            "--data-dir to a folder holding the four MNIST files, or unset both to download "
            "them into the cache."
        )
    missing = [name for name in FILES if _find_file(folder, name) is None]
    if missing:
        raise DatasetError(
            f"MNIST folder {folder} (from {origin}) lacks {', '.join(missing)} (raw or .gz). "
            "Put the files there, set MNIST_DIR or pass --data-dir to a folder holding all "
            "four, or unset both to download them into the cache."
        )


def _find_file(folder: Path, name: str) -> Path | None:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def _read_verified(path: Path, name: str) -> np.ndarray:
    """Decompress if needed, parse, check the kind of data, then check the sha256.

    Parsing first lets a truncated file say "truncated" rather than just "wrong sha256".
    """
    raw = path.read_bytes()
    # Sniff gzip by content, not by suffix: a server that sets Content-Encoding: gzip gets
    # its .gz decoded on the fly by requests, leaving raw IDX bytes under a .gz name.
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DatasetError(f"{path}: truncated or corrupt gzip data ({err})") from err
    data = parse_idx(raw, str(path))
    want = (28, 28) if "images" in name else ()
    if data.ndim != 1 + len(want) or data.shape[1:] != want:
        kind = "28x28 images" if want else "labels"
        raise DatasetError(f"{path}: expected {kind} but the file holds shape {data.shape}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise DatasetError(
            f"{path}: wrong sha256 {digest} for the decompressed data, expected "
            f"{SHA256[name]}; the file is corrupt or not the canonical {name}"
        )
    return data


def _read_user_file(folder: Path, name: str) -> np.ndarray:
    try:
        return _read_verified(_find_file(folder, name), name)
    except DatasetError as err:
        raise DatasetError(f"{err}. {FIX_DIR}") from err


def _read_cached_file(cache: Path, name: str) -> np.ndarray:
    """Read `name` from the cache, downloading it first if it is not there."""
    path = _find_file(cache, name)
    source = "cached file"
    if path is None:
        path, url = _download(name, cache)
        source = f"downloaded from {url}"
    try:
        return _read_verified(path, name)
    except DatasetError as err:
        path.unlink(missing_ok=True)  # the cache is ours: never leave a bad file to be trusted
        raise DatasetError(
            f"{err} ({source}). Deleted it; run again to download a fresh copy, or set "
            "MNIST_DIR to a folder holding the four MNIST files."
        ) from err


def _download(name: str, cache: Path) -> tuple[Path, str]:
    """Fetch `name`.gz into `cache` from the first mirror that serves it."""
    import requests  # pooch's own HTTP library; imported here to keep plain loads fast

    pooch.get_logger().setLevel("WARNING")  # keep the progress bar, drop the chatter
    mirrors = [os.environ["MNIST_URL"]] if os.environ.get("MNIST_URL") else MIRRORS
    failures = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{name}.gz"
        try:
            # pooch streams into a temp file and renames it only when complete, so a
            # killed download never leaves a partial file under the final name.
            # known_hash=None: the .gz bytes differ between mirrors; we check the content.
            path = pooch.retrieve(
                url,
                known_hash=None,
                fname=f"{name}.gz",
                path=cache,
                downloader=pooch.HTTPDownloader(progressbar=True, timeout=60),
            )
            return Path(path), url
        except (requests.RequestException, OSError) as err:
            failures.append(f"{url}: {err}")
    raise DatasetError(
        f"could not download {name}: {'; '.join(failures)}. Set MNIST_DIR to a folder "
        "holding the four MNIST files (raw or .gz), or MNIST_URL to a working mirror."
    )


def _pair(arrays: dict[str, np.ndarray], split: str, folder: Path) -> tuple[np.ndarray, ...]:
    images_name, labels_name = f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"
    images, labels = arrays[images_name], arrays[labels_name]
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_name} holds {len(images)} images but {labels_name} holds "
            f"{len(labels)} labels (in {folder}); the files come from different datasets. "
            "Replace both with the canonical MNIST files, or set MNIST_DIR to a folder "
            "holding them."
        )
    return images, labels
