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
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

# `python scripts/bench.py` puts scripts/ on sys.path, not the repository root.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reference import SeedCNN, TrainConfig, evaluate, load_mnist, train  # noqa: E402
from reference.loss import SoftmaxCrossEntropy  # noqa: E402
from reference.optim import Adam  # noqa: E402
from reference.training import epoch_batches, shuffle_rng  # noqa: E402

IMPLEMENTATIONS = ("reference", "torch")
LAYER_NAMES = (
    "Conv2d(1,8,3)",
    "ReLU",
    "MaxPool2d(2)",
    "Flatten",
    "Linear(1352,128)",
    "ReLU",
    "Linear(128,10)",
)
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


# --- Timing helpers ------------------------------------------------------------------
def median_us(f, reps: int) -> float:
    """Median wall time of one call of f, in microseconds, after a short warm-up."""
    for _ in range(min(5, reps)):
        f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since start or the last reset) from /proc, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> float:
    """Restart the peak-RSS count from now (Linux >= 4.0); return the RSS at this point.

    Loading MNIST passes through a transient peak (decompressing all 60k images), which
    would otherwise hide the training's own peak.
    """
    Path("/proc/self/clear_refs").write_text("5")
    return rss_mb("VmRSS")


# --- The reference ---------------------------------------------------------------------
def run_reference(config: TrainConfig, data: tuple, reps: int) -> dict:
    """Train with reference.training.train, then time evaluation and each layer."""
    model = SeedCNN(config.seed)
    history = train(config, data, model=model)
    x_test, y_test = data[2], data[3]
    eval_s = median_us(lambda: evaluate(model, x_test, y_test), 3) / 1e6
    return {"history": history, "eval_seconds": eval_s, "layers": reference_layers(data, reps)}


# One BLAS thread, as train() uses (see reference/training.py).
@threadpool_limits.wrap(limits=1, user_api="blas")
def reference_layers(data: tuple, reps: int) -> list[dict]:
    """Forward and backward of each layer on one batch, with the real upstream gradients.

    Each layer gets the input and gradient it gets in training, where SeedCNN runs
    MaxPool2d before ReLU (model.run_order), so the first ReLU row is ReLU on the pooled
    values. Rows come in nn.Sequential order, to pair with torch's.
    """
    model, loss_fn = SeedCNN(0), SoftmaxCrossEntropy()
    order = model.run_order
    x, y = data[0][:32], data[1][:32]
    inputs, upstream, h = {}, {}, x
    for layer in order:
        inputs[id(layer)], h = h, layer.forward(h)
    loss_fn.forward(h, y)
    dy = loss_fn.backward()
    for layer in reversed(order):
        kwargs = {"input_grad": False} if layer is order[0] else {}
        upstream[id(layer)], dy = dy, layer.backward(dy, **kwargs)
    rows = []
    for name, layer in zip(LAYER_NAMES, model.layers, strict=True):
        kwargs = {"input_grad": False} if layer is order[0] else {}  # no image gradient
        inp, dy = inputs[id(layer)], upstream[id(layer)]
        fwd = median_us(lambda layer=layer, inp=inp: layer.forward(inp), reps)
        layer.forward(inp)  # the cache that backward reads
        bwd = median_us(lambda layer=layer, dy=dy, kw=kwargs: layer.backward(dy, **kw), reps)
        rows.append({"layer": name, "forward_us": fwd, "backward_us": bwd})
    loss = median_us(lambda: loss_fn.forward(h, y), reps)
    rows.append(
        {
            "layer": "CrossEntropy",
            "forward_us": loss,
            "backward_us": median_us(loss_fn.backward, reps),
        }
    )
    optimizer = Adam(model.parameters(), lr=1e-3)
    step = median_us(lambda: optimizer.step(model.gradients()), reps)
    rows.append({"layer": "Adam step", "forward_us": 0.0, "backward_us": step})
    return rows


# --- torch eager -----------------------------------------------------------------------
def torch_net(model: SeedCNN):
    """nn.Sequential of the same architecture holding copies of `model`'s parameters."""
    import torch
    from torch import nn

    net = nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 13 * 13, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )
    with torch.no_grad():
        for tp, p in zip(net.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(np.array(p)))
    return net


def torch_evaluate(net, x: np.ndarray, y: np.ndarray, batch_size: int = 1000):
    """Mean cross-entropy and accuracy in chunks of 1000, as reference.evaluate does."""
    import torch

    loss_fn, total, correct = torch.nn.CrossEntropyLoss(), 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = net(torch.from_numpy(x[i : i + batch_size]))
            labels = torch.from_numpy(y[i : i + batch_size])
            total += loss_fn(logits, labels).item() * len(labels)
            correct += int((logits.argmax(dim=1) == labels).sum())
    return total / len(x), correct / len(x)


