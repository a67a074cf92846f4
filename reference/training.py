"""Training loop for SeedCNN: mini-batch Adam, with per-epoch test evaluation."""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .loss import SoftmaxCrossEntropy
from .model import SeedCNN
from .optim import Adam


@dataclass(frozen=True)
class TrainConfig:
    """The seed's run. Every default is the seed author's, which reported 95-96%."""

    epochs: int = 10
    train_size: int = 12000  # the first 12k training images: the seed's subset
    batch_size: int = 32
    lr: float = 1e-3  # torch.optim.Adam's default; betas and eps stay at torch's too
    seed: int = 0  # seeds both the initial weights and the batch order
    dtype: str = "float32"  # float64 runs are for the oracle tests, not for speed

    def __post_init__(self):
        checks = {
            "epochs": self.epochs >= 1,
            "train_size": 1 <= self.train_size <= 60000,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0 and math.isfinite(self.lr),
            "dtype": self.dtype in ("float32", "float64"),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TrainConfig: invalid {name}={getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield the index arrays of one epoch: a fresh permutation cut into batches."""
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def shuffle_rng(seed: int) -> np.random.Generator:
    """The batch-order generator; a stream independent of the weight initialiser's."""
    return np.random.default_rng([seed, 1])


def epoch_record(
    epoch: int, losses: list[float], test_loss: float, test_accuracy: float, seconds: float
) -> dict:
    """One entry of train()'s history; scripts/bench_runs.py builds torch's the same way."""
    return {
        "epoch": epoch,
        "train_loss": float(np.mean(losses)),  # the mean over the epoch's batches
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "seconds": seconds,
    }


# One BLAS thread here as in train() (see there): OpenBLAS splits a product differently
# for different thread counts, so the same weights would otherwise score a loss that
# differs in its last bits between train()'s report and a later evaluate().
@threadpool_limits.wrap(limits=1, user_api="blas")
def evaluate(
    model: SeedCNN, x: np.ndarray, y: np.ndarray, batch_size: int = 1000
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` on (x, y), in chunks to bound memory."""
    loss_fn = SoftmaxCrossEntropy()
    total_loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model.forward(x[i : i + batch_size])
        total_loss += loss_fn.forward(logits, y[i : i + batch_size]) * len(logits)
        correct += int((logits.argmax(axis=1) == y[i : i + batch_size]).sum())
    return total_loss / len(x), correct / len(x)


# Speed: every matrix product of this network is small (at most 32x1352 by 1352x128),
# and OpenBLAS's second thread costs more in wake-up and sync than it saves on them:
# measured on 2 cores, an epoch took 0.87-1.00 s with one BLAS thread and 0.93-1.33 s
# with two. So training asks for one, whatever the machine allows.
@threadpool_limits.wrap(limits=1, user_api="blas")
def train(
    config: TrainConfig,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    model: SeedCNN | None = None,
    *,
    progress: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train `model` (a new SeedCNN(config.seed) if None) on data = load_mnist(...).

    Returns one dict per epoch: epoch, train_loss (mean over the epoch's batches),
    test_loss, test_accuracy, and seconds (the training pass alone, not evaluation).
    Raises FloatingPointError naming the epoch and batch if the loss stops being finite.
    With progress=True, a progress bar shows on stderr when stderr is a terminal.
    """
    dtype = np.dtype(config.dtype)
    x_train, y_train, x_test, y_test = data
    x_train = x_train[: config.train_size].astype(dtype, copy=False)
    y_train = y_train[: config.train_size]
    x_test = x_test.astype(dtype, copy=False)
    if not (np.isfinite(x_train).all() and np.isfinite(x_test).all()):
        raise FloatingPointError("train: the input images contain NaN or infinity")
    model = SeedCNN(config.seed, dtype=dtype) if model is None else model
    loss_fn = SoftmaxCrossEntropy()
    optimizer = Adam(model.parameters(), lr=config.lr)
    rng = shuffle_rng(config.seed)
    history = []
    for epoch in range(1, config.epochs + 1):
        start, losses = time.perf_counter(), []
        batches = epoch_batches(len(x_train), config.batch_size, rng)
        n_batches = math.ceil(len(x_train) / config.batch_size)
        bar = tqdm(
            batches,
            total=n_batches,
            desc=f"epoch {epoch}/{config.epochs}",
            # None is tqdm's own switch: a bar on a terminal, nothing in a log file or a
            # CI pipe, where every refresh would be one more carriage-return frame.
            disable=None if progress else True,
            leave=False,
        )
        for batch, idx in enumerate(bar, start=1):
            loss = loss_fn.forward(model.forward(x_train[idx]), y_train[idx])
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"train: loss became {loss} at epoch {epoch}, batch {batch}; try a smaller --lr"
                )
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step(model.gradients())
            losses.append(loss)
            if batch % 25 == 0:
                bar.set_postfix(loss=f"{np.mean(losses):.4f}", refresh=False)
        seconds = time.perf_counter() - start
        test_loss, test_accuracy = evaluate(model, x_test, y_test)
        history.append(epoch_record(epoch, losses, test_loss, test_accuracy, seconds))
        if on_epoch is not None:
            on_epoch(history[-1])
    return history
