"""BatchNorm2d: torch's nn.BatchNorm2d in both modes and both dtype tiers.

Training mode: y, dx, dweight and dbias against torch on hypothesis shapes, and by
finite differences (dx must follow the batch mean's and variance's dependence on x).
The running statistics are compared after each of 10 forwards, then eval-mode outputs
with them; eval mode also on running statistics handed in, its backward (the statistics
are constants there) in a check of its own. eps gets a check where the
variance is near it (where eps goes matters there), and a batch of one gets two: torch
defines N = 1 when a channel still holds several values (H * W > 1), and raises
ValueError where it holds one value, which the adapter must do too (any exception).

The helpers here serve test_batchnorm1d.py as well (the same checks on (N, C) inputs):
a failure names the known variant it fits (the cs231n/Keras momentum form, a biased or
zero-started running variance, eps outside the square root, constant statistics in
backward) from the family in conventions/variants.py.
"""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ..contract import CheckFailure
from ..conventions.variants import describe_member, fitting_members
from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES, seeds
from ..tolerances import compare, float32_sum_tol, to_torch

LAYER = "BatchNorm2d"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
TORCH_ERROR = "ValueError('Expected more than 1 value per channel when training')"


@dataclass(frozen=True)
class Kind:
    """Which BatchNorm: the adapter factory, the report's layer, torch's module."""

    factory: str
    layer: str
    module: type


BN2D = Kind("batchnorm2d", "BatchNorm2d", torch.nn.BatchNorm2d)
BN1D = Kind("batchnorm1d", "BatchNorm1d", torch.nn.BatchNorm1d)


@dataclass
class Setup:
    """The factory's arguments: parameters (C,), running statistics (C,), eps, momentum."""

    weight: np.ndarray
    bias: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float = 1e-5
    momentum: float = 0.1


def setup(rng, C: int, dtype, *, handed: bool = False, eps=1e-5, momentum=0.1) -> Setup:
    """Random weight and bias; running statistics at torch's defaults, or random ones."""
    w = rng.uniform(0.5, 2.0, C) * rng.choice([-1.0, 1.0], C)
    b = rng.standard_normal(C)
    rm = rng.uniform(-2, 2, C) if handed else np.zeros(C)
    rv = rng.uniform(0.5, 3, C) if handed else np.ones(C)
    return Setup(*(a.astype(dtype) for a in (w, b, rm, rv)), eps, momentum)


def batch(rng, shape: tuple, dtype, spread=(0.5, 3.0), offset=3.0) -> np.ndarray:
    """Per channel: N(0, 1) scaled by a spread and shifted by an offset of its own."""
    C = shape[1]
    per = (1, C) + (1,) * (len(shape) - 2)
    scale = rng.uniform(*spread, C).reshape(per)
    shift = rng.uniform(-offset, offset, C).reshape(per)
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


def build(impl, kind: Kind, s: Setup):
    f = getattr(impl, kind.factory)
    return f(s.weight, s.bias, s.running_mean, s.running_var, s.eps, s.momentum)


def torch_module(kind: Kind, s: Setup):
    dtype = torch.float64 if s.weight.dtype == np.float64 else torch.float32
    m = kind.module(len(s.weight), eps=s.eps, momentum=s.momentum, dtype=dtype)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(m, name).copy_(to_torch(getattr(s, name)))
    return m


def torch_step(module, x: np.ndarray, dy: np.ndarray) -> dict:
    """torch's y, dx, dweight, dbias (arrays) for one forward/backward of `module`."""
    module.weight.grad = module.bias.grad = None
    xt = to_torch(x, requires_grad=True)
    yt = module(xt)
    (yt * to_torch(dy)).sum().backward()
    out = {"y": yt, "dx": xt.grad, "dweight": module.weight.grad, "dbias": module.bias.grad}
    return {k: v.detach().numpy().copy() for k, v in out.items()}


def our_step(layer, x: np.ndarray, dy: np.ndarray) -> dict:
    y = layer.forward(x)
    dx = layer.backward_dx(dy)
    g = layer.grads
    return {"y": y, "dx": dx, "dweight": g["weight"], "dbias": g["bias"]}


