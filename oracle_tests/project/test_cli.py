"""scripts/train.py: a tiny real run writes the four outputs and a checkpoint that agree
with each other; --load starts from a checkpoint; every invalid command line exits 2 and
every failed run exits 1, each with one line on stderr and no traceback, and a failed run
leaves the outputs of an earlier run untouched. The figures are checked as data too.
"""

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from reference import SeedCNN, TrainConfig, evaluate, load_checkpoint, save_checkpoint
from reference.checkpoint import model_state

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train.py"
sys.path.insert(0, str(SCRIPT.parent))  # scripts/ is not a package: import its modules
import plotting  # noqa: E402
import train as cli  # noqa: E402

OUTPUTS = {"training_curves.png", "learned_filters.png", "sample_predictions.png", "metrics.json"}
TINY = ["--epochs", "1", "--train-size", "256"]


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """cli.main(argv) in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def last_line(stderr: str) -> str:
    """What a terminal shows last: the text after the progress bar's final carriage return."""
    return stderr.split("\r")[-1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist):
    """One real run (1 epoch, 256 images) into a fresh folder, saving its weights."""
    out = tmp_path_factory.mktemp("run")
    code, stdout, stderr = run_main([*TINY, "--out", out, "--save", out / "m.npz"])
    return code, stdout, stderr, out


def test_tiny_run_exits_0_and_writes_exactly_the_outputs_and_checkpoint(tiny_run):
    code, _, stderr, out = tiny_run
    assert code == 0, f"exit code {code}; stderr: {last_line(stderr)}"
    names = {p.name for p in out.iterdir()}
    assert names == OUTPUTS | {"m.npz"}, f"files in --out: {sorted(names)} (temp files left?)"
    for name in OUTPUTS - {"metrics.json"}:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
        assert (out / name).stat().st_size < 1_000_000, f"{name} is over 1 MB"
        pixels = imread(out / name)
        assert pixels.std() > 0.05, f"{name} is (nearly) blank"


def test_metrics_json_holds_config_history_and_the_checkpoints_accuracy(tiny_run, mnist):
    _, _, _, out = tiny_run
    metrics = json.loads((out / "metrics.json").read_text())
    expected_config = {**TrainConfig(epochs=1, train_size=256).to_dict(), "init_checkpoint": None}
    assert metrics["config"] == expected_config
    [epoch] = metrics["epochs"]
    assert set(epoch) == {"epoch", "train_loss", "test_loss", "test_accuracy", "seconds"}
    assert metrics["final_test_accuracy"] == epoch["test_accuracy"]
    # The saved weights are the ones that were measured: re-evaluate them from the file.
    loss, accuracy = evaluate(load_checkpoint(out / "m.npz"), mnist[2], mnist[3])
    assert (loss, accuracy) == (epoch["test_loss"], epoch["test_accuracy"])


def test_each_epoch_prints_one_summary_line_matching_metrics(tiny_run):
    _, stdout, _, out = tiny_run
    [epoch] = json.loads((out / "metrics.json").read_text())["epochs"]
    summary = (
        f"epoch 1/1  train loss {epoch['train_loss']:.4f}  test loss {epoch['test_loss']:.4f}  "
        f"test accuracy {epoch['test_accuracy']:.2%}  {epoch['seconds']:.1f} s"
    )
    done = f"wrote the plots and metrics.json to {out} and the weights to {out / 'm.npz'}"
    assert stdout.splitlines() == [summary, done]


def test_load_starts_training_from_the_checkpoint(tmp_path, mnist):
    start = SeedCNN(seed=7)  # not the --seed 0 network the run would otherwise build
    save_checkpoint(start, tmp_path / "start.npz")
    # At lr 1e-12 the 2 Adam steps move no weight by more than 2e-12, so the result must
    # be the checkpoint itself; a run that ignored --load would end near SeedCNN(0).
    argv = ["--epochs", "1", "--train-size", "64", "--lr", "1e-12", "--out", tmp_path]
    argv += ["--load", tmp_path / "start.npz", "--save", tmp_path / "end.npz"]
    code, _, stderr = run_main(argv)
    assert code == 0, last_line(stderr)
    end = model_state(load_checkpoint(tmp_path / "end.npz"))
    for name, saved in model_state(start).items():
        np.testing.assert_allclose(end[name], saved, rtol=0, atol=1e-9, err_msg=name)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["init_checkpoint"] == str(tmp_path / "start.npz")


