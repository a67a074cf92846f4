"""Helpers for the specimens' truth files: load a specimen's adapter, and torch's answers.

Every truth file compares a specimen's piece, through its own adapter, with torch here,
so the expected findings are facts about the code, not copies of the suite's output.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def adapter(name: str):
    """The adapter module of specimen `name` (its folder goes first on sys.path)."""
    folder = HERE / name
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    key = f"realworld_{name}_adapter"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, folder / "adapter.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def rand(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def same(a, b, rtol=1e-6) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=rtol, equal_nan=True)


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def conv(x, w, b, stride, padding, dy):
    """torch's conv2d: y, dx, dw, db."""
    tx, tw = _t(x, True), _t(w, True)
    tb = None if b is None else _t(b, True)
    y = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    y.backward(_t(dy))
    db = None if tb is None else tb.grad.numpy()
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), db


def conv_out(x, w, stride=1, padding=0):
    return torch.nn.functional.conv2d(_t(x), _t(w), stride=stride, padding=padding).numpy()


def linear(x, w, b, dy):
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    y = torch.nn.functional.linear(tx, tw, tb)
    y.backward(_t(dy))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


def relu(x, dy):
    tx = _t(x, True)
    y = torch.relu(tx)
    y.backward(_t(dy))
    return y.detach().numpy(), tx.grad.numpy()


def pool(x, k, s, dy):
    tx = _t(x, True)
    y = torch.nn.functional.max_pool2d(tx, k, s)
    y.backward(_t(dy))
    return y.detach().numpy(), tx.grad.numpy()


def pool_out(x, k, s):
    return torch.nn.functional.max_pool2d(_t(x), k, s).numpy()


def cross_entropy(z, labels):
    tz = _t(z, True)
    loss = torch.nn.functional.cross_entropy(tz, torch.tensor(labels))
    loss.backward()
    return float(loss.detach()), tz.grad.numpy()


def adam(params, grads, lr=0.01, betas=(0.9, 0.999), eps=1e-8):
    """torch's Adam over the steps `grads` (a list of lists): the parameters after each."""
    ps = [torch.tensor(p.copy()) for p in params]
    opt = torch.optim.Adam(ps, lr=lr, betas=betas, eps=eps)
    out = []
    for gs in grads:
        for p, g in zip(ps, gs, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


def adam_ours(module, params, grads, lr=0.01, betas=(0.9, 0.999), eps=1e-8):
    """The specimen's Adam, through its adapter, over the same steps."""
    params = [p.copy() for p in params]
    opt = module.adam(params, lr, betas, eps)
    out = []
    for gs in grads:
        opt.step([g.copy() for g in gs])
        out.append([p.copy() for p in params])
    return out


def adam_case(steps=4, seed=3):
    params = [rand(3, 2, seed=seed), rand(4, seed=seed + 1)]
    grads = [[rand(3, 2, seed=seed + 10 + s), rand(4, seed=seed + 20 + s)] for s in range(steps)]
    return params, grads


def run_layer(layer, x, dy):
    """forward then backward of an adapter's layer: y, dx (and the layer for its grads)."""
    y = layer.forward(np.array(x))
    dx = layer.backward(np.array(dy))
    return y, dx


def run_loss(loss, z, labels):
    value = loss.forward(np.array(z), np.array(labels))
    return float(value), loss.backward()
