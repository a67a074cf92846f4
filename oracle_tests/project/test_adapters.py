"""The suite catches bugs through adapters, and says so clearly: each example gets
exactly the outcome it should, an adapter written from the README runs, and a broken
or misbehaving adapter gets one clear message, never a crash or a traceback.

Every run here is a subprocess of `cnn-oracle check`, the command a user types.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from oracle_tests.contract import FACTORIES, SEED_FACTORIES
from oracle_tests.diagnosis import LAYER_OF

pytestmark = pytest.mark.mutants  # the suite's meta-tests: `tox -e mutants`

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cnn_oracle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `cnn-oracle check ARGS` (the installed console script's module) in cwd."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")}
    command = [sys.executable, "-m", "oracle_tests.cli", "check", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def checked(adapter: Path, tmp: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The run and its --json report."""
    out = tmp / "report.json"
    run = cnn_oracle(str(adapter), "--json", str(out), *extra, cwd=tmp)
    assert out.is_file(), f"no report was written:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run, json.loads(out.read_text())


def by_status(report: dict, status: str) -> list[dict]:
    return [c for c in report["checks"] if c["status"] == status]


@pytest.fixture(scope="module")
def seed_style(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seed_style")
    xfails = tmp / "xfails.txt"
    xfails.write_text(
        "checks/test_maxpool2d.py::test_maxpool2d_ties_route_to_first_max  # the seed's mask\n"
        "checks/test_conv2d.py::test_no_such_check  # stale: renamed long ago\n"
    )
    return checked(EXAMPLES / "seed_style" / "adapter.py", tmp, "--xfails", str(xfails))


def test_seed_style_fails_only_max_pooling_and_the_network_checks_it_reaches(seed_style):
    run, report = seed_style
    assert run.returncode == 1, run.stdout[-2000:]
    assert report["implementation"]["name"] == "seed_style"
    failed = by_status(report, "failed")
    assert {c["layer"] for c in failed} == {"MaxPool2d", "Network"}, [c["id"] for c in failed]
    for layer in ("Conv2d", "ReLU", "Flatten", "Linear", "CrossEntropy", "Adam"):
        row = report["summary"][layer]
        assert row["failed"] == 0 and row["passed"] > 0, (layer, row)
    ties = [c for c in failed if c["layer"] == "MaxPool2d" and "tied" in c["quantity"]]
    assert ties, "no tie check failed"
    for c in ties:  # each names the tie rule, not a bare array diff
        assert "tied maxima" in c["reason"] and "torch routes it to the first" in c["reason"], c
    assert any("all 4 tied maxima" in c["reason"] for c in ties)
    assert all(c["reason"] for c in failed) and all("Traceback" not in c["reason"] for c in failed)


def test_seed_style_is_diagnosed_as_the_x_equals_max_mask_in_every_failing_check(seed_style):
    run, report = seed_style
    assert report["diagnosis"]["diagnosed"] == ["pool_ties_to_every_max"], report["diagnosis"]
    for c in by_status(report, "failed"):  # the network checks too: localised to the pool
        assert c["diagnosis"]["diagnosed"] == ["pool_ties_to_every_max"], c
        assert c["diagnosis"]["layers"][0]["first_divergence"].startswith("MaxPool2d backward")
        assert "matches `pool_ties_to_every_max`" in c["reason"], c["reason"]
    assert "DIAGNOSIS MaxPool2d" in run.stdout and "`pool_ties_to_every_max`" in run.stdout
    forced = [c for c in by_status(report, "failed") if "teacher forcing:" in c["reason"]]
    assert len(forced) == 5, [c["id"] for c in forced]  # the network's one-batch checks
    assert all("teacher forcing: MaxPool2d (layer 2) backward" in c["reason"] for c in forced)
    conventions = report["conventions"]
    assert conventions["tie rule"]["status"] == "differs", conventions["tie rule"]
    assert "every tied maximum" in conventions["tie rule"]["observed"]
    # The mask gives a window holding NaN no gradient: true of seed_style, seen by its probe.
    assert conventions["NaN propagation"]["status"] == "differs"
    assert "MaxPool2d's backward" in conventions["NaN propagation"]["observed"]
    same = {k for k, v in conventions.items() if v["status"] == "torch's"}
    assert same >= {"kernel orientation", "ReLU'(0)", "loss reduction", "Adam variant"}, conventions


def test_seed_style_output_is_for_people(seed_style):
    run, report = seed_style
    for leak in ("object at 0x", "np.float64(", "@reproduce_failure", "Falsifying example"):
        assert leak not in run.stdout, leak
        assert all(leak not in (c["reason"] or "") for c in report["checks"]), leak
    hyp = [c for c in by_status(report, "failed") if "example: " in c["reason"]]
    assert hyp and all("reproduce: cnn-oracle check " in c["reason"] for c in hyp)
    # Causes before the failures: the DIAGNOSIS line comes before the first FAILED line.
    assert run.stdout.index("DIAGNOSIS MaxPool2d") < run.stdout.index("FAILED checks/")


def test_seed_style_xfails_file_turns_a_known_failure_into_an_expected_one(seed_style):
    run, report = seed_style
    expected = by_status(report, "expected failure")
    assert {c["id"].split("[")[0] for c in expected} == {
        "checks/test_maxpool2d.py::test_maxpool2d_ties_route_to_first_max"
    }
    assert "'checks/test_conv2d.py::test_no_such_check' matches no check" in run.stdout


def test_per_sample_passes_all_it_provides_with_its_bias_checks_not_provided(tmp_path):
    run, report = checked(EXAMPLES / "per_sample" / "adapter.py", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    assert report["diagnosis"] == {"diagnosed": [], "layers": {}}
    missing = by_status(report, "not provided")
    bias_checks = [c for c in report["checks"] if "[bias" in c["id"] or "-bias" in c["id"]]
    assert bias_checks and all(c["status"] == "not provided" for c in bias_checks)
    assert all("no biases" in c["reason"] for c in bias_checks)
    assert report["summary"]["Adam"]["passed"] == 0 and report["summary"]["Adam"]["not provided"]
    # The optional pieces it lacks (SGD, Softmax, BatchNorm, ...) are all not provided.
    optional = {LAYER_OF[f] for f in FACTORIES if f not in SEED_FACTORIES}
    assert {c["layer"] for c in missing} <= {"Conv2d", "Linear", "MaxPool2d", "Adam", "Network"} | (
        optional
    )
    assert all(
        row["passed"] == row["failed"] == 0 for k, row in report["summary"].items() if k in optional
    )
    for layer in ("Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "CrossEntropy", "Network"):
        assert report["summary"][layer]["passed"] > 0, layer


NEW_USER = '''
"""My network's layers, for cnn-oracle (written from the README)."""
import numpy as np

name = "my-mlp"
dtypes = ("float64", "float32")


class Linear:
    def __init__(self, weight, bias):
        self.w = weight.copy()
        self.b = None if bias is None else bias.copy()

    def forward(self, x):
        self.x = x.copy()
        y = x @ self.w.T
        return y if self.b is None else y + self.b

    def backward(self, dy):
        self.grads = {"weight": dy.T @ self.x}
        if self.b is not None:
            self.grads["bias"] = dy.sum(axis=0)
        return dy @ self.w


class ReLU:
    def forward(self, x):
        self.x = x.copy()
        return np.maximum(x, 0)

    def backward(self, dy):
        return np.where(self.x <= 0, 0, dy).astype(dy.dtype)


def linear(weight, bias):
    return Linear(weight, bias)


def relu():
    return ReLU()
'''


def test_an_adapter_written_from_the_readme_with_only_linear_and_relu_runs(tmp_path):
    adapter = tmp_path / "my_adapter.py"
    adapter.write_text(textwrap.dedent(NEW_USER))
    run, report = checked(adapter, tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "cnn-oracle: checking my-mlp" in run.stdout
    for c in report["checks"]:
        if c["layer"] in ("Linear", "ReLU"):
            assert c["status"] == "passed", c
        else:
            assert c["status"] == "not provided", c
            assert c["reason"], c


# Two implementations written the way a newcomer writes them, not as catalogue entries:
# each makes one classic mistake, which the diagnosis must name.
TEXTBOOK_CONV = '''
"""Conv2d from the textbook definition of convolution, loops over output pixels."""
import numpy as np

name = "textbook-conv"


class Conv2d:
    def __init__(self, weight, bias, stride, padding):
        self.w = weight.copy()
        self.b = None if bias is None else bias.copy()
        self.s, self.p = stride, padding

    def forward(self, x):
        s, p, k = self.s, self.p, self.w.shape[2]
        self.x_shape = x.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        N, C, H, W = self.xp.shape
        self.out = (H - k) // s + 1, (W - k) // s + 1
        flipped = self.w[:, :, ::-1, ::-1]  # convolution flips the kernel
        y = np.zeros((N, self.w.shape[0], *self.out), dtype=x.dtype)
        for i in range(self.out[0]):
            for j in range(self.out[1]):
                patch = self.xp[:, :, i * s : i * s + k, j * s : j * s + k]
                y[:, :, i, j] = np.tensordot(patch, flipped, axes=([1, 2, 3], [1, 2, 3]))
        if self.b is not None:
            y += self.b[None, :, None, None]
        return y

    def backward(self, dy):
        s, p, k = self.s, self.p, self.w.shape[2]
        flipped = self.w[:, :, ::-1, ::-1]
        d_flipped = np.zeros_like(self.w)
        dxp = np.zeros_like(self.xp)
        for i in range(self.out[0]):
            for j in range(self.out[1]):
                patch = self.xp[:, :, i * s : i * s + k, j * s : j * s + k]
                d_flipped += np.tensordot(dy[:, :, i, j], patch, axes=([0], [0]))
                dxp[:, :, i * s : i * s + k, j * s : j * s + k] += np.tensordot(
                    dy[:, :, i, j], flipped, axes=([1], [0])
                )
        self.grads = {"weight": d_flipped[:, :, ::-1, ::-1].copy()}
        if self.b is not None:
            self.grads["bias"] = dy.sum(axis=(0, 2, 3))
        H, W = self.x_shape[2:]
        return dxp[:, :, p : p + H, p : p + W].copy()


def conv2d(weight, bias, stride, padding):
    if weight.shape[2] != weight.shape[3]:
        raise NotImplementedError("square kernels only")
    return Conv2d(weight, bias, stride, padding)
'''

BLOG_ADAM = '''
"""Adam as a blog post writes it, for cnn-oracle."""
import numpy as np

name = "blog-adam"


class Adam:
    def __init__(self, params, lr, betas, eps):
        self.params, self.lr, self.eps = params, lr, eps
        self.beta1, self.beta2 = betas
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m[...] = self.beta1 * m + (1 - self.beta1) * g
            v[...] = self.beta2 * v + (1 - self.beta2) * g * g
            p -= self.lr * m / (np.sqrt(v) + self.eps)


def adam(params, lr, betas, eps):
    return Adam(params, lr, betas, eps)
'''


@pytest.mark.parametrize(
    "source, selection, bug, convention, observed",
    [
        (TEXTBOOK_CONV, "conv2d", "conv_flipped_kernel", "kernel orientation", "true convolution"),
        (BLOG_ADAM, "adam", "adam_no_bias_correction", "Adam variant", "no bias correction"),
    ],
    ids=["flipped kernel", "adam without bias correction"],
)
def test_a_newcomers_classic_mistake_is_named(
    source, selection, bug, convention, observed, tmp_path
):
    adapter = tmp_path / "mine.py"
    adapter.write_text(textwrap.dedent(source))
    run, report = checked(adapter, tmp_path, "--", "-k", selection)
    assert run.returncode == 1, run.stdout[-3000:]
    failed = by_status(report, "failed")
    assert failed, "the mistake went unnoticed"
    assert report["diagnosis"]["diagnosed"] == [bug], report["diagnosis"]
    assert all(c["diagnosis"]["diagnosed"] == [bug] for c in failed), [
        (c["id"], c["diagnosis"]) for c in failed
    ]
    assert f"matches `{bug}`" in run.stdout and f"({len(failed)} checks)" in run.stdout
    assert report["conventions"][convention]["status"] == "differs"
    assert observed in report["conventions"][convention]["observed"]


BROKEN = {
    "missing file": (None, "does not exist"),
    "syntax error": ("def conv2d(:\n", "SyntaxError"),
    "import error": (
        "import no_such_module_anywhere\n",
        "No module named 'no_such_module_anywhere'",
    ),
    "not an adapter": ("x = 1\n", "is not an adapter: it has none of the factories"),
    "bad dtypes": ("dtypes = ('float16',)\ndef relu():\n    pass\n", "lists neither float64"),
    "raises at import": ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_an_adapter_that_cannot_be_used_exits_2_with_one_line(case, tmp_path):
    source, expected = BROKEN[case]
    adapter = tmp_path / "adapter.py"
    if source is not None:
        adapter.write_text(source)
    run = cnn_oracle(str(adapter), cwd=tmp_path)
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnn-oracle: error: "), run.stderr
    assert expected in lines[0] and "Traceback" not in run.stderr


MISBEHAVING = """
import numpy as np

name = "misbehaving"


class WritesItsInput:
    def forward(self, x):
        x[...] = 0
        return x.copy()

    def backward(self, dy):
        return dy


class WrongShape:
    def __init__(self, weight, bias):
        weight[...] = 0  # mutates the weights it was handed

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class Raises:
    def forward(self, x):
        raise ValueError("shapes do not align")


def relu():
    return WritesItsInput()


def linear(weight, bias):
    return WrongShape(weight, bias)


def flatten():
    return Raises()
"""


def test_a_misbehaving_adapter_fails_with_messages_naming_its_method(tmp_path):
    adapter = tmp_path / "adapter.py"
    adapter.write_text(MISBEHAVING)
    run, report = checked(adapter, tmp_path, "--", "-k", "seed")
    assert run.returncode == 1, run.stdout[-3000:]
    reasons = {c["layer"]: c["reason"] for c in by_status(report, "failed")}
    assert "relu().forward wrote into its argument 1" in reasons["ReLU"]
    assert "changed the weight array the suite handed it" in reasons["Linear"]
    assert "flatten().forward raised ValueError: shapes do not align" in reasons["Flatten"]
    assert "Traceback" not in run.stdout and "oracle_tests/contract.py" not in run.stdout
    # No catalogued bug writes into its input: the diagnosis says so, and does not crash.
    assert "no known bug matches" in reasons["ReLU"], reasons["ReLU"]
