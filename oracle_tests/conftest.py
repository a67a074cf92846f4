"""Shared oracle machinery: tolerances, the comparison that records the report,
hypothesis profiles, torch helpers and the real-MNIST fixture.

Every tolerance of the suite is written here, once, with its reason.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_num_threads(1)  # the oracle's answers must not depend on the thread count

# --- Tolerances -------------------------------------------------------------------
# Closeness means |ours - torch| <= atol + rtol * |torch|, elementwise, as in
# torch.testing.assert_close.
TOLERANCES = {
    # float64 against torch float64. Both sides do the same arithmetic in a possibly
    # different summation order, which costs a few ulps (1e-16 relative) per
    # operation; 1e-10 leaves room for sums over thousands of terms and nothing more.
    # atol covers entries that cancel to ~0 (a bias gradient that sums +-terms).
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
    # float32 against torch float32: torch.testing.assert_close's own defaults.
    np.dtype(np.float32): {"rtol": 1.3e-6, "atol": 1e-5},
}
# Finite differences, float64, central, step FD_EPS. Truncation error is O(eps^2)
# ~ 1e-12 and rounding error ~ 1e-16 / eps ~ 1e-10 relative to the function value,
# so 1e-6 relative (gradcheck allows 1e-3) is tight yet safe. FD_ATOL absorbs the
# rounding error where the gradient itself is ~0.
FD_EPS = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-7
# Inputs are kept this far from kinks (ReLU at 0, pooling ties) so that a step of
# FD_EPS never crosses one: 1000 steps of margin.
KINK_MARGIN = 1e-3


# --- Hypothesis profiles ----------------------------------------------------------
# "ci": deterministic (derandomize), no deadline (shared machines are noisy), and
# 30 examples per property: with ~25 properties that is ~750 torch comparisons, each
# a fresh shape/stride/padding/tie pattern, inside the suite's time budget.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=30,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# "thorough": for local runs before a release; random, 1000 examples per property.
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=1000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- The comparison, and the verification report ----------------------------------
_REPORT: dict[tuple[str, str, str, str], dict] = {}


def compare(layer: str, quantity: str, ours, theirs, *, oracle: str = "torch", tol=None):
    """Assert ours ~= theirs (shape, then dtype, then values) and record the errors.

    `theirs` may be a torch tensor or an array. The tolerance is TOLERANCES[dtype]
    unless `tol` (a dict with rtol and atol) is given. The failure message names the
    layer and the quantity, then shows ours against theirs at the worst element.
    """
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach().cpu().numpy()
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    where = f"{layer} {quantity}"
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} vs {oracle} {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} vs {oracle} {theirs.dtype}"
    tol = TOLERANCES[ours.dtype] if tol is None else tol
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    nan_ok = np.isnan(o) == np.isnan(t)
    assert nan_ok.all(), (
        f"{where}: NaN at {np.argwhere(~nan_ok)[:5].tolist()} differs from {oracle}"
    )
    both = ~np.isnan(o)
    err = np.where(both, np.abs(o - t), 0.0)
    # Relative error only where |theirs| exceeds atol: next to 0 (a finite difference
    # that is exactly 0, say) it would divide by ~0 and mean nothing; atol judges those.
    sized = both & (np.abs(t) > tol["atol"])
    rel = np.where(sized, err / np.where(sized, np.abs(t), 1.0), 0.0)
    _record(layer, quantity, str(ours.dtype), oracle, err, rel, tol)
    bad = err > tol["atol"] + tol["rtol"] * np.abs(np.where(both, t, 0.0))
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err, -1.0)), err.shape)
        raise AssertionError(
            f"{where} ({ours.dtype}) differs from {oracle} at {bad.sum()} of {bad.size} "
            f"elements; worst at index {tuple(int(j) for j in i)}: ours={o[i]!r} "
            f"{oracle}={t[i]!r} (abs err {err[i]:.3g}, rtol {tol['rtol']}, atol {tol['atol']})"
        )


def _record(layer, quantity, dtype, oracle, err, rel, tol):
    key = (layer, quantity, dtype, oracle)
    row = _REPORT.setdefault(
        key, {"checks": 0, "max_abs_err": 0.0, "max_rel_err": 0.0, "rtol": 0.0, "atol": 0.0}
    )
    row["checks"] += 1
    # The loosest tolerance this row was held to (some checks use a data-dependent atol).
    row["rtol"] = max(row["rtol"], float(tol["rtol"]))
    row["atol"] = max(row["atol"], float(tol["atol"]))
    if err.size:
        row["max_abs_err"] = max(row["max_abs_err"], float(err.max()))
        row["max_rel_err"] = max(row["max_rel_err"], float(rel.max()))


def pytest_addoption(parser):
    parser.addoption(
        "--report",
        default=None,
        metavar="PREFIX",
        help="write the verification report to PREFIX.json and PREFIX.md",
    )


def pytest_sessionfinish(session, exitstatus):
    prefix = session.config.getoption("--report")
    if not prefix or not _REPORT:
        return
    rows = [
        {"layer": k[0], "quantity": k[1], "dtype": k[2], "oracle": k[3], **v}
        for k, v in sorted(_REPORT.items())
    ]
    report = {"passed": exitstatus == 0, "tolerances": _tolerance_table(), "checks": rows}
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(prefix.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    _atomic_write(prefix.with_suffix(".md"), _markdown(report))


def _tolerance_table() -> dict:
    table = {str(k): v for k, v in TOLERANCES.items()}
    table["finite differences (float64)"] = {"rtol": FD_RTOL, "atol": FD_ATOL, "eps": FD_EPS}
    return table


def _markdown(report: dict) -> str:
    lines = [
        "# Verification report",
        "",
        "Written by `tox -e oracle` (pytest `--report`). Each row aggregates every",
        "comparison of one quantity: the largest errors over all hypothesis examples.",
        f"Suite result: **{'passed' if report['passed'] else 'FAILED'}**.",
        "",
        "| layer | quantity | dtype | oracle | checks | max abs err | max rel err | rtol | atol |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["checks"]:
        lines.append(
            f"| {r['layer']} | {r['quantity']} | {r['dtype']} | {r['oracle']} | {r['checks']} "
            f"| {r['max_abs_err']:.2e} | {r['max_rel_err']:.2e} "
            f"| {r['rtol']:.1e} | {r['atol']:.1e} |"
        )
    lines += [
        "",
        "A check passes if abs err <= atol + rtol * |oracle| elementwise; the rtol and atol",
        "columns give the loosest tolerance each row was held to. The defaults:",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in report["tolerances"].items()]
    return "\n".join(lines + _mutation_lines()) + "\n"


def _mutation_lines() -> list[str]:
    """The mutation score from plots/mutation_score.json (written by the mutmut run)."""
    path = Path(__file__).parent.parent / "plots" / "mutation_score.json"
    if not path.is_file():
        return []
    m = json.loads(path.read_text())
    low, high = m["score_95ci"]
    return [
        "",
        "## Mutation score",
        "",
        f"mutmut: {m['detected']} of {m['scored']} non-equivalent mutants detected "
        f"({m['score']:.1%}, 95% interval {low:.1%} to {high:.1%}); "
        f"{m['equivalent']} equivalent mutants excluded, each with its reason in "
        "`oracle_tests/mutants/SURVIVORS.md`.",
        f"Run: {m['note']}.",
        "",
        "The curated catalogue of realistic bugs (`tox -e mutants`) is listed, with the",
        "test that kills each, in `oracle_tests/mutants/CATALOGUE.md`.",
    ]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --- Torch helpers ------------------------------------------------------------------
def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """A torch copy of `a` with the same dtype (so float64 stays float64)."""
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def torch_vjp(y: torch.Tensor, dy: np.ndarray) -> None:
    """Backpropagate a random upstream gradient: (y * dy).sum().backward().

    A random dy, never ones: sum() hides kernel flips and makes softmax checks empty.
    """
    (y * to_torch(dy)).sum().backward()


# --- Real MNIST -------------------------------------------------------------------
@pytest.fixture(scope="session")
def mnist():
    """(x_train, y_train, x_test, y_test) of the seed's run: 12k train images, 10k test.

    Missing data skips locally but FAILS in CI (CI=true): a green CI must mean the
    real-data checks ran.
    """
    from reference import DatasetError, load_mnist

    try:
        return load_mnist(train_size=12000)
    except DatasetError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"MNIST is required in CI and could not be loaded: {e}")
        pytest.skip(f"MNIST not available ({e}); set MNIST_DIR to run this test")