def _axes(x: np.ndarray) -> tuple:
    return tuple(i for i in range(x.ndim) if i != 1)


def _channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def variants(x: np.ndarray, dy: np.ndarray, s: Setup) -> dict[str, dict]:
    """What known training-mode mistakes give for y and dx, in float64, by name."""
    x, dy = x.astype(np.float64), dy.astype(np.float64)
    n = x.size // x.shape[1]
    mean, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
    nd = x.ndim
    w, b = (_channel(a.astype(np.float64), nd) for a in (s.weight, s.bias))
    stds = {
        "eps added to the standard deviation, sqrt(var) + eps; torch adds it to the "
        "variance, inside the square root": np.sqrt(var) + s.eps,
        "eps left out, 1 / sqrt(var); torch uses 1 / sqrt(var + eps)": np.sqrt(var),
        "the batch normalised with the unbiased variance (/ (n - 1)); torch normalises with "
        "the biased one (/ n) and keeps the unbiased one for the running variance": np.sqrt(
            var * n / (n - 1) + s.eps
        ),
    }
    out = {
        name: {"y": (x - _channel(mean, nd)) / _channel(std, nd) * w + b}
        for name, std in stds.items()
    }
    constant = dy * w / _channel(np.sqrt(var + s.eps), nd)
    out[
        "dx treats the batch mean and variance as constants (dy * weight / sqrt(var + eps), "
        "eval mode's gradient); in training mode they depend on x: subtract the channel "
        "means of g = dy * weight and of g * xhat * xhat first"
    ] = {"dx": constant}
    return out


def named(kind: Kind, quantity: str, ours: np.ndarray, found: dict) -> str | None:
    """The known variant whose `quantity` the implementation's output matches."""
    for name, outs in found.items():
        want = outs.get(quantity)
        if want is not None and np.allclose(ours, want, rtol=1e-4, atol=1e-6):
            return f"{kind.layer} {quantity}: {name}"
    return None


def compare_step(kind: Kind, ours: dict, theirs: dict, where: str, x, dy, s: Setup) -> None:
    """y, dx, dweight, dbias against torch's; a known mistake is named in the message."""
    found = variants(x, dy, s) if where != " in eval mode" else {}
    for q in ("y", "dx"):
        try:
            compare(kind.layer, f"{q}{where}", ours[q], theirs[q])
        except CheckFailure as err:
            said = named(kind, q, ours[q].astype(np.float64), found)
            if said is None:
                raise
            raise CheckFailure(f"{said}. [{err}]") from None
    # dweight and dbias sum over every value of a channel: float32 gets the tolerance of
    # a sum of that many terms (see tolerances.float32_sum_tol).
    nd, g = dy.ndim, np.abs(dy.astype(np.float64))
    y = theirs["y"].astype(np.float64)
    xhat = (y - _channel(s.bias, nd)) / _channel(s.weight, nd)  # from torch's y
    terms = {"dweight": g * np.abs(xhat), "dbias": g}
    for q in ("dweight", "dbias"):
        tol = None
        if ours[q].dtype == np.float32:
            tol = float32_sum_tol(float(terms[q].sum(axis=_axes(dy)).max()))
        compare(kind.layer, f"{q}{where}", ours[q], theirs[q], tol=tol)


def check_training(impl, kind: Kind, x: np.ndarray, s: Setup, rng, where: str = "") -> None:
    """One training-mode forward and backward against torch's."""
    dy = rng.standard_normal(x.shape).astype(x.dtype)
    ours = our_step(build(impl, kind, s), x, dy)
    theirs = torch_step(torch_module(kind, s), x, dy)
    compare_step(kind, ours, theirs, where, x, dy, s)


def check_running(impl, kind: Kind, s: Setup, shape: tuple, rng, forwards: int = 10) -> None:
    """Running statistics after each training forward, then eval mode, against torch."""
    layer, module = build(impl, kind, s), torch_module(kind, s)
    dtype = s.weight.dtype
    batches, seen = [], []
    for t in range(forwards):
        x = batch(rng, shape, dtype)
        layer.forward(x)
        module(to_torch(x))
        batches.append(x)
        seen.append((layer.running_mean, layer.running_var))
        for name, ours in zip(("running_mean", "running_var"), seen[-1], strict=True):
            try:
                compare(kind.layer, f"{name} after forward {t + 1}", ours, getattr(module, name))
            except CheckFailure as err:
                raise CheckFailure(f"{err}{fitted(seen, batches, s)}") from None
    layer.eval()
    module.eval()
    x = batch(rng, shape, dtype)
    where = f"y in eval mode after {forwards} forwards"
    compare(kind.layer, where, layer.forward(x), module(to_torch(x)))


