"""The three figures of a training run, each built from plain arrays and returned unsaved.

Figures are `matplotlib.figure.Figure` objects, never pyplot's: nothing opens a window
or depends on a display, and `savefig` renders them with the Agg backend.
"""

import math
from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

CORRECT, WRONG = "#1a7f37", "#cf222e"  # green and red, dark enough to read as text
SAMPLE_SEED = 0  # the random test images shown; fixed so runs show the same ones
TARGET_ACCURACY = 0.95  # what `tox -e e2e` requires of the seed's run


def sample_indices(n_images: int, count: int = 32, seed: int = SAMPLE_SEED) -> np.ndarray:
    """`count` distinct indices in [0, n_images), drawn at random (not chosen) from `seed`."""
    return np.random.default_rng(seed).choice(n_images, size=min(count, n_images), replace=False)


def training_curves(history: list[dict], title: str) -> Figure:
    """Loss (train and test) and test accuracy against the epoch, from train()'s history."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (epoch mean)")
    loss_ax.plot(epochs, [h["test_loss"] for h in history], "s-", label="test (after epoch)")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss (y axis from 0)")
    loss_ax.set_ylim(0, None)  # a loss is >= 0: starting at 0 shows its true scale
    loss_ax.legend()

    acc = 100 * np.array([h["test_accuracy"] for h in history])
    # Zoom on the top of the axis only as far as the data needs, and say so in the title.
    low = max(0, 5 * math.floor((acc.min() - 1) / 5))
    acc_ax.plot(epochs, acc, "o-", color="C2", label="test accuracy")
    acc_ax.axhline(100 * TARGET_ACCURACY, color="grey", ls="--", lw=1, label="95%: e2e threshold")
    acc_ax.annotate(
        f"{acc[-1]:.2f}%",
        (epochs[-1], acc[-1]),
        textcoords="offset points",
        xytext=(0, 8),  # above the point, clear of the line and the 95% rule
        ha="center",
    )
    acc_ax.set_ylim(low, 100)
    zoom = f"zoomed: y axis {low}% to 100%" if low > 0 else "y axis 0% to 100%"
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"Test accuracy ({zoom})")
    acc_ax.legend(loc="lower right")
    for ax in (loss_ax, acc_ax):
        ax.set_xticks(epochs)
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)  # room for the end labels
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def learned_filters(initial: np.ndarray, trained: np.ndarray, epochs: int) -> Figure:
    """The conv filters (O, 1, k, k) before and after training, one column per filter.

    Each column (one filter, before and after) shares a colour scale symmetric about 0,
    shown by the colorbar under it, so the two can be compared cell by cell. The value
    of every weight is written in its cell.
    """
    O = initial.shape[0]
    # A fixed grid: constrained layout would double the time to render 160 artists.
    fig = Figure(figsize=(1.65 * O, 4.6))
    grid = fig.add_gridspec(
        3, O, height_ratios=[1, 1, 0.08], left=0.03, right=0.99, top=0.86, bottom=0.1,
        wspace=0.12, hspace=0.18,
    )  # fmt: skip
    for o in range(O):
        vmax = float(max(np.abs(initial[o]).max(), np.abs(trained[o]).max()))
        for row, (w, name) in enumerate(((initial, "initial"), (trained, f"after {epochs} ep."))):
            ax = fig.add_subplot(grid[row, o])
            image = ax.imshow(w[o, 0], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            _write_values(ax, w[o, 0], vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"filter {o}")
            if o == 0:
                ax.set_ylabel(name)
        bar = fig.colorbar(image, cax=fig.add_subplot(grid[2, o]), orientation="horizontal")
        bar.set_ticks([-vmax, 0, vmax], labels=["", "0", ""])
        bar.ax.tick_params(labelsize=8)
        bar.set_label(f"colour range \u00b1{vmax:.2f}", fontsize=8)
    fig.suptitle(
        "Conv2d(1->8, 3x3) weights: initial (top) vs trained (bottom); "
        "colour scale symmetric about 0, shared within each column"
    )
    return fig


def _write_values(ax, w: np.ndarray, vmax: float) -> None:
    for (i, j), value in np.ndenumerate(w):
        dark = abs(value) > 0.6 * vmax  # white text on the saturated cells
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                color="white" if dark else "black")  # fmt: skip


def sample_predictions(
    images: np.ndarray,
    labels: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    count: int = 32,
    seed: int = SAMPLE_SEED,
    accuracy: float | None = None,
) -> Figure:
    """`count` test images (of images (N, 1, 28, 28)) drawn at random from `seed`, each
    titled with its true label and predict()'s label: green if correct, red (and framed
    in red) if wrong. `accuracy`, the model's accuracy on all the images, goes in the title.
    """
    indices = sample_indices(len(images), count, seed)
    predicted = predict(images[indices])
    cols = 8
    rows = math.ceil(len(indices) / cols)
    height = 1.7 * rows + 0.6
    fig = Figure(figsize=(1.45 * cols, height))  # a fixed grid renders faster than constrained
    margin = 0.45 / height  # inches, as a fraction of the height
    grid = {"left": 0.01, "right": 0.99, "top": 1 - 2 * margin, "bottom": margin, "hspace": 0.45}
    axes = np.atleast_1d(fig.subplots(rows, cols, gridspec_kw=grid)).reshape(-1)
    for ax in axes[len(indices) :]:
        ax.set_axis_off()
    for ax, i, pred in zip(axes, indices, predicted, strict=False):
        colour = CORRECT if labels[i] == pred else WRONG
        ax.imshow(images[i, 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {labels[i]}, pred {pred}", color=colour, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(color=colour, linewidth=1 if colour == CORRECT else 3)
        ax.set_xlabel(f"test #{i}", fontsize=7)
    wrong = int((labels[indices] != predicted).sum())
    overall = "" if accuracy is None else f"\nmodel accuracy on all {len(images):,}: {accuracy:.2%}"
    fig.suptitle(
        f"{len(indices)} test images drawn at random (numpy default_rng({seed})), not picked: "
        f"{len(indices) - wrong} predicted correctly (green), {wrong} wrong (red){overall}"
    )
    return fig
