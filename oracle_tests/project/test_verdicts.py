"""Verdicts that hold: one cause fails only the checks about it and is named, garbage
passes no value check, and what an adapter's import does cannot break the oracle.

Every run here is a subprocess of `cnn-oracle check` on a small adapter built from the
reference with one piece changed.
"""

import subprocess
import sys
import textwrap

import pytest

from .test_adapters import by_status, checked

pytestmark = pytest.mark.mutants

HEADER = """
import numpy as np
from reference.adapter import adam, conv2d, cross_entropy, flatten, linear, maxpool2d
name = "{name}"
"""

WHERE_RELU = """
class ReLU:
    # The common NumPy ReLU: NaN > 0 is false, so NaN becomes 0 both ways.
    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, 0).astype(x.dtype)

    def backward(self, dy):
        return (dy * (self.x > 0)).astype(dy.dtype)


def relu():
    return ReLU()
"""

NAN_RELU = """
class ReLU:
    def forward(self, x):
        return np.full_like(x, np.nan)

    def backward(self, dy):
        return np.full_like(dy, np.nan)


def relu():
    return ReLU()
"""

STUBBING = """
import sys, types, warnings
sys.modules["pandas"] = types.ModuleType("pandas")  # imported without its heavy dependency
np.seterr(all="raise")
np.random.seed(0)
np.set_printoptions(precision=1)
warnings.simplefilter("error")
"""


def adapter(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(HEADER.format(name=name)) + textwrap.dedent(body))
    return path


def test_a_where_relu_fails_only_its_nan_checks_and_is_named(tmp_path):
    run, report = checked(adapter(tmp_path, "where_relu", WHERE_RELU), tmp_path, "--", "-k", "relu")
    failed = by_status(report, "failed")
    assert failed, run.stdout[-3000:]
    assert all(c["layer"] == "ReLU" and "NaN" in c["quantity"] for c in failed), [
        c["id"] for c in failed
    ]
    per_dtype_and_direction = [(c["dtype"], c["quantity"]) for c in failed]
    assert len(per_dtype_and_direction) == len(set(per_dtype_and_direction)) <= 4
    assert report["diagnosis"]["diagnosed"] == ["relu_nan_to_zero_both_ways"], report["diagnosis"]
    assert report["conventions"]["NaN propagation"]["status"] == "differs"
    assert report["conventions"]["ReLU'(0)"]["status"] == "torch's"


def test_an_all_nan_relu_passes_no_value_check(tmp_path):
    run, report = checked(adapter(tmp_path, "nan_relu", NAN_RELU), tmp_path, "--", "-k", "relu")
    relu = [c for c in report["checks"] if c["layer"] == "ReLU"]
    assert relu and all(c["status"] == "failed" for c in relu), [
        (c["id"], c["status"]) for c in relu
    ]
    fd = [c for c in relu if "finite differences" in c["quantity"]]
    assert fd and "NaN or inf on finite inputs" in fd[0]["reason"]


def test_what_an_adapter_does_at_import_does_not_break_the_oracle(tmp_path):
    body = STUBBING + "from reference.adapter import relu\n"
    run, report = checked(adapter(tmp_path, "stubbing", body), tmp_path, "--", "-k", "adam or relu")
    assert run.returncode == 0, run.stdout[-3000:]
    assert report["summary"]["Adam"]["passed"] > 0 and report["summary"]["ReLU"]["passed"] > 0


def test_stub_modules_are_hidden_from_torch_even_when_torch_came_first(tmp_path):
    # As in `pytest --impl`: torch is imported before the adapter, whose stub must not
    # reach torch's lazy imports, while torch's own spec-less modules stay put.
    path = adapter(tmp_path, "stubbing", STUBBING + "from reference.adapter import relu\n")
    script = textwrap.dedent(
        f"""
        import torch
        from oracle_tests.contract import load_adapter
        load_adapter({str(path)!r})
        p = torch.zeros(3, requires_grad=True)
        p.grad = torch.ones(3)
        torch.optim.Adam([p]).step()
        print("stepped")
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and "stepped" in run.stdout, run.stderr[-2000:]