def fitted(seen: list, batches: list, s: Setup) -> str:
    """What the running statistics seen fit, among the known updates, for a message."""
    rtol = 1e-9 if s.weight.dtype == np.float64 else 1e-4
    args = (batches, s.running_mean, s.running_var, s.momentum, slice(0, 2), rtol)
    keys = fitting_members(seen, *args)
    if not keys:
        return ""
    return f"; they fit (momentum {s.momentum} handed in): {describe_member(keys[0])}"


def check_eval(impl, kind: Kind, s: Setup, x: np.ndarray) -> None:
    """eval() straight away: y with the handed-in running statistics, which stay put."""
    layer, module = build(impl, kind, s), torch_module(kind, s)
    layer.eval()
    module.eval()
    y = layer.forward(x)
    try:
        compare(kind.layer, "y in eval mode", y, module(to_torch(x)))
    except CheckFailure as err:
        if x.size == x.shape[1]:  # one value per channel: no batch statistics to compare
            raise
        train = torch_module(kind, s)(to_torch(x)).detach().numpy()
        if np.allclose(y, train, rtol=1e-4, atol=1e-6):
            raise CheckFailure(
                f"{kind.layer} y in eval mode is normalised with the batch's own statistics; "
                f"after eval() torch normalises with the running statistics. [{err}]"
            ) from None
        raise
    for name in ("running_mean", "running_var"):
        compare(kind.layer, f"{name} after an eval forward", getattr(layer, name), getattr(s, name))


def check_eval_backward(impl, kind: Kind, s: Setup, x: np.ndarray, rng) -> None:
    """dx, dweight, dbias in eval mode: the running statistics are constants there."""
    dy = rng.standard_normal(x.shape).astype(x.dtype)
    layer, module = build(impl, kind, s), torch_module(kind, s)
    layer.eval()
    module.eval()
    compare_step(kind, our_step(layer, x, dy), torch_step(module, x, dy), " in eval mode", x, dy, s)


def expect_refusal(impl, kind: Kind, x: np.ndarray) -> None:
    """Training forward on one value per channel: torch raises, so must the adapter."""
    C = x.shape[1]
    s = setup(np.random.default_rng(0), C, x.dtype)
    layer = build(impl, kind, s)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch_module(kind, s)(to_torch(x))
    try:
        y = layer.forward(x)
    except CheckFailure as err:
        if f"{layer.call}.forward raised" in str(err):
            return  # refused, as torch does
        raise
    raise CheckFailure(
        f"{kind.layer} forward in training mode on {x.shape}, one value per channel, "
        f"returned values (y = {np.array2string(y.ravel()[:4], precision=4)}...); torch raises "
        f"{TORCH_ERROR}: one value has no variance, and the unbiased running variance would "
        "divide by n - 1 = 0. Raise an error there (any exception)."
    )


def check_finite_differences(impl, kind: Kind, x: np.ndarray, s: Setup, rng) -> None:
    """dx, dweight, dbias in training mode against central differences (float64)."""
    dy = rng.standard_normal(x.shape)
    ours = our_step(build(impl, kind, s), x, dy)

    def with_(**changed):
        return lambda a: build(impl, kind, Setup(**{**vars(s), **changed})).forward(a)

    check_vjp(with_(), x, dy, ours["dx"], layer=kind.layer, quantity="dx")

    def of_weight(w):
        return build(impl, kind, Setup(**{**vars(s), "weight": w})).forward(x)

    def of_bias(b):
        return build(impl, kind, Setup(**{**vars(s), "bias": b})).forward(x)

    check_vjp(of_weight, s.weight, dy, ours["dweight"], layer=kind.layer, quantity="dweight")
    check_vjp(of_bias, s.bias, dy, ours["dbias"], layer=kind.layer, quantity="dbias")


