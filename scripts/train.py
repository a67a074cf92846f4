"""Train the seed's CNN on MNIST, then draw its plots.

The defaults are the seed's run (12k training images, 10 epochs, batch 32, Adam 1e-3).
Writes training_curves.png, learned_filters.png, sample_predictions.png and
metrics.json into --out, only after training succeeds, each atomically.

Exit codes: 0 done; 1 the data could not be loaded or training diverged; 2 an invalid
command line (a value out of range, an --out or --save that cannot be written, a
--load checkpoint that cannot be read). Every error is one line on stderr.
"""

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

# `python scripts/train.py` puts scripts/ on sys.path, not the repository root: add the
# root so that `reference` imports from a plain clone, with or without `pip install`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotting  # noqa: E402  (scripts/plotting.py, beside this file)

from reference import (  # noqa: E402
    DatasetError,
    SeedCNN,
    TrainConfig,
    load_checkpoint,
    load_mnist,
    save_checkpoint,
    train,
)
from reference.checkpoint import staged_write  # noqa: E402

PROG = "train.py"
MAX_TRAIN_SIZE = 60000  # the official training set


class UsageError(Exception):
    """An invalid command line: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints the usage too; we want one line
        raise UsageError(f"{message} (see --help)")


def _int_in(low: int, high: float = math.inf) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            bound = f">= {low}" if high == math.inf else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; raises UsageError (one line) for any invalid value."""
    d = TrainConfig()
    p = _Parser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
        allow_abbrev=False,  # `--epoch 3` is a typo to report, not a prefix of --epochs
    )
    p.add_argument("--epochs", type=_int_in(1), default=d.epochs, help=f"default {d.epochs}")
    p.add_argument(
        "--train-size",
        type=_int_in(1, MAX_TRAIN_SIZE),
        default=d.train_size,
        help=f"first N official training images, 1..{MAX_TRAIN_SIZE} (default {d.train_size})",
    )
    p.add_argument("--batch-size", type=_int_in(1), default=d.batch_size, help="default 32")
    p.add_argument("--lr", type=_positive_float, default=d.lr, help=f"Adam, default {d.lr}")
    p.add_argument(
        "--seed",
        type=_int_in(0),
        default=d.seed,
        help="initial weights and batch order (default 0)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the four MNIST files (default: $MNIST_DIR, else the cache,\n"
        "downloading into it if needed)",
    )
    p.add_argument("--out", type=Path, default=Path("plots"), help="default plots/")
    p.add_argument("--save", type=Path, metavar="PATH.npz", help="save the trained weights")
    p.add_argument("--load", type=Path, metavar="PATH.npz", help="start from saved weights")
    return p.parse_args(argv)


def check_writable_dir(folder: Path, flag: str) -> None:
    """Create `folder` if needed and prove a file can be written in it, before training."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag}: {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UsageError(f"{flag}: cannot write into folder {folder}: {err}") from err


def initial_model(load: Path | None, config: TrainConfig) -> SeedCNN:
    """The checkpoint at `load`, or a fresh SeedCNN from the seed."""
    if load is None:
        return SeedCNN(config.seed, dtype=np.dtype(config.dtype))
    try:
        return load_checkpoint(load, dtype=config.dtype)
    except (OSError, ValueError) as err:
        raise UsageError(f"--load: {err}") from err


def print_epoch(row: dict, epochs: int) -> None:
    """The one summary line per epoch (stdout; the progress bar, if any, is on stderr)."""
    print(
        f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  "
        f"train loss {row['train_loss']:.4f}  test loss {row['test_loss']:.4f}  "
        f"test accuracy {row['test_accuracy']:.2%}  {row['seconds']:.1f} s",
        flush=True,
    )


def run_training(config: TrainConfig, data: tuple, model: SeedCNN) -> list[dict]:
    """train() with a progress bar (on a terminal only) and one line per epoch."""
    # Divergence is reported once by train(), naming epoch and batch; NumPy's overflow
    # warnings on the way there would only repeat it, less helpfully, as a few more lines.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return train(
            config, data, model, progress=True, on_epoch=lambda row: print_epoch(row, config.epochs)
        )


def write_outputs(out: Path, writers: dict[str, Callable[[BinaryIO], None]]) -> None:
    """Write every output to a temp file in `out`, then rename them all into place.

    If any writer fails, no earlier output in `out` has been replaced yet and no temp
    file is left behind.
    """
    staged = {}
    try:
        for name, write in writers.items():
            staged[name] = staged_write(out / name, write)
        for name, tmp in staged.items():
            os.replace(tmp, out / name)
    finally:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)


def output_writers(config, args, history, model, initial_filters, data):
    """The four outputs of a run, by file name, as functions of an open binary file."""
    x_train, _, x_test, y_test = data
    checkpoint = None if args.load is None else str(args.load)
    origin = f"from seed {config.seed}" if checkpoint is None else f"from {checkpoint}"
    metrics = {
        "config": {**config.to_dict(), "init_checkpoint": checkpoint},
        "epochs": history,
        "final_test_accuracy": history[-1]["test_accuracy"],
    }
    figures = {
        "training_curves.png": plotting.training_curves(
            history,
            f"SeedCNN {origin}: {len(x_train):,} training images, batch {config.batch_size}, "
            f"Adam lr {config.lr:g}; tested on {len(x_test):,} images",
        ),
        "learned_filters.png": plotting.learned_filters(
            initial_filters, model.layers[0].params["weight"], config.epochs
        ),
        "sample_predictions.png": plotting.sample_predictions(
            x_test, y_test, model.predict, accuracy=history[-1]["test_accuracy"]
        ),
    }
    writers = {name: _png_writer(fig) for name, fig in figures.items()}
    writers["metrics.json"] = lambda f: f.write((json.dumps(metrics, indent=2) + "\n").encode())
    return writers


def _png_writer(fig) -> Callable[[BinaryIO], None]:
    return lambda f: fig.savefig(f, format="png", dpi=100)


def fail(message: object, code: int) -> int:
    """Report `message` as one line on stderr and return the exit code."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse, check, load, train, then write the outputs; returns the exit code."""
    try:
        args = parse_args(argv)
        config = TrainConfig(args.epochs, args.train_size, args.batch_size, args.lr, args.seed)
        check_writable_dir(args.out, "--out")
        if args.save is not None:
            if args.save.is_dir():
                raise UsageError(f"--save: {args.save} is a folder; give a file name (.npz)")
            check_writable_dir(args.save.parent, "--save")
        model = initial_model(args.load, config)
    except UsageError as err:
        return fail(err, 2)
    initial_filters = model.layers[0].params["weight"].copy()  # train() updates in place
    try:
        data = load_mnist(args.data_dir, config.train_size)
        history = run_training(config, data, model)
    except (DatasetError, FloatingPointError) as err:
        return fail(f"{err} (nothing was written to {args.out})", 1)
    except KeyboardInterrupt:
        return fail(f"interrupted (nothing was written to {args.out})", 130)
    try:
        write_outputs(args.out, output_writers(config, args, history, model, initial_filters, data))
        if args.save is not None:
            save_checkpoint(model, args.save)
    except OSError as err:
        return fail(f"could not write the outputs: {err}", 1)
    saved = f" and the weights to {args.save}" if args.save else ""
    print(f"wrote the plots and metrics.json to {args.out}{saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
