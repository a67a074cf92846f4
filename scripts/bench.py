"""Benchmark the reference against PyTorch CPU eager on the seed's run: `python scripts/bench.py`.

Both train the same network from the same initial weights (ours, copied into torch)
on the same batches (reference.training.epoch_batches), alternately: reference, torch,
reference, torch, ... Every run is a fresh subprocess with the same thread count for
NumPy's BLAS and for torch (OMP/OpenBLAS/MKL_NUM_THREADS and torch.set_num_threads),
so each has its own peak memory. Reported: median seconds per training epoch (the
training pass alone) and the ratio torch / reference; the test-set evaluation time,
separately; test accuracies; peak RSS; one batch's forward and backward per layer,
and their sum, one training step, whose ratio is the number least shaken by a busy
machine (medians of many short timings; epochs absorb every preemption).
Writes benchmark.json and benchmark.png into --out (default plots/).

Times are wall-clock on a machine that may be shared: trust the ratio, measured side
by side, more than absolute seconds across runs. Smoke run:
`python scripts/bench.py --epochs 1 --train-size 256 --test-size 500 --repeats 1`.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

# `python scripts/bench.py` puts scripts/ on sys.path, not the repository root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_plot import plot  # noqa: E402
from bench_runs import (  # noqa: E402
    IMPLEMENTATIONS,
    reset_peak_rss,
    rss_mb,
    run_reference,
    run_torch,
)

from reference import TrainConfig, load_mnist  # noqa: E402

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    seed_run = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=seed_run.epochs)
    p.add_argument("--train-size", type=int, default=seed_run.train_size)
    p.add_argument("--test-size", type=int, default=10000, help="test images evaluated")
    p.add_argument("--repeats", type=int, default=3, help="runs of each implementation")
    p.add_argument("--threads", type=int, default=None, help="default: torch's default here")
    p.add_argument("--layer-reps", type=int, default=200, help="timings per layer and pass")
    p.add_argument("--out", type=Path, default=ROOT / "plots")
    p.add_argument("--replot", type=Path, help="only redraw the PNG of this benchmark.json")
    p.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --- One worker process ------------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    """Run one implementation and print its results as one JSON line on stdout."""
    if args.worker == "torch":
        import torch

        torch.set_num_threads(args.threads)
    config = TrainConfig(epochs=args.epochs, train_size=args.train_size)
    x_train, y_train, x_test, y_test = load_mnist(train_size=args.train_size)
    data = (x_train, y_train, x_test[: args.test_size], y_test[: args.test_size])
    baseline = reset_peak_rss()  # interpreter, libraries and data, before any model exists
    run = run_reference if args.worker == "reference" else run_torch
    result = run(config, data, args.layer_reps)
    result.update(peak_rss_mb=rss_mb("VmHWM"), baseline_rss_mb=baseline, blas=blas_info())
    if args.worker == "torch":
        import torch

        result["torch_threads"] = torch.get_num_threads()
    print(json.dumps(result))


def blas_info() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS/OpenMP pools (empty if it is not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def spawn(kind: str, args: argparse.Namespace, threads: int) -> dict:
    """Run `kind` in a fresh process with every thread pool limited to `threads`."""
    env = {**os.environ, **{var: str(threads) for var in THREAD_VARS}}
    command = [sys.executable, __file__, "--worker", kind, "--threads", str(threads)]
    command += ["--epochs", str(args.epochs), "--train-size", str(args.train_size)]
    command += ["--test-size", str(args.test_size), "--layer-reps", str(args.layer_reps)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench.py: the {kind} run failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def torch_default_threads() -> int:
    """torch.get_num_threads() in a process with no thread-count variables set."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    probe = "import torch; print(torch.get_num_threads())"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    return int(done.stdout.strip())


