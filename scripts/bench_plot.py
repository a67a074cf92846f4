"""The benchmark figure: seconds per epoch and per evaluation, and one batch layer by layer."""

from pathlib import Path

import numpy as np
from bench_runs import IMPLEMENTATIONS

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
