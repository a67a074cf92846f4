"""The same seed gives the same run, bit for bit, in the same environment: every number in
metrics.json but the timings, every parameter, and the figures; a different seed does not.
"""

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from reference import SeedCNN, TrainConfig, load_checkpoint, train
from reference.checkpoint import model_state

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))  # not a package
import train as cli  # noqa: E402

FIGURES = ("training_curves.png", "learned_filters.png", "sample_predictions.png")


def without_timings(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def cli_run(out: Path, seed: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """One short run of scripts/train.py into `out`: (metrics, parameters by name)."""
    argv = ["--epochs", "1", "--train-size", "512", "--seed", str(seed), "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main([*argv, "--save", str(out / "m.npz")])
    assert code == 0, f"scripts/train.py exited {code}"
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics, model_state(load_checkpoint(out / "m.npz"))


def test_two_cli_runs_with_one_seed_write_identical_metrics_parameters_and_figures(tmp_path, mnist):
    first, first_params = cli_run(tmp_path / "a")
    second, second_params = cli_run(tmp_path / "b")
    assert {k: v for k, v in first.items() if k != "epochs"} == {
        k: v for k, v in second.items() if k != "epochs"
    }
    assert without_timings(first["epochs"]) == without_timings(second["epochs"])
    for name, a in first_params.items():
        np.testing.assert_array_equal(second_params[name], a, err_msg=f"{name} differs")
    for name in FIGURES:
        same = (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert same, f"{name} differs between two runs of the same seed"


@pytest.fixture(scope="module")
def small_mnist(mnist):
    """The first 512 training images and 1000 test images: enough to expose any drift."""
    x_train, y_train, x_test, y_test = mnist
    return x_train[:512], y_train[:512], x_test[:1000], y_test[:1000]


def train_run(data, seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Two epochs (so the second epoch's shuffle counts too) from a fresh SeedCNN(seed)."""
    model = SeedCNN(seed)
    history = train(TrainConfig(epochs=2, train_size=512, seed=seed), data, model)
    return without_timings(history), model_state(model)


def test_two_train_calls_with_one_seed_give_identical_history_and_parameters(small_mnist):
    first, first_params = train_run(small_mnist, seed=0)
    second, second_params = train_run(small_mnist, seed=0)
    assert first == second
    for name, a in first_params.items():
        np.testing.assert_array_equal(second_params[name], a, err_msg=f"{name} differs")
    # The comparison can fail: another seed changes the losses and every parameter.
    other, other_params = train_run(small_mnist, seed=1)
    assert [h["train_loss"] for h in other] != [h["train_loss"] for h in first]
    for name, a in first_params.items():
        assert not np.array_equal(other_params[name], a), f"{name} does not depend on the seed"
