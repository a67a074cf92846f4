"""Helpers shared by the checks of the head pieces (Softmax, Sigmoid, Tanh, LeakyReLU and
the losses on probabilities): run a layer or a loss through the adapter and torch on the
same inputs and compare. Each check module keeps its own LAYER and its own checks."""

import numpy as np
import torch

from ..tolerances import compare, to_torch, torch_vjp


def torch_layer(fn, x: np.ndarray, dy: np.ndarray):
    """torch's y = fn(x) and dx for the upstream gradient dy."""
    xt = to_torch(x, requires_grad=True)
    yt = fn(xt)
    torch_vjp(yt, dy)
    return yt, xt.grad


def run_layer(layer, x: np.ndarray, dy: np.ndarray):
    """The adapter's y and dx (`layer` is a fresh contract Layer)."""
    return layer.forward(x), layer.backward_dx(dy)


def compare_layer(name: str, layer, fn, x: np.ndarray, dy: np.ndarray, where: str = ""):
    """The adapter's y and dx against torch's (quantities "y" + where, "dx" + where)."""
    y, dx = run_layer(layer, x, dy)
    yt, dxt = torch_layer(fn, x, dy)
    compare(name, f"y{where}", y, yt)
    compare(name, f"dx{where}", dx, dxt)
    return y, dx


def torch_loss(fn, pred: np.ndarray, target: np.ndarray):
    """torch's loss fn(pred, target) and its gradient with respect to pred."""
    pt = to_torch(pred, requires_grad=True)
    tt = torch.from_numpy(np.array(target))
    loss = fn(pt, tt)
    loss.backward()
    return loss, pt.grad


def run_loss(loss_fn, pred: np.ndarray, target: np.ndarray):
    """The adapter's loss and dpred (`loss_fn` is a fresh contract Loss)."""
    loss = loss_fn.forward(pred, target)
    return loss, loss_fn.backward()


def compare_loss(name: str, loss_fn, fn, pred, target, grad: str, where: str = ""):
    """The adapter's loss and gradient (named `grad`) against torch's."""
    loss, d = run_loss(loss_fn, pred, target)
    loss_t, d_t = torch_loss(fn, pred, target)
    # forward returns a Python float: in the float32 tier, compared as float32.
    compare(name, f"loss{where}", np.asarray(loss, dtype=pred.dtype), loss_t)
    compare(name, f"{grad}{where}", d, d_t)
    return loss, d