def run_torch(config: TrainConfig, data: tuple, reps: int) -> dict:
    """The reference's training loop written in torch eager: same init, batches, Adam."""
    import torch

    x_train, y_train, x_test, y_test = data
    net = torch_net(SeedCNN(config.seed))
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    loss_fn, xt, yt = (
        torch.nn.CrossEntropyLoss(),
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
    )
    rng, history = shuffle_rng(config.seed), []
    for epoch in range(1, config.epochs + 1):
        start, losses = time.perf_counter(), []
        for idx in epoch_batches(len(x_train), config.batch_size, rng):
            i = torch.from_numpy(idx)
            optimizer.zero_grad()
            loss = loss_fn(net(xt[i]), yt[i])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - start
        test_loss, test_accuracy = torch_evaluate(net, x_test, y_test)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "seconds": seconds,
            }
        )
    eval_s = median_us(lambda: torch_evaluate(net, x_test, y_test), 3) / 1e6
    return {"history": history, "eval_seconds": eval_s, "layers": torch_layers(data, reps)}


def torch_layers(data: tuple, reps: int) -> list[dict]:
    """torch's forward and autograd backward of each layer on the same batch."""
    import torch

    net, loss_fn = torch_net(SeedCNN(0)), torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(data[0][:32]), torch.from_numpy(data[1][:32])
    acts, h = [x], x
    for m in net:
        h = m(h)
        h.retain_grad()
        acts.append(h)
    loss_fn(h, y).backward()
    rows = []
    for i, (name, m) in enumerate(zip(LAYER_NAMES, net, strict=True)):
        inp = acts[i].detach().requires_grad_(i > 0)  # as in training: no image gradient
        fwd = median_us(lambda m=m, inp=inp: m(inp), reps)
        out, dy = m(inp), acts[i + 1].grad
        wrt = ([inp] if i > 0 else []) + list(m.parameters())
        bwd = median_us(
            lambda out=out, wrt=wrt, dy=dy: torch.autograd.grad(out, wrt, dy, retain_graph=True),
            reps,
        )
        rows.append({"layer": name, "forward_us": fwd, "backward_us": bwd})
    logits = acts[-1].detach().requires_grad_()
    fwd = median_us(lambda: loss_fn(logits, y), reps)
    loss = loss_fn(logits, y)
    bwd = median_us(lambda: torch.autograd.grad(loss, [logits], retain_graph=True), reps)
    rows.append({"layer": "CrossEntropy", "forward_us": fwd, "backward_us": bwd})
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = median_us(optimizer.step, reps)
    rows.append({"layer": "Adam step", "forward_us": 0.0, "backward_us": step})
    return rows


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


COLORS = {"reference": "#1f77b4", "torch": "#ee4c2c"}


def plot(summary: dict, path: Path) -> None:
    """Left: seconds per epoch and per evaluation; right: one batch, layer by layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1, 1.7]})
    n_test = summary["config"]["test_size"]
    x, width = np.arange(2), 0.38
    for k, impl in enumerate(IMPLEMENTATIONS):
        s, shift = summary[impl], (k - 0.5) * width
        bars = left.bar(
            x + shift,
            [s["train_seconds_per_epoch"], s["eval_seconds"]],
            width,
            color=COLORS[impl],
            label=impl,
        )
        left.bar_label(bars, fmt="%.2f s")
        runs = s["train_seconds_per_epoch_by_run"]
        dots = [x[0] + shift + width / 3] * len(runs)  # beside the value label
        left.scatter(dots, runs, color="black", s=12, zorder=3)
    left.set_xticks(
        x, ["training pass, per epoch\n(dots: each run)", f"evaluation of {n_test} test images"]
    )
    left.set_ylabel("seconds (wall clock, median over runs)")
    left.set_ylim(bottom=0)
    left.legend()
    left.set_title(
        f"torch / reference = {summary['ratio_torch_over_reference']:.2f}x, "
        f"{summary['threads']} thread(s) allowed each\n(the reference trains with 1 BLAS thread)"
    )
    plot_layers(right, summary)
    fig.suptitle(
        f"Seed CNN on MNIST, {summary['config']['train_size']} images x "
        f"{summary['config']['epochs']} epochs, batch {summary['config']['batch_size']}, "
        f"{summary['repeats']} alternating run(s) each"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_layers(ax, summary: dict) -> None:
    """Horizontal bars per layer: forward (solid) then backward (hatched), both libraries."""
    names = [row["layer"] for row in summary["reference"]["layers"]]
    y, height = np.arange(len(names)), 0.38
    for k, impl in enumerate(IMPLEMENTATIONS):
        rows, at = summary[impl]["layers"], y + (k - 0.5) * height
        fwd = [r["forward_us"] for r in rows]
        bwd = [r["backward_us"] for r in rows]
        ax.barh(at, fwd, height, color=COLORS[impl], label=f"{impl} forward")
        ax.barh(
            at,
            bwd,
            height,
            left=fwd,
            color=COLORS[impl],
            alpha=0.4,
            hatch="//",
            label=f"{impl} backward (Adam: the update)",
        )
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel(
        "microseconds for one batch of 32 (median); the reference runs MaxPool2d before "
        "ReLU,\nso its first ReLU row is ReLU on the pooled values (4x fewer)"
    )
    ref, tor = summary["reference"]["step_us"], summary["torch"]["step_us"]
    ax.set_title(
        f"One batch, layer by layer: step {ref:.0f} us (reference) vs {tor:.0f} us "
        f"(torch) = {tor / ref:.2f}x"
    )
    # Over the short rows between fc1 and Adam, clear of both of their bars.
    ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.3))


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
