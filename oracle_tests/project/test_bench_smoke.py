"""scripts/bench.py end to end at a tiny size (1 epoch of 256 images, 1 run each).

It must run, write a well-formed benchmark.json and a PNG, and train both libraries
from the same weights on the same batches. No timing is asserted: the machine is
shared, and the benchmark itself is where speed is measured.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--epochs", "1", "--train-size", "256", "--test-size", "500", "--repeats", "1"]
SMOKE += ["--layer-reps", "5", "--threads", "1"]
IMPLEMENTATIONS = ("reference", "torch")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def bench(tmp_path_factory, mnist) -> tuple[subprocess.CompletedProcess, Path]:
    """One smoke run of the benchmark (the mnist fixture skips it, or fails it in CI,
    when the data are missing); its process and output folder."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), *SMOKE, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    return done, out


@pytest.fixture(scope="module")
def summary(bench) -> dict:
    done, out = bench
    assert done.returncode == 0, f"bench.py failed:\n{done.stderr}"
    return json.loads((out / "benchmark.json").read_text())


def test_bench_smoke_run_writes_the_json_and_a_png(bench, summary):
    _, out = bench
    assert (out / "benchmark.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(out.glob("*.tmp*")), "a temporary file was left behind"
    assert summary["config"]["train_size"] == 256 and summary["config"]["epochs"] == 1
    assert summary["config"]["batch_size"] == 32 and summary["config"]["lr"] == 1e-3
    assert summary["threads"] == 1 and summary["repeats"] == 1


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bench_reports_time_accuracy_and_memory_of_each_library(summary, impl):
    s = summary[impl]
    runs = s["train_seconds_per_epoch_by_run"]
    assert len(runs) == 1 and s["train_seconds_per_epoch"] == runs[0] > 0
    assert s["eval_seconds"] > 0
    assert len(s["final_test_accuracy_by_run"]) == 1
    assert 0 <= s["final_test_accuracy_by_run"][0] <= 1
    assert s["peak_rss_mb"] >= s["baseline_rss_mb"] > 0


def test_bench_ratios_are_torch_time_over_reference_time(summary):
    ref, tor = summary["reference"], summary["torch"]
    expected = tor["train_seconds_per_epoch"] / ref["train_seconds_per_epoch"]
    assert summary["ratio_torch_over_reference"] == pytest.approx(expected, rel=1e-12)
    for s in (ref, tor):  # a step is the sum of its per-layer medians
        rows = s["layers"]
        total = sum(r["forward_us"] + r["backward_us"] for r in rows)
        assert s["step_us"] == pytest.approx(total, rel=1e-12)
    expected = tor["step_us"] / ref["step_us"]
    assert summary["ratio_of_step_medians"] == pytest.approx(expected, rel=1e-12)


def test_bench_times_the_same_layers_for_both_libraries(summary):
    names = [[row["layer"] for row in summary[impl]["layers"]] for impl in IMPLEMENTATIONS]
    assert names[0] == names[1]
    assert names[0][0].startswith("Conv2d") and names[0][-1] == "Adam step"
    for impl in IMPLEMENTATIONS:
        for row in summary[impl]["layers"]:
            times = (row["forward_us"], row["backward_us"])
            assert all(math.isfinite(t) and t >= 0 for t in times), (impl, row)
            assert sum(times) > 0, f"{impl} {row['layer']}: no time measured"


def test_bench_trains_both_libraries_from_the_same_weights_on_the_same_batches(summary):
    # Eight float32 Adam steps from the same start on the same batches: the mean
    # training losses agree to float32 rounding. Different initial weights or batch
    # orders would differ already in the first digits.
    ref, tor = (summary[impl]["history_of_first_run"][0] for impl in IMPLEMENTATIONS)
    assert ref["train_loss"] == pytest.approx(tor["train_loss"], rel=1e-4)
    assert ref["test_loss"] == pytest.approx(tor["test_loss"], rel=1e-4)
