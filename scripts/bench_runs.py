"""What one benchmark worker process measures, for the reference and for torch eager.

Each run trains the seed's network (reference.training.train, or the same loop
written in torch) and then times the test-set evaluation and each layer's forward
and backward on one batch. scripts/bench.py runs each in a fresh process.
"""

import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from reference import SeedCNN, TrainConfig, evaluate, train
from reference.loss import SoftmaxCrossEntropy
from reference.optim import Adam
from reference.training import epoch_batches, epoch_record, shuffle_rng

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
        history.append(epoch_record(epoch, losses, test_loss, test_accuracy, seconds))
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
