"""`cnn-oracle check --api NAME PATH`: course code checked with no adapter of its own.

Student-style solutions (examples/courses/, our own code) in each course's API: the
correct ones pass everything they provide, each mistake the course invites is named (by
the diagnosis or by a convention), an unfinished one reports its stubs as "not
provided" by name, a wrong signature is one line with exit 2, and a notebook or script
is never run: only its definitions are.

The runs are subprocesses of `cnn-oracle check`, the command a student types (marked
`mutants`, as test_adapters.py); the loading tests run in-process and take milliseconds.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSES = ROOT / "examples" / "courses"
slow = pytest.mark.mutants  # the suite's meta-tests: `tox -e mutants`


def cnn_oracle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `cnn-oracle check ARGS` (the console script's module) in cwd."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    env.pop("CNN_ORACLE_API_PATH", None)
    command = [sys.executable, "-m", "oracle_tests.cli", "check", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def checked(
    tmp: Path, api: str, path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess, dict]:
    """The run of `--api api path` and its --json report."""
    out = tmp / "report.json"
    run = cnn_oracle("--api", api, str(path), "--json", str(out), *extra, cwd=tmp)
    assert out.is_file(), f"no report was written:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, json.loads(out.read_text())


def by_status(report: dict, status: str) -> list[dict]:
    return [c for c in report["checks"] if c["status"] == status]


def not_provided_reasons(report: dict) -> str:
    return "\n".join(c["reason"] for c in by_status(report, "not provided"))


def differing(report: dict) -> dict:
    return {k: v["observed"] for k, v in report["conventions"].items() if v["status"] == "differs"}


# --- cs231n -------------------------------------------------------------------------
@slow
def test_cs231n_correct_solution_passes_everything_it_provides(tmp_path):
    run, report = checked(tmp_path, "cs231n", COURSES / "cs231n" / "correct")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    name = report["implementation"]["name"]
    assert name.startswith("cs231n (") and "linear = affine_{forward,backward}" in name, name
    assert "conv2d = conv_{forward,backward}_naive" in name and "adam = adam" in name, name
    assert "dropout p = 1 - torch's (the keep probability)" in name, name
    assert f"cnn-oracle: checking {name}" in run.stdout  # the header says it
    for layer in (
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Linear",
        "CrossEntropy",
        "Adam",
        "SGD",
        "RMSprop",
    ):
        assert report["summary"][layer]["passed"] > 0, (layer, report["summary"][layer])
    for layer in ("BatchNorm2d", "BatchNorm1d", "Dropout"):
        assert report["summary"][layer]["passed"] > 0, (layer, report["summary"][layer])
    assert not differing(report), differing(report)


@slow
def test_cs231n_mistakes_are_each_named(tmp_path):
    run, report = checked(tmp_path, "cs231n", COURSES / "cs231n" / "mistakes")
    assert run.returncode == 1, run.stdout[-3000:]
    diagnosed = report["diagnosis"]["diagnosed"]
    assert "conv_dx_empty_at_padding_zero" in diagnosed, diagnosed  # the [pad:-pad] unpad
    assert "pool_ties_to_every_max" in diagnosed, diagnosed  # the x == max mask
    conventions = differing(report)
    # BatchNorm's momentum in torch's meaning where the API's weighs the running statistics,
    # and the biased running variance the course keeps.
    assert "m * running + (1 - m) * batch" in conventions["BatchNorm momentum form"]
    assert "the biased batch variance" in conventions["BatchNorm running variance"]
    assert "every tied maximum" in conventions["tie rule"]
    failed = {c["layer"] for c in by_status(report, "failed")}
    assert failed == {"Conv2d", "MaxPool2d", "BatchNorm2d", "BatchNorm1d"}, failed


@slow
def test_cs231n_fast_pool_that_splits_ties_is_named(tmp_path):
    run, report = checked(
        tmp_path, "cs231n", COURSES / "cs231n" / "mistakes", "--fast", "--", "-k", "MaxPool2d"
    )
    assert run.returncode == 1, run.stdout[-3000:]
    # the line to run a failing check again is the student's command, not the preset's module
    folder = (COURSES / "cs231n" / "mistakes").resolve()
    assert f"reproduce: cnn-oracle check --api cs231n {folder} --fast -- -k" in run.stdout
    assert "reproduce: cnn-oracle check oracle_tests.presets" not in run.stdout
    assert "maxpool2d = max_pool_{forward,backward}_fast" in report["implementation"]["name"]
    assert report["diagnosis"]["diagnosed"] == ["pool_ties_split_evenly"], report["diagnosis"]
    assert "split evenly" in differing(report)["tie rule"]


@slow
def test_cs231n_unfinished_solution_lists_its_stubs_as_not_provided(tmp_path):
    run, report = checked(tmp_path, "cs231n", COURSES / "cs231n" / "unfinished")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    reasons = not_provided_reasons(report)
    stubs = [
        "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
        "batchnorm_forward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
        "dropout_forward", "dropout_backward", "adam",
    ]  # fmt: skip
    for stub in stubs:
        assert f"{stub} " in reasons, stub
    assert "still the starter stub" in reasons
    for written in ("affine_forward", "relu_backward", "softmax_loss", "conv_forward_naive"):
        assert written not in reasons, written
    name = report["implementation"]["name"]
    assert "still stubs: conv_backward_naive, max_pool_forward_naive" in name, name
    for layer in ("Linear", "ReLU", "CrossEntropy"):  # what is written is checked
        assert report["summary"][layer]["passed"] > 0, layer


@slow
def test_a_signature_that_differs_from_the_api_is_one_line_and_exit_2(tmp_path):
    course = tmp_path / "cs231n"
    course.mkdir()
    (course / "layers.py").write_text(
        "def affine_forward(x, w):\n    return x @ w, (x, w)\n"
        "def affine_backward(dout, cache):\n    return None, None, None\n"
    )
    run = cnn_oracle("--api", "cs231n", str(course), cwd=tmp_path)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and not run.stdout, run.stderr
    assert "affine_forward(x, w) (layers.py:1) does not match the cs231n API" in lines[0]
    assert "called as affine_forward(x, w, b)" in lines[0]


@slow
@pytest.mark.parametrize(
    "args, said",
    [
        (["--api", "cs231n"], "--api cs231n needs PATH"),
        (["--api", "nnfs", "--fast", "x.py"], "--fast is for --api cs231n"),
        (["--api", "cs231n", "no/such/folder"], "no/such/folder does not exist"),
        (["--fast"], "--fast goes with --api cs231n"),
    ],
)
def test_a_wrong_api_command_line_is_one_line_and_exit_2(tmp_path, args, said):
    run = cnn_oracle(*args, cwd=tmp_path)
    assert run.returncode == 2 and said in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


# --- deeplearning.ai ----------------------------------------------------------------
@slow
def test_deeplearning_ai_correct_notebook_passes_under_numpy_2_without_its_data(tmp_path):
    # Its data cell needs datasets/train_signs.h5 and the course's cnn_utils, neither here;
    # its conv_single_step casts the (1, 1, 1) bias with float(b), which NumPy 2 rejects.
    notebook = COURSES / "deeplearning_ai" / "correct.ipynb"
    assert "float(b)" in notebook.read_text() and "load_dataset()" in notebook.read_text()
    run, report = checked(tmp_path, "deeplearning-ai", notebook)
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    name = report["implementation"]["name"]
    assert "conv2d = conv_forward, conv_backward, zero_pad, conv_single_step" in name, name
    assert "never run" in name and "float() converts size-1 arrays" in name, name
    for layer in ("Conv2d", "MaxPool2d", "AvgPool2d", "Adam", "SGD"):  # SGD: course 2's momentum
        assert report["summary"][layer]["passed"] > 0, (layer, report["summary"][layer])
    assert not differing(report), differing(report)


@slow
def test_deeplearning_ai_hints_mistakes_are_each_named(tmp_path):
    run, report = checked(
        tmp_path, "deeplearning-ai", COURSES / "deeplearning_ai" / "mistakes.ipynb"
    )
    assert run.returncode == 1, run.stdout[-3000:]
    diagnosed = report["diagnosis"]["diagnosed"]
    assert "conv_dx_empty_at_padding_zero" in diagnosed, diagnosed  # the [pad:-pad] unpad
    assert "pool_ties_to_every_max" in diagnosed, diagnosed  # create_mask_from_window's x == max
    assert "every tied maximum" in differing(report)["tie rule"]
    failed = {c["layer"] for c in by_status(report, "failed")}
    assert failed == {"Conv2d", "MaxPool2d"}, failed


# --- Loading: only definitions run --------------------------------------------------
def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook: a markdown cell, then one code cell per source."""

    def cell(kind: str, text: str) -> dict:
        extra = {"execution_count": None, "outputs": []} if kind == "code" else {}
        return {"cell_type": kind, "metadata": {}, "source": text.splitlines(True), **extra}

    nb = {"cells": [cell("markdown", "# A notebook"), *(cell("code", c) for c in cells)]}
    path.write_text(json.dumps({**nb, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    return path


def test_a_notebook_runs_only_the_mapped_definitions_and_the_imports_they_need(tmp_path):
    from oracle_tests.presets._loading import from_source

    marker = tmp_path / "a_cell_ran.txt"
    notebook = write_notebook(
        tmp_path / "student.ipynb",
        "import numpy as np\nimport no_such_data_module\n%matplotlib inline\nnp.random.seed(1)",
        f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('the data cell ran')",
        "def conv_forward(A_prev, W, b, hparameters):\n    return helper(A_prev), None\n\n"
        f"conv_forward(1, 2, 3, 4)\nopen({str(marker)!r}, 'w')",
        "def helper(a):\n    return np.asarray(a) * 2",
        "def unused():\n    import no_such_module_either",
    )
    student = from_source("deeplearning-ai", notebook, {"conv_forward": "", "pool_forward": ""})
    assert not marker.exists()
    assert set(student.defs) == {"conv_forward", "helper"}
    namespace = student.get("conv_forward").__globals__
    assert "np" in namespace and "no_such_data_module" not in namespace
    assert student.get("conv_forward")([1.0], None, None, None)[0].tolist() == [2.0]
    assert student.defs["conv_forward"].where == "student.ipynb, cell 4, line 1"
    assert not student.has("pool_forward")


def test_a_script_runs_only_its_definitions_not_its_training(tmp_path):
    from oracle_tests.presets._loading import from_source

    marker = tmp_path / "trained.txt"
    script = tmp_path / "network.py"
    script.write_text(
        "import numpy as np\nimport nnfs\nfrom nnfs.datasets import spiral_data\nnnfs.init()\n"
        "EPS = 1e-7\n\n"
        "class Loss:\n    def calculate(self, output, y):\n"
        "        return np.mean(self.forward(output, y))\n\n"
        "class Loss_CategoricalCrossentropy(Loss):\n"
        "    def forward(self, y_pred, y_true):\n"
        "        return -np.log(np.clip(y_pred, EPS, 1 - EPS)[range(len(y_pred)), y_true])\n\n"
        f"X, y = spiral_data(samples=100, classes=3)\nopen({str(marker)!r}, 'w')\n"
    )
    student = from_source("nnfs", script, {"Loss_CategoricalCrossentropy": ""})
    assert not marker.exists()
    assert set(student.defs) == {"Loss", "Loss_CategoricalCrossentropy"}  # the base class too
    loss = student.get("Loss_CategoricalCrossentropy")().calculate(np.full((1, 2), 0.5), [0])
    assert loss == pytest.approx(np.log(2))
    assert student.has("Loss_CategoricalCrossentropy.calculate")  # inherited


def test_extracted_functions_convert_size_one_arrays_as_numpy_1_did(tmp_path):
    from oracle_tests.presets._loading import NumPy1Float, from_source

    notebook = write_notebook(
        tmp_path / "conv.ipynb",
        "import numpy as np",
        "def conv_single_step(a_slice_prev, W, b):\n    return np.sum(a_slice_prev * W) + float(b)",
        "def kinds():\n"
        "    return np.zeros(2, dtype=float).dtype, isinstance(1.5, float), float('2')",
    )
    wanted = {"conv_single_step": "", "kinds": ""}
    student = from_source("deeplearning-ai", notebook, wanted, {"float": NumPy1Float()})
    b = np.full((1, 1, 1), 0.25)
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        with pytest.raises(TypeError):
            float(b)  # NumPy 2 itself refuses
    assert student.get("conv_single_step")(np.ones((2, 2, 3)), np.ones((2, 2, 3)), b) == 12.25
    assert student.get("kinds")() == (np.dtype(np.float64), True, 2.0)


STUBS = {
    "cs231n starter": (
        "def f(x, w):\n    out = None\n    pass\n    cache = (x, w)\n    return out, cache"
    ),
    "shapes computed, out left None": (
        "def f(x, p):\n    N, C, H, W = x.shape\n    H2 = 1 + (H - p) // 2\n    out = None\n"
        "    return out, (x, p)"
    ),
    "template with an empty YOUR CODE block": (
        "def f(A, W):\n    # YOUR CODE STARTS HERE\n\n    # YOUR CODE ENDS HERE\n"
        "    cache = (A, W)\n    return Z, cache"
    ),
    "raise NotImplementedError": "def f(x):\n    raise NotImplementedError",
    "body is pass": "def backward(self, dvalues):\n    pass",
    "docstring only": 'def f(x):\n    """Later."""',
}
WRITTEN = {
    "written": "def f(x, w):\n    out = x @ w\n    return out, (x, w)",
    "returns its argument": "def f(x):\n    return x",
    "a pass inside real work": (
        "def f(x, mode):\n    if mode == 'train':\n        out = x * 2\n    else:\n        pass\n"
        "    return out"
    ),
    "sets attributes": "def backward(self, dvalues):\n    self.dinputs = dvalues.copy()",
}


@pytest.mark.parametrize("source", list(STUBS.values()), ids=list(STUBS))
def test_a_starter_stub_is_recognised(source):
    from oracle_tests.presets._loading import is_stub

    assert is_stub(ast.parse(source).body[0])


@pytest.mark.parametrize("source", list(WRITTEN.values()), ids=list(WRITTEN))
def test_a_written_function_is_not_a_stub(source):
    from oracle_tests.presets._loading import is_stub

    assert not is_stub(ast.parse(source).body[0])


def test_a_notebook_function_with_another_signature_is_one_clear_error(tmp_path):
    from oracle_tests.contract import AdapterError
    from oracle_tests.presets._loading import from_source

    notebook = write_notebook(tmp_path / "nb.ipynb", "def conv_forward(A_prev, W, b):\n    pass")
    student = from_source("deeplearning-ai", notebook, {"conv_forward": ""})
    expected = "conv_forward(A_prev, W, b, hparameters)"
    with pytest.raises(AdapterError) as err:
        student.check_signature("conv_forward", expected, None, None, None, None)
    assert str(err.value) == (
        "conv_forward(A_prev, W, b) (nb.ipynb, cell 2, line 1) does not match the "
        f"deeplearning-ai API: it is called as {expected}"
    )


# --- In-process: the translations, and what the probes observe ----------------------
def load_preset(api: str, path: Path, monkeypatch, fast: bool = False):
    """The preset module, freshly imported and pointed at `path` (as --api does)."""
    import importlib.util

    monkeypatch.setenv("CNN_ORACLE_API_PATH", str(path))
    if fast:
        monkeypatch.setenv("CNN_ORACLE_API_FAST", "1")
    file = ROOT / "oracle_tests" / "presets" / f"{api}.py"
    spec = importlib.util.spec_from_file_location(f"oracle_tests.presets._{api}_test", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cs231n_affine_gets_torch_weight_transposed_and_gives_torch_layout_grads(monkeypatch):
    cs231n = load_preset("cs231n", COURSES / "cs231n" / "correct", monkeypatch)
    rng = np.random.default_rng(0)
    w, b, x = rng.standard_normal((3, 5)), rng.standard_normal(3), rng.standard_normal((4, 5))
    layer = cs231n.linear(w, b)
    np.testing.assert_allclose(layer.forward(x), x @ w.T + b)
    dy = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer.backward(dy), dy @ w)
    np.testing.assert_allclose(layer.grads["weight"], dy.T @ x)
    np.testing.assert_allclose(layer.grads["bias"], dy.sum(axis=0))


def test_cs231n_batchnorm_gets_one_minus_torchs_momentum(monkeypatch):
    cs231n = load_preset("cs231n", COURSES / "cs231n" / "correct", monkeypatch)
    x = np.array([[1.0, 4.0], [3.0, 8.0]])
    layer = cs231n.batchnorm1d(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), 1e-5, 0.1)
    assert layer.bn_param["momentum"] == pytest.approx(0.9)
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))  # torch's update
    layer.eval()
    with pytest.raises(NotImplementedError, match="batchnorm_backward is defined for mode"):
        layer.backward(x)


