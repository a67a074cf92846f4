"""`cnn-oracle check --api nnfs PATH`: the nnfs preset on student-style solutions.

examples/courses/nnfs/ holds our own code in the book's API: correct.py passes all it
provides, mistakes.py has five mistakes that are each named, unfinished.py has five
methods still stubs, reported "not provided" by name. All three train at module level
(writing NNFS_TRAINING_RAN in the working directory, then failing): that code never runs.

The runs are subprocesses of `cnn-oracle check`, the command a student types (marked
`mutants`, as test_adapters.py); the loading tests run in-process and take milliseconds.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oracle_tests.contract import AdapterError

ROOT = Path(__file__).resolve().parents[2]
NNFS = ROOT / "examples" / "courses" / "nnfs"
PRESET = ROOT / "oracle_tests" / "presets" / "nnfs.py"
MARKER = "NNFS_TRAINING_RAN"
slow = pytest.mark.mutants  # the suite's meta-tests: `tox -e mutants`


def checked(tmp: Path, path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """`cnn-oracle check --api nnfs path` in tmp, and its --json report."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    env.pop("CNN_ORACLE_API_PATH", None)
    out = tmp / "report.json"
    command = [sys.executable, "-m", "oracle_tests.cli", "check", "--api", "nnfs", str(path)]
    command += ["--json", str(out), *extra]
    run = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert out.is_file(), f"no report was written:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert not (tmp / MARKER).exists(), "the file's module-level training code ran"
    return run, json.loads(out.read_text())


def by_status(report: dict, status: str) -> list[dict]:
    return [c for c in report["checks"] if c["status"] == status]


def load_preset(path: Path, monkeypatch):
    """The preset module, freshly imported and pointed at `path` (as --api does)."""
    monkeypatch.setenv("CNN_ORACLE_API_PATH", str(path))
    spec = importlib.util.spec_from_file_location("oracle_tests.presets._nnfs_test", PRESET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Whole runs ---------------------------------------------------------------------
@slow
def test_nnfs_correct_solution_passes_everything_it_provides(tmp_path):
    run, report = checked(tmp_path, NNFS / "correct.py")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    name = report["implementation"]["name"]
    assert name.startswith("nnfs (") and "linear = Layer_{Dense.forward,Dense.backward}" in name
    assert "adam = Optimizer_Adam.update_params" in name and "never run" in name, name
    assert f"cnn-oracle: checking {name}" in run.stdout  # the header says it
    for layer in ("Linear", "ReLU", "CrossEntropy", "Adam", "Dropout"):
        assert report["summary"][layer]["passed"] > 0, (layer, report["summary"][layer])
    differs = [k for k, v in report["conventions"].items() if v["status"] == "differs"]
    assert not differs, differs


@slow
def test_nnfs_mistakes_are_each_named(tmp_path):
    run, report = checked(tmp_path, NNFS / "mistakes.py")
    assert run.returncode == 1, run.stdout[-3000:]
    diagnosed = set(report["diagnosis"]["diagnosed"])
    for bug in (
        "linear_bias_grad_averaged",  # dbiases = dvalues.mean(axis=0)
        "dropout_p_is_keep_probability",  # Layer_Dropout keeps a share `rate`
        "relu_gradient_at_zero_is_one",  # dinputs where inputs < 0 zeroed, not <= 0
        "loss_probabilities_clipped_like_keras",  # the book's clip at 1e-7
        "adam_second_moment_uses_beta1",  # v decayed with beta_1
    ):
        assert bug in diagnosed, (bug, sorted(diagnosed))
    assert "in your Layer_Dense" not in run.stdout  # nothing raised: each is a wrong value


@slow
def test_nnfs_unfinished_solution_lists_its_stubs_as_not_provided(tmp_path):
    run, report = checked(tmp_path, NNFS / "unfinished.py")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    reasons = "\n".join(c["reason"] for c in by_status(report, "not provided"))
    for stub in (
        "Layer_Dense.backward", "Activation_Softmax.backward", "Layer_Dropout.forward",
        "Loss_BinaryCrossentropy.backward", "Optimizer_Adam.update_params",
    ):  # fmt: skip
        assert f"{stub} is still the starter stub" in reasons, stub
    assert "still stubs: Layer_Dense.backward" in report["implementation"]["name"]
    assert report["summary"]["ReLU"]["passed"] > 0  # the written ones are checked


def test_a_signature_that_differs_is_one_line_and_exit_2(tmp_path):
    student = tmp_path / "net.py"
    source = (NNFS / "correct.py").read_text()
    source = source.replace("def __init__(self, n_inputs, n_neurons):", "def __init__(self):")
    student.write_text(source)
    run = subprocess.run(
        [sys.executable, "-m", "oracle_tests.cli", "check", "--api", "nnfs", str(student)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if "Layer_Dense" in line]
    assert len(lines) == 1, run.stderr
    assert "Layer_Dense(n_inputs, n_neurons)" in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / MARKER).exists()


# --- In-process: the translations -------------------------------------------------
def test_dense_gets_torch_weight_transposed_and_gives_torch_layout_grads(monkeypatch):
    nnfs = load_preset(NNFS / "correct.py", monkeypatch)
    rng = np.random.default_rng(0)
    w, b, x = rng.standard_normal((3, 5)), rng.standard_normal(3), rng.standard_normal((4, 5))
    layer = nnfs.linear(w, b)
    assert layer.obj.weights.shape == (5, 3) and layer.obj.biases.shape == (1, 3)
    np.testing.assert_allclose(layer.forward(x), x @ w.T + b)
    dy = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.backward(dy), dy @ w)
    np.testing.assert_allclose(layer.grads["weight"], dy.T @ x)
    np.testing.assert_allclose(layer.grads["bias"], dy.sum(axis=0))