# --- BatchNorm2d --------------------------------------------------------------------
@st.composite
def nchw(draw) -> tuple:
    """(N, C, H, W) with at least 2 values per channel (N * H * W > 1)."""
    N, C, H = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    W = draw(st.integers(2 if N * H == 1 else 1, 6))
    return (N, C, H, W)


@check("y, dx, dweight, dbias in training mode")
@DTYPE
def test_batchnorm2d_matches_torch_on_a_conv_output(impl, dtype):
    rng = np.random.default_rng(0)
    x = batch(rng, (4, 8, 26, 26), dtype)  # the seed's conv output
    check_training(impl, BN2D, x, setup(rng, 8, dtype), rng)


@check("y, dx, dweight, dbias in training mode")
@DTYPE
@given(shape=nchw(), eps=st.sampled_from([1e-5, 1e-3, 0.1]), seed=seeds)
def test_batchnorm2d_matches_torch_in_training_mode(impl, shape, eps, dtype, seed):
    rng = np.random.default_rng(seed)
    x = batch(rng, shape, dtype)
    check_training(impl, BN2D, x, setup(rng, shape[1], dtype, eps=eps), rng)


@check("dx, dweight, dbias (finite differences)")
@given(shape=nchw(), seed=seeds)
@settings(max_examples=10)  # up to 2 * 96 forwards per example
def test_batchnorm2d_gradients_match_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x = batch(rng, shape, np.float64)
    check_finite_differences(impl, BN2D, x, setup(rng, shape[1], np.float64), rng)


RUNNING = {
    "torch's defaults, momentum 0.1": {},
    "handed-in statistics, momentum 0.3, eps 1e-3": {"handed": True, "momentum": 0.3, "eps": 1e-3},
}


@check("running statistics over 10 forwards, then y in eval mode")
@DTYPE
@pytest.mark.parametrize("case", list(RUNNING))
def test_batchnorm2d_running_statistics_match_torch_then_eval_mode(impl, case, dtype):
    rng = np.random.default_rng(1)
    s = setup(rng, 3, dtype, **RUNNING[case])
    check_running(impl, BN2D, s, (4, 3, 5, 5), rng)


@check("y in eval mode")
@DTYPE
def test_batchnorm2d_eval_mode_normalises_with_the_running_statistics(impl, dtype):
    rng = np.random.default_rng(2)
    x = batch(rng, (3, 4, 5, 6), dtype)
    check_eval(impl, BN2D, setup(rng, 4, dtype, handed=True), x)


@check("dx, dweight, dbias in eval mode")
@DTYPE
def test_batchnorm2d_eval_mode_backward_treats_the_statistics_as_constants(impl, dtype):
    rng = np.random.default_rng(6)
    x = batch(rng, (3, 4, 5, 6), dtype)
    check_eval_backward(impl, BN2D, setup(rng, 4, dtype, handed=True), x, rng)


@check("y, dx with a variance near eps")
@DTYPE
def test_batchnorm2d_eps_goes_inside_the_square_root(impl, dtype):
    # Channel variances ~1e-4, 1e-5 and 1e-6 against eps = 1e-5: sqrt(var + eps) and
    # sqrt(var) + eps differ by a factor up to ~3 here.
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 3, 6, 6)) * np.array([1e-2, 3e-3, 1e-3])[:, None, None]).astype(
        dtype
    )
    check_training(impl, BN2D, x, setup(rng, 3, dtype), rng, where=" (variance near eps)")


@check("y, dx at a batch of one")
@DTYPE
def test_batchnorm2d_batch_of_one_matches_torch(impl, dtype):
    # N = 1 is defined in torch when each channel still holds H * W > 1 values.
    rng = np.random.default_rng(4)
    x = batch(rng, (1, 3, 4, 5), dtype)
    check_training(impl, BN2D, x, setup(rng, 3, dtype), rng, where=" (batch of one)")


@check("refusal of one value per channel")
def test_batchnorm2d_one_value_per_channel_raises_like_torch(impl):
    expect_refusal(impl, BN2D, np.random.default_rng(5).standard_normal((1, 3, 1, 1)))