# --- Summary, JSON and plot ------------------------------------------------------------
def summarise(runs: list[dict]) -> dict:
    """Medians over the runs of one implementation (each run: one process)."""
    per_epoch = [statistics.mean(row["seconds"] for row in run["history"]) for run in runs]
    layers = [
        {
            "layer": row["layer"],
            **{
                key: statistics.median(run["layers"][i][key] for run in runs)
                for key in ("forward_us", "backward_us")
            },
        }
        for i, row in enumerate(runs[0]["layers"])
    ]
    peak = statistics.median(run["peak_rss_mb"] for run in runs)
    baseline = statistics.median(run["baseline_rss_mb"] for run in runs)
    return {
        "train_seconds_per_epoch": statistics.median(per_epoch),
        # One training step (forward, loss, backward, Adam) on one batch: the sum of the
        # per-layer medians. Medians shrug off the preemptions of a shared machine.
        "step_us": sum(row["forward_us"] + row["backward_us"] for row in layers),
        "train_seconds_per_epoch_by_run": per_epoch,
        "eval_seconds": statistics.median(run["eval_seconds"] for run in runs),
        "final_test_accuracy_by_run": [run["history"][-1]["test_accuracy"] for run in runs],
        "history_of_first_run": runs[0]["history"],
        "peak_rss_mb": peak,
        "baseline_rss_mb": baseline,
        "training_rss_over_baseline_mb": peak - baseline,
        "layers": layers,
        "blas": runs[0]["blas"],
        **({"torch_threads": runs[0]["torch_threads"]} if "torch_threads" in runs[0] else {}),
    }


def build_summary(args, threads: int, default_threads: int, runs: dict, load: tuple) -> dict:
    ref, tor = summarise(runs["reference"]), summarise(runs["torch"])
    pairs = zip(
        ref["train_seconds_per_epoch_by_run"], tor["train_seconds_per_epoch_by_run"], strict=True
    )
    return {
        "ratio_torch_over_reference": tor["train_seconds_per_epoch"]
        / ref["train_seconds_per_epoch"],
        "ratio_by_pair": [t / r for r, t in pairs],
        "ratio_of_step_medians": tor["step_us"] / ref["step_us"],
        "config": {
            **TrainConfig(args.epochs, args.train_size).to_dict(),
            "test_size": args.test_size,
        },
        "repeats": args.repeats,
        "order": "alternating: reference, torch, reference, torch, ... each a fresh process",
        "threads": threads,
        "torch_default_threads": default_threads,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
        },
        "memory": "peak RSS (VmHWM) of each run's process from the end of data loading on; "
        "baseline = its RSS at that point (interpreter, libraries, data; torch's process "
        "also maps torch's libraries)",
        "timing": "wall clock; seconds per epoch = the training pass only, evaluation apart "
        "(one pass over the test set in chunks of 1000, after training, median of 3)",
        "reference": ref,
        "torch": tor,
    }


def write_outputs(summary: dict, out: Path) -> None:
    """benchmark.json and benchmark.png, each written to a temporary name, then renamed."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "benchmark.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / "benchmark.json")
    tmp = out / "benchmark.tmp.png"
    plot(summary, tmp)
    tmp.replace(out / "benchmark.png")


def report(summary: dict) -> None:
    for impl in IMPLEMENTATIONS:
        s = summary[impl]
        print(
            f"{impl:9s} {s['train_seconds_per_epoch']:.3f} s/epoch (runs: "
            f"{', '.join(f'{t:.3f}' for t in s['train_seconds_per_epoch_by_run'])}), "
            f"eval {s['eval_seconds']:.3f} s, final test accuracy "
            f"{', '.join(f'{a:.4f}' for a in s['final_test_accuracy_by_run'])}, "
            f"peak RSS {s['peak_rss_mb']:.0f} MB (+{s['training_rss_over_baseline_mb']:.0f} MB "
            "over the loaded process)"
        )
    print(
        f"one training step (sum of per-layer medians): reference "
        f"{summary['reference']['step_us']:.0f} us, torch {summary['torch']['step_us']:.0f} us, "
        f"ratio {summary['ratio_of_step_medians']:.2f}x"
    )
    print(
        f"torch / reference: {summary['ratio_torch_over_reference']:.2f}x with "
        f"{summary['threads']} thread(s) allowed each; the reference's train() uses one BLAS "
        "thread of them (torch's default here: "
        f"{summary['torch_default_threads']})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"))
        return 0
    default_threads = torch_default_threads()
    threads = args.threads or default_threads
    load, runs = os.getloadavg(), {impl: [] for impl in IMPLEMENTATIONS}
    for rep in range(1, args.repeats + 1):
        for impl in IMPLEMENTATIONS:
            runs[impl].append(spawn(impl, args, threads))
            seconds = statistics.mean(r["seconds"] for r in runs[impl][-1]["history"])
            print(f"run {rep}/{args.repeats} {impl:9s} {seconds:.3f} s/epoch", flush=True)
    summary = build_summary(args, threads, default_threads, runs, load)
    write_outputs(summary, args.out)
    report(summary)
    print(f"wrote {args.out / 'benchmark.json'} and {args.out / 'benchmark.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
