"""The reference's own network, SeedCNN, against the same network built in torch.

The conformance checks (oracle_tests/checks/test_network.py) compose the network from
the adapter's layers in torch's order; SeedCNN runs its own order (MaxPool2d before
ReLU, for speed) and tiles its parameters in one buffer, so it is checked here too:
logits, loss and every gradient (dx included) in both dtype tiers, on real MNIST
batches and where pooling ties; the exactness of the reordering; the parameter list's
order and liveness; a 50-step Adam trajectory and train() itself next to torch's.
"""

from itertools import islice

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from reference import Adam, MaxPool2d, ReLU, SeedCNN, SoftmaxCrossEntropy, TrainConfig, train
from reference.training import epoch_batches, shuffle_rng

from ..checks.test_network import FLOAT32_TRAJECTORY_TOL, NAMES, TRAJECTORY_STEPS, pool_windows
from ..checks.test_network import torch_twin as network_twin
from ..strategies import FILLS, dtypes, filled, seeds
from ..tolerances import compare, to_torch

LAYER = "SeedCNN"
DTYPES = [np.float64, np.float32]
PARAM_NAMES = NAMES  # torch's names, in the order SeedCNN.parameters() must follow


def torch_twin(model: SeedCNN) -> nn.Sequential:
    """The seed's torch network, in the model's dtype, holding copies of its weights."""
    return network_twin(model.parameters())


def seed_batches(mnist, n: int) -> list[np.ndarray]:
    """The index arrays of the seed run's first n batches (batch size 32, seed 0)."""
    return list(islice(epoch_batches(len(mnist[0]), 32, shuffle_rng(0)), n))


def compare_with_torch(model: SeedCNN, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One forward and backward in both; compare logits, loss, dx and every gradient.

    Returns the dlogits that the model's backward was given."""
    net = torch_twin(model)
    loss_fn = SoftmaxCrossEntropy()
    logits = model.forward(x)
    loss = loss_fn.forward(logits, y)
    dlogits = loss_fn.backward()
    dx = model.backward(dlogits)
    xt = to_torch(x, requires_grad=True)
    logits_t = net(xt)
    loss_t = F.cross_entropy(logits_t, torch.from_numpy(y))
    loss_t.backward()
    compare(LAYER, "logits", logits, logits_t)
    compare(LAYER, "loss", np.asarray(loss, dtype=x.dtype), loss_t)
    compare(LAYER, "dx", dx, xt.grad)
    for name, g, tp in zip(PARAM_NAMES, model.gradients(), net.parameters(), strict=True):
        compare(LAYER, f"d{name}", g, tp.grad)
    return dlogits


def tied_window_fraction(model: SeedCNN, x: np.ndarray) -> float:
    """Fraction of the 2x2 pooling windows after Conv+ReLU whose maximum is positive and
    tied: where the gradient reaches the window and the tie rule decides its route."""
    r = model.layers[1].forward(model.layers[0].forward(x))  # (N, 8, 26, 26)
    top2 = np.sort(pool_windows(r), axis=-1)[..., -2:]  # (N, 8, 13, 13, 2)
    return float(((top2[..., 1] > 0) & (top2[..., 0] == top2[..., 1])).mean())


@pytest.mark.parametrize("dtype", DTYPES)
def test_seedcnn_matches_torch_on_mnist_batches(mnist, dtype):
    x_train, y_train, x_test, y_test = mnist
    model = SeedCNN(seed=0, dtype=dtype)
    first = seed_batches(mnist, 1)[0]
    compare_with_torch(model, x_train[first].astype(dtype), y_train[first])
    compare_with_torch(model, x_test[-5:].astype(dtype), y_test[-5:])  # an odd batch size


@pytest.mark.parametrize("dtype", DTYPES)
def test_seedcnn_matches_torch_where_pooling_windows_tie(mnist, dtype):
    # A positive conv bias turns the blank background into a plateau of equal values:
    # torch sends each tied window's gradient to its first maximum only.
    x_train, y_train = mnist[0], mnist[1]
    model = SeedCNN(seed=0, dtype=dtype)
    model.layers[0].params["bias"][:] = 0.1
    x, y = x_train[:32].astype(dtype), y_train[:32]
    assert tied_window_fraction(model, x) > 0.5
    compare_with_torch(model, x, y)


@given(fill=st.sampled_from((*FILLS, "zeros_and_nan")), dtype=dtypes, seed=seeds)
def test_pool_then_relu_is_torch_relu_then_pool_exactly(fill, dtype, seed):
    # SeedCNN runs MaxPool2d before ReLU for speed (model.run_order), on the claim that
    # the two commute exactly. Checked here against torch's own order, bit for bit:
    # tied windows, windows of negatives, exact zeros of both signs, and NaN.
    rng = np.random.default_rng(seed)
    shape = (3, 4, 6, 6)  # (N, C, H, W)
    if fill == "zeros_and_nan":
        x = rng.choice(np.array([0.0, -0.0, 1.0, -1.0, np.nan], dtype=dtype), size=shape)
    else:
        x = filled(fill, rng, shape, dtype)
    pool, relu = MaxPool2d(2), ReLU()
    y = relu.forward(pool.forward(x))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pool.backward(relu.backward(dy))
    xt = to_torch(x, requires_grad=True)
    yt = F.max_pool2d(F.relu(xt), 2)
    (yt * to_torch(dy)).sum().backward()
    np.testing.assert_array_equal(y, yt.detach().numpy())  # NaN where torch has NaN
    np.testing.assert_array_equal(dx, xt.grad.numpy())


def test_seedcnn_parameters_are_the_layers_live_arrays_in_torch_order():
    model = SeedCNN(seed=0, dtype=np.float64)
    net = torch_twin(model)  # asserts the shapes line up with nn.Sequential's order
    assert [n for n, _ in net.named_parameters()] == PARAM_NAMES
    conv, fc1, fc2 = model.layers[0], model.layers[4], model.layers[6]
    live = [layer.params[k] for layer in (conv, fc1, fc2) for k in ("weight", "bias")]
    assert all(p is q for p, q in zip(model.parameters(), live, strict=True))
    rng = np.random.default_rng(0)
    model.forward(rng.random((2, 1, 28, 28)))
    model.backward(rng.standard_normal((2, 10)))
    grads = [layer.grads[k] for layer in (conv, fc1, fc2) for k in ("weight", "bias")]
    assert all(g is h for g, h in zip(model.gradients(), grads, strict=True))
    assert [g.shape for g in model.gradients()] == [p.shape for p in model.parameters()]


def test_adam_over_seedcnn_parameters_trains_the_model(mnist):
    # Adam holds the very arrays the layers compute with: its in-place steps must
    # lower the loss of the batch they were taken on.
    x_train, y_train = mnist[0], mnist[1]
    x, y = x_train[:32], y_train[:32]
    model, loss_fn = SeedCNN(seed=0), SoftmaxCrossEntropy()
    optimizer = Adam(model.parameters())
    losses = []
    for _ in range(5):
        losses.append(loss_fn.forward(model.forward(x), y))
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step(model.gradients())
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.9 * losses[0], losses
    assert all(p is q for p, q in zip(optimizer.params, model.parameters(), strict=True))


def test_seedcnn_backward_overwrites_gradients_instead_of_adding(mnist):
    x_train, y_train = mnist[0], mnist[1]
    first, second = seed_batches(mnist, 2)
    model, loss_fn = SeedCNN(seed=0, dtype=np.float64), SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x_train[first].astype(np.float64)), y_train[first])
    model.backward(loss_fn.backward())
    # A second batch: its gradients alone, as torch's after zero_grad().
    dlogits = compare_with_torch(model, x_train[second].astype(np.float64), y_train[second])
    before = [g.copy() for g in model.gradients()]
    model.backward(dlogits)  # the same backward again: the same gradients
    for name, g, h in zip(PARAM_NAMES, model.gradients(), before, strict=True):
        np.testing.assert_array_equal(g, h, err_msg=f"{LAYER} d{name} after a second backward")
    assert model.backward(dlogits, input_grad=False) is None
    for name, g, h in zip(PARAM_NAMES, model.gradients(), before, strict=True):
        np.testing.assert_array_equal(g, h, err_msg=f"{LAYER} d{name} with input_grad=False")