def test_diverging_run_exits_1_naming_epoch_and_batch_and_keeps_earlier_outputs(tmp_path, mnist):
    earlier = {name: f"earlier run's {name}".encode() for name in OUTPUTS}
    for name, content in earlier.items():
        (tmp_path / name).write_bytes(content)
    # lr 1e30: the first Adam step makes weights ~1e30, and the next loss overflows.
    code, stdout, stderr = run_main(
        ["--lr", "1e30", "--train-size", "256", "--out", tmp_path, "--save", tmp_path / "m.npz"]
    )
    assert code == 1
    assert re.fullmatch(
        r"train\.py: error: train: loss became (nan|inf) at epoch 1, batch \d+; try a smaller "
        rf"--lr \(nothing was written to {re.escape(str(tmp_path))}\)\n",
        last_line(stderr),
    ), last_line(stderr)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == earlier


def test_final_accuracy_in_metrics_is_the_last_epochs_not_the_best():
    accuracies = (0.95, 0.97, 0.96)  # the best epoch is not the last
    history = [dict(row, test_accuracy=a) for row, a in zip(HISTORY, accuracies, strict=True)]
    args = cli.parse_args(["--epochs", "3", "--train-size", "64"])
    rng = np.random.default_rng(0)
    images, labels = rng.random((104, 1, 28, 28), np.float32), rng.integers(0, 10, 104)
    data = (images[:64], labels[:64], images[64:], labels[64:])  # 64 train, 40 test
    model = SeedCNN(0)
    writers = cli.output_writers(
        TrainConfig(epochs=3, train_size=64), args, history, model, model.parameters()[0], data
    )
    buffer = io.BytesIO()
    writers["metrics.json"](buffer)
    metrics = json.loads(buffer.getvalue())
    assert metrics["epochs"] == history
    assert metrics["final_test_accuracy"] == 0.96


def test_missing_dataset_exits_1_with_one_line_naming_the_folder(tmp_path):
    code, _, stderr = run_main([*TINY, "--data-dir", tmp_path / "none", "--out", tmp_path])
    assert code == 1
    assert re.fullmatch(
        rf"train\.py: error: MNIST folder {re.escape(str(tmp_path / 'none'))} .*does not "
        r"exist\..*\n",
        stderr,
    ), stderr
    assert list(tmp_path.iterdir()) == [], "a failed run wrote into --out"


@pytest.fixture
def a_file(tmp_path) -> Path:
    (tmp_path / "a_file").write_text("not a folder")
    return tmp_path / "a_file"


@pytest.fixture
def foreign_checkpoint(tmp_path) -> Path:
    np.savez(tmp_path / "foreign.npz", **{"0.weight": np.zeros((16, 1, 3, 3), np.float32)})
    return tmp_path / "foreign.npz"


POSITIVE_LR = "must be a finite number > 0"
# flag and value -> the message after "train.py: error: argument FLAG: "
USAGE_ERRORS = {
    ("--epochs", "0"): "must be >= 1, got 0",
    ("--epochs", "-2"): "must be >= 1, got -2",
    ("--epochs", "1.5"): "expected an integer, got '1.5'",
    ("--train-size", "0"): "must be in 1..60000, got 0",
    ("--train-size", "60001"): "must be in 1..60000, got 60001",
    ("--batch-size", "0"): "must be >= 1, got 0",
    ("--lr", "0"): f"{POSITIVE_LR}, got 0",
    ("--lr", "-0.001"): f"{POSITIVE_LR}, got -0.001",
    ("--lr", "nan"): f"{POSITIVE_LR}, got nan",
    ("--lr", "inf"): f"{POSITIVE_LR}, got inf",
    ("--seed", "-1"): "must be >= 0, got -1",
}


@pytest.mark.parametrize("flag, value", USAGE_ERRORS, ids=[" ".join(k) for k in USAGE_ERRORS])
def test_invalid_value_exits_2_with_one_line_naming_the_flag(tmp_path, flag, value):
    code, stdout, stderr = run_main([flag, value, "--out", tmp_path / "out"])
    assert code == 2
    message = f"argument {flag}: {USAGE_ERRORS[flag, value]}"
    assert stderr == f"train.py: error: {message} (see --help)\n"
    assert stdout == ""
    assert not (tmp_path / "out").exists(), "--out was created for an invalid command line"


def test_unknown_flag_exits_2_with_one_line_naming_it(tmp_path):
    code, _, stderr = run_main(["--epoch", "3", "--out", tmp_path / "out"])
    assert code == 2
    assert stderr == "train.py: error: unrecognized arguments: --epoch 3 (see --help)\n"


# flag, path template -> regex of the message after "train.py: error: FLAG: "
PATH_ERRORS = {
    ("--out", "{a_file}/plots"): r"cannot write into folder .*a_file/plots: .*Not a directory",
    ("--out", "{a_file}"): r".*a_file is a file, not a folder",
    ("--save", "{tmp}"): r".* is a folder; give a file name \(\.npz\)",
    ("--save", "{a_file}/m.npz"): r".*a_file is a file, not a folder",
    ("--load", "{tmp}/nope.npz"): r"checkpoint .*nope\.npz does not exist",
    ("--load", "{a_file}"): r"checkpoint .*a_file is not a \.npz \(zip\) file",
    ("--load", "{foreign}"): r"checkpoint .*foreign\.npz has no __architecture__",
}


