"""Save and load SeedCNN weights as a NumPy .npz file, named as torch's state_dict names them.

A checkpoint holds one array per parameter under the nn.Sequential name of the layer
index ("0.weight", "0.bias", "4.weight", ...), so `torch.load`-free code on either side
can map it to `model.state_dict()`, plus two tags: the architecture ("SeedCNN") and the
format version. Loading checks the tags, the names, the shapes and the dtypes, and
refuses anything else with a ValueError that names the file and what is wrong.
Writes are atomic: a temp file in the same folder, then `os.replace`.
"""

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .model import SeedCNN

ARCHITECTURE = "SeedCNN"
FORMAT_VERSION = 1
_ARCH_KEY, _VERSION_KEY = "__architecture__", "__format_version__"
_ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def model_state(model: SeedCNN) -> dict[str, np.ndarray]:
    """The live parameter arrays by torch state_dict name: {"0.weight": (8, 1, 3, 3), ...}."""
    return {
        f"{i}.{name}": array
        for i, layer in enumerate(model.layers)
        for name, array in layer.params.items()
    }


def staged_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call write(file) on a new temp file beside `path`; return the temp file's path.

    The caller renames it onto `path` with `os.replace`, which is atomic because both
    names share a folder. If `write` raises, the temp file is removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the mode open() would have.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through a temp file: a crash mid-write leaves the old file (or none)."""
    tmp = staged_write(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read the umask is to set it
    os.umask(mask)
    return mask


def save_checkpoint(model: SeedCNN, path: str | os.PathLike) -> None:
    """Write `model`'s parameters and the architecture tags to `path` (.npz), atomically."""
    arrays = dict(model_state(model))
    arrays[_ARCH_KEY] = np.array(ARCHITECTURE)
    arrays[_VERSION_KEY] = np.array(FORMAT_VERSION)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path: str | os.PathLike, dtype=None) -> SeedCNN:
    """A SeedCNN whose parameters are those saved in `path` by `save_checkpoint`.

    dtype: float32 or float64 to convert to; None keeps the saved dtype.
    Raises FileNotFoundError (IsADirectoryError) if `path` is missing (a folder), and
    ValueError naming the file if it is corrupt, truncated, from another architecture or
    format version, or holds missing, extra, misshapen, non-float or non-finite arrays.
    """
    arrays = _read_npz(Path(path))
    _check_tags(path, arrays)
    params = {k: v for k, v in arrays.items() if k not in (_ARCH_KEY, _VERSION_KEY)}
    saved_dtype = _check_params(path, params)
    model = SeedCNN(seed=0, dtype=saved_dtype if dtype is None else np.dtype(dtype))
    for name, target in model_state(model).items():
        target[...] = params[name]  # in place: casts to the model's dtype
    return model


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at `path`, read eagerly so a truncated member fails here."""
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a folder, not a .npz file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with path.open("rb") as f:
        head = f.read(4)
    if head != _ZIP_MAGIC:
        raise ValueError(
            f"checkpoint {path} is not a .npz (zip) file: it starts with {head!r}, "
            f"expected {_ZIP_MAGIC!r}"
        )
    try:
        # allow_pickle=False: a checkpoint is data; a pickle could run code on load.
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"checkpoint {path} is corrupt or truncated, or not a .npz file "
            f"({type(err).__name__}: {err}); save the model again"
        ) from err


def _check_tags(path, arrays: dict[str, np.ndarray]) -> None:
    arch, version = arrays.get(_ARCH_KEY), arrays.get(_VERSION_KEY)
    if arch is None or version is None:
        raise ValueError(
            f"checkpoint {path} has no {_ARCH_KEY}/{_VERSION_KEY} tags; it was not written "
            f"by save_checkpoint (found arrays {sorted(arrays)})"
        )
    if arch.shape != () or str(arch) != ARCHITECTURE:
        raise ValueError(
            f"checkpoint {path} holds architecture {str(arch)!r}, expected {ARCHITECTURE!r}"
        )
    if version.shape != () or version.item() != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {version.tolist()!r}, "
            f"this code reads version {FORMAT_VERSION}"
        )


def _check_params(path, params: dict[str, np.ndarray]) -> np.dtype:
    """Check names, shapes, dtypes and finiteness against a fresh SeedCNN; return the dtype."""
    expected = {k: v.shape for k, v in model_state(SeedCNN(seed=0)).items()}
    missing, extra = sorted(expected.keys() - params), sorted(params.keys() - expected)
    if missing or extra:
        what = [f"missing {missing}"] * bool(missing) + [f"unexpected {extra}"] * bool(extra)
        raise ValueError(
            f"checkpoint {path} does not match {ARCHITECTURE}: {', '.join(what)} "
            f"(expected {sorted(expected)})"
        )
    for name, shape in expected.items():
        a = params[name]
        if a.shape != shape:
            raise ValueError(
                f"checkpoint {path}: {name} has shape {a.shape}, expected {shape} for "
                f"{ARCHITECTURE}"
            )
        if a.dtype not in _FLOAT_DTYPES:
            raise ValueError(f"checkpoint {path}: {name} has dtype {a.dtype}, expected float32/64")
        if not np.isfinite(a).all():
            raise ValueError(f"checkpoint {path}: {name} contains NaN or infinity")
    dtypes = {params[name].dtype for name in expected}
    if len(dtypes) != 1:
        raise ValueError(f"checkpoint {path}: parameters mix dtypes {sorted(map(str, dtypes))}")
    return dtypes.pop()