def torch_adam_steps(net: nn.Sequential, batches):
    """torch's training loop over (x, y) batches: yields the loss of each Adam step."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(net(to_torch(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        yield loss.detach()


@pytest.mark.parametrize("dtype", DTYPES)
def test_seedcnn_adam_trajectory_matches_torch_at_every_step(mnist, dtype):
    # The seed's first 50 batches (batch size 32, lr 1e-3) from the same initial
    # weights: a gradient that is wrong but still descends would drift away here.
    x_train, y_train = mnist[0], mnist[1]
    tol = FLOAT32_TRAJECTORY_TOL if dtype is np.float32 else None
    model, loss_fn = SeedCNN(seed=0, dtype=dtype), SoftmaxCrossEntropy()
    net = torch_twin(model)
    optimizer = Adam(model.parameters(), lr=1e-3)
    batches = [
        (x_train[i].astype(dtype), y_train[i]) for i in seed_batches(mnist, TRAJECTORY_STEPS)
    ]
    for (x, y), loss_t in zip(batches, torch_adam_steps(net, batches), strict=True):
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward(), input_grad=False)
        optimizer.step(model.gradients())
        compare(f"{LAYER} + Adam", "loss (every step)", np.asarray(loss, dtype=dtype), loss_t)
        for name, p, tp in zip(PARAM_NAMES, model.parameters(), net.parameters(), strict=True):
            compare(f"{LAYER} + Adam", f"{name} (every step)", p, tp, tol=tol)


def test_train_runs_the_same_optimisation_as_torch(mnist):
    # reference.training.train itself, one epoch of 50 batches in float64, against
    # torch's loop over the seed's batch order: same final weights, same mean loss.
    x_train, y_train, x_test, y_test = mnist
    config = TrainConfig(epochs=1, train_size=32 * TRAJECTORY_STEPS, dtype="float64")
    model = SeedCNN(seed=0, dtype=np.float64)
    net = torch_twin(model)
    history = train(config, (x_train, y_train, x_test[:100], y_test[:100]), model)
    x64 = x_train[: config.train_size].astype(np.float64)
    batches = [(x64[i], y_train[i]) for i in epoch_batches(config.train_size, 32, shuffle_rng(0))]
    losses = [t.item() for t in torch_adam_steps(net, batches)]
    compare(
        f"{LAYER} train()",
        "mean epoch loss",
        np.float64(history[0]["train_loss"]),
        np.float64(np.mean(losses)),
    )
    for name, p, tp in zip(PARAM_NAMES, model.parameters(), net.parameters(), strict=True):
        compare(f"{LAYER} train()", f"{name} after one epoch", p, tp)