@pytest.mark.parametrize("flag, template", PATH_ERRORS, ids=[" ".join(k) for k in PATH_ERRORS])
def test_unusable_path_exits_2_with_one_line_naming_flag_and_path(
    tmp_path, a_file, foreign_checkpoint, flag, template
):
    path = template.format(a_file=a_file, tmp=tmp_path, foreign=foreign_checkpoint)
    out = ["--out", tmp_path / "out"] if flag != "--out" else []
    code, stdout, stderr = run_main([*TINY, flag, path, *out])
    assert code == 2
    message = PATH_ERRORS[flag, template]
    assert re.fullmatch(rf"train\.py: error: {flag}: {message}.*\n", stderr), stderr
    assert stdout == ""


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--batch-size", "0"], 2, r"argument --batch-size: must be >= 1, got 0 \(see --help\)"),
        (["--lr", "1e30", "--train-size", "64"], 1, r"train: loss became (nan|inf) at epoch 1"),
    ],
    ids=["usage error", "diverged"],
)
def test_script_run_as_a_process_exits_with_one_line_and_no_traceback(
    tmp_path, request, argv, code, message
):
    if code == 1:
        request.getfixturevalue(
            "mnist"
        )  # this run loads MNIST: skip or fail as the mnist fixture says
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *argv, "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,  # bytes: text mode would turn the bar's \r into \n
        timeout=120,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    assert re.fullmatch(rf"train\.py: error: {message}[^\n]*\n", last_line(stderr)), stderr
    assert list(tmp_path.iterdir()) == []


# --- The figures, as data -------------------------------------------------------------
HISTORY = [
    {"epoch": e, "train_loss": 0.5 / e, "test_loss": 0.4 / e, "test_accuracy": a, "seconds": 1.0}
    for e, a in ((1, 0.9312), (2, 0.9588), (3, 0.9701))
]


def test_accuracy_axis_ends_at_100_shows_every_point_and_title_states_the_range():
    loss_ax, acc_ax = plotting.training_curves(HISTORY, "run").axes
    low, high = acc_ax.get_ylim()
    assert high == 100 and low <= 93.12, f"accuracy axis {low}..{high}"
    assert f"{low:g}% to 100%" in acc_ax.get_title()
    assert loss_ax.get_ylim()[0] == 0, "the loss axis must start at 0"
    ys = [list(line.get_ydata()) for line in acc_ax.get_lines()]
    assert [93.12, 95.88, 97.01] in [[round(y, 2) for y in line] for line in ys]


def test_each_filter_pair_shares_one_colour_scale_symmetric_about_zero():
    rng = np.random.default_rng(0)
    initial = rng.uniform(-0.3, 0.3, (8, 1, 3, 3))
    trained = initial * rng.uniform(0.5, 3, (8, 1, 1, 1))  # some filters grow, some shrink
    fig = plotting.learned_filters(initial, trained, epochs=10)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 16
    for o in range(8):
        top, bottom = images[2 * o], images[2 * o + 1]  # column by column
        np.testing.assert_array_equal(top.get_array(), initial[o, 0])
        np.testing.assert_array_equal(bottom.get_array(), trained[o, 0])
        vmax = max(np.abs(initial[o]).max(), np.abs(trained[o]).max())
        assert top.get_clim() == bottom.get_clim() == (-vmax, vmax), f"filter {o}"


def test_sample_images_are_drawn_at_random_and_coloured_by_correctness():
    rng = np.random.default_rng(1)
    x, y = rng.random((500, 1, 28, 28)), rng.integers(0, 10, 500)

    def always_three(images):
        return np.full(len(images), 3)

    fig = plotting.sample_predictions(x, y, always_three, count=32, seed=0)
    indices = plotting.sample_indices(500, 32, seed=0)
    assert len(set(indices)) == 32
    # The same images whatever the model predicts: the sample is not chosen by outcome.
    other = plotting.sample_predictions(x, y, lambda im: y[indices], count=32, seed=0)
    titled = [ax for ax in fig.axes if ax.get_title()]
    others = [ax for ax in other.axes if ax.get_title()]
    for ax, other_ax, i in zip(titled, others, indices, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), x[i, 0])
        assert ax.get_title() == f"true {y[i]}, pred 3"
        expected = plotting.CORRECT if y[i] == 3 else plotting.WRONG
        assert ax.title.get_color() == expected, f"image {i}: {ax.get_title()}"
        assert other_ax.title.get_color() == plotting.CORRECT
