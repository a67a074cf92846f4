"""Presets: ready-made adapters for the APIs that courses fix, pointed at a student's code.

    cnn-oracle check --api cs231n PATH            (PATH: the folder with layers.py, optim.py)
    cnn-oracle check --api deeplearning-ai PATH   (PATH: the notebook, or a .py)
    cnn-oracle check --api nnfs PATH              (PATH: the .py with the book's classes)

Each preset is an ordinary adapter module (cs231n.py, deeplearning_ai.py, nnfs.py), the
same door as any other: `--api NAME PATH` is `cnn-oracle check oracle_tests.presets.NAME`
with the environment variable CNN_ORACLE_API_PATH set to PATH.
"""

import os
from pathlib import Path

from ..contract import AdapterError

PATH_VAR = "CNN_ORACLE_API_PATH"  # the student's code: a folder, a notebook or a .py
FAST_VAR = "CNN_ORACLE_API_FAST"  # "1": cs231n's fast_layers.py instead of the naive layers
# --api NAME -> the preset module.
APIS = {"cs231n": "cs231n", "deeplearning-ai": "deeplearning_ai", "nnfs": "nnfs"}


def select(api: str | None, path: str | None, fast: bool = False) -> str:
    """Point the preset for `api` at `path` (through the environment, so that pytest's
    own load of the adapter sees it too); return the adapter module to check."""
    if api is None:
        raise AdapterError("--fast goes with --api cs231n (the course's fast_layers.py)")
    if not path:
        raise AdapterError(f"--api {api} needs PATH, the code to check ({_WHAT[api]})")
    if fast and api != "cs231n":
        raise AdapterError("--fast is for --api cs231n (the course's fast_layers.py)")
    if not Path(path).exists():
        raise AdapterError(f"--api {api}: {path} does not exist ({_WHAT[api]})")
    os.environ[PATH_VAR] = str(Path(path).resolve())
    if fast:
        os.environ[FAST_VAR] = "1"
    else:
        os.environ.pop(FAST_VAR, None)
    return f"{__name__}.{APIS[api]}"


_WHAT = {
    "cs231n": "the folder holding layers.py and optim.py, or one of them",
    "deeplearning-ai": "the .ipynb notebook, or a .py file",
    "nnfs": "the .py file with the book's classes",
}


def command(spec: str) -> str:
    """What to write after `cnn-oracle check` to check `spec` again: `--api NAME PATH`
    for a preset pointed at PATH, the adapter's spec for anything else."""
    names = {f"{__name__}.{module}": api for api, module in APIS.items()}
    if spec not in names or not os.environ.get(PATH_VAR):
        return spec
    fast = " --fast" if os.environ.get(FAST_VAR) == "1" else ""
    return f"--api {names[spec]} {os.environ[PATH_VAR]}{fast}"