def test_optimizers_step_the_suites_arrays_in_place(monkeypatch):
    nnfs = load_preset(NNFS / "correct.py", monkeypatch)
    p, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    opt = nnfs.sgd([p], 0.1, 0.9, 0.0, 0.0, False)
    opt.step([g])
    opt.step([g])
    # torch: b = 0.9 b + g; p -= lr b, twice
    np.testing.assert_allclose(p, [1.0, -2.0] - 0.1 * (g + (0.9 * g + g)))
    with pytest.raises(NotImplementedError, match="Nesterov"):
        nnfs.sgd([p], 0.1, 0.9, 0.0, 0.0, True)


def test_a_stub_is_not_provided_by_name(monkeypatch):
    nnfs = load_preset(NNFS / "unfinished.py", monkeypatch)
    with pytest.raises(NotImplementedError, match="Layer_Dense.backward is still the starter"):
        nnfs.linear(np.ones((2, 3)), None)
    assert nnfs.relu() is not None


def test_the_file_is_never_run_only_its_definitions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nnfs = load_preset(NNFS / "mistakes.py", monkeypatch)  # a training script at the bottom
    assert nnfs.student.get("Layer_Dense") is not None
    assert not (tmp_path / MARKER).exists()


def test_no_path_is_an_adapter_error(monkeypatch):
    monkeypatch.delenv("CNN_ORACLE_API_PATH", raising=False)
    spec = importlib.util.spec_from_file_location("oracle_tests.presets._nnfs_test", PRESET)
    with pytest.raises(AdapterError, match="--api nnfs PATH"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_early_chapters_forward_without_training_is_accepted(tmp_path, monkeypatch):
    source = (NNFS / "correct.py").read_text()
    early = tmp_path / "chapter_9.py"
    early.write_text(
        source.replace("def forward(self, inputs, training):", "def forward(self, inputs):")
    )
    nnfs = load_preset(early, monkeypatch)
    x = np.array([[-1.0, 2.0, 0.5]])
    np.testing.assert_array_equal(nnfs.relu().forward(x), [[0.0, 2.0, 0.5]])
    layer = nnfs.linear(np.eye(3), np.zeros(3))
    np.testing.assert_array_equal(layer.forward(x), x)