def test_cs231n_adam_keeps_one_config_per_parameter_and_updates_in_place(monkeypatch):
    cs231n = load_preset("cs231n", COURSES / "cs231n" / "correct", monkeypatch)
    p, q = np.array([1.0, -2.0]), np.array([[0.5]])
    opt = cs231n.adam([p, q], 0.1, (0.9, 0.999), 1e-8)
    opt.step([np.array([0.5, -0.25]), np.array([[2.0]])])
    np.testing.assert_allclose(p, [0.9, -1.9])  # torch's step 1: lr * sign(g)
    np.testing.assert_allclose(q, [[0.4]])
    assert [c["t"] for c in opt.configs] == [1, 1]


def test_cs231n_dropout_p_meaning_is_observed_not_assumed(tmp_path, monkeypatch):
    from oracle_tests.contract import Adapter, Implementation
    from oracle_tests.conventions.stateful import dropout_p_meaning

    def observed(keep: bool) -> str:
        course = tmp_path / ("keep" if keep else "drop")
        course.mkdir()
        rule = "rng.random(x.shape) < p" if keep else "rng.random(x.shape) >= p"
        (course / "layers.py").write_text(
            "import numpy as np\n\n"
            "def dropout_forward(x, dropout_param):\n"
            "    p, rng = dropout_param['p'], np.random.default_rng(0)\n"
            f"    mask = ({rule}) / ({'p' if keep else '(1 - p)'})\n"
            "    return x * mask, (dropout_param, mask)\n\n"
            "def dropout_backward(dout, cache):\n    return dout * cache[1]\n"
        )
        preset = load_preset("cs231n", course, monkeypatch)
        impl = Implementation(Adapter(preset, "p", "p", "p", ("float64",), True))
        found = dropout_p_meaning(impl)
        return f"{found.status}: {found.observed}"

    assert observed(keep=True).startswith("torch's: the probability of dropping")  # 2019 on
    # Code written to the 2017 starter (p the drop probability) gets 1 - p = 0.8: it drops
    # 80%, and the probe says what it saw.
    assert "with p = 0.2 it dropped 80" in observed(keep=False)


def test_an_error_in_the_students_code_names_the_function_and_line(tmp_path):
    from oracle_tests.presets._loading import from_modules

    (tmp_path / "layers.py").write_text(
        "import numpy as np\n\ndef affine_forward(x, w, b):\n    return x @ w + b.T, None\n"
    )
    student = from_modules("cs231n", tmp_path, ("layers", "optim"), {"affine_forward": ""})
    with pytest.raises(ValueError) as err:
        student.call("affine_forward", student.get("affine_forward"), np.ones((2, 3)),
                     np.ones((4, 2)), np.ones(2))  # fmt: skip
    assert str(err.value).startswith("in your affine_forward (layers.py, line 4): matmul:")
