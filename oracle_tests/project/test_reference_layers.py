"""The reference's own layer API, beyond the adapter contract: the functional cores'
aliasing, `input_grad=False`, inputs of another dtype than the layer's, the pooling
winner mask, and Adam's torch-convention moments. The conformance checks
(oracle_tests/checks/) cover the numerics through reference/adapter.py.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from reference import Adam, Conv2d, Linear, MaxPool2d
from reference.layers.conv import conv2d_backward, conv2d_forward

from ..checks.test_conv2d import random_conv
from ..strategies import (
    LAYOUTS,
    TIE_FILLS,
    ConvCase,
    conv_cases,
    dtypes,
    filled,
    pool_cases,
    seeds,
    with_layout,
)
from ..tolerances import compare, to_torch


@given(case=conv_cases(), layout=st.sampled_from(LAYOUTS), dtype=dtypes, seed=seeds)
def test_conv2d_core_outputs_never_alias_or_write_through_to_the_input(case, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b = random_conv(case, dtype, rng)
    xv = with_layout(x, layout, rng)
    y, cache = conv2d_forward(xv, w, b, case.s, case.p)
    dy = rng.standard_normal(y.shape).astype(dtype)
    got = (y, *conv2d_backward(dy, cache))
    for out in got:
        assert not any(np.shares_memory(out, a) for a in (xv, w, b, dy)), "output aliases an input"
        out[...] = 7  # a view that writes back would change the inputs now
    assert np.array_equal(xv, x), f"Conv2d output writes back into its {layout} input"


def test_conv2d_1x1_fortran_input_gives_identical_weight_gradient():
    # For a 1x1 kernel with stride 1 and no padding the im2col "copy" can silently be a
    # view of x (numpy's reshape copies only when it must): the layouts of x then reach
    # the GEMM (last-bit differences) and the cache aliases the caller's input.
    rng = np.random.default_rng(0)
    x, w, b = random_conv(ConvCase(N=2, C_in=3, C_out=1, H=1, W=1, k=1, s=1, p=0), np.float64, rng)
    dy = rng.standard_normal((2, 1, 1, 1))
    dw = conv2d_backward(dy, conv2d_forward(x, w, b)[1])[1]
    dw_fortran = conv2d_backward(dy, conv2d_forward(np.asfortranarray(x), w, b)[1])[1]
    assert np.array_equal(dw_fortran, dw)


def test_conv2d_backward_is_unaffected_by_later_writes_to_the_input():
    # torch refuses (a version-counter error) rather than use a modified input.
    rng = np.random.default_rng(0)
    x, w, b = random_conv(ConvCase(N=2, C_in=3, C_out=5, H=4, W=4, k=1, s=1, p=0), np.float64, rng)
    y, cache = conv2d_forward(x, w, b)
    dy = rng.standard_normal(y.shape)
    dw = conv2d_backward(dy, cache)[1].copy()
    x[...] = 0  # e.g. a loader refilling its batch buffer before backward
    assert np.array_equal(conv2d_backward(dy, cache)[1], dw)


@pytest.mark.parametrize(
    "make", [lambda d: Conv2d(2, 3, 3, dtype=d), lambda d: Linear(7, 3, dtype=d)]
)
def test_input_grad_false_skips_dx_and_keeps_the_same_parameter_gradients(make):
    rng = np.random.default_rng(1)
    layer = make(np.float64)
    x = rng.standard_normal((3, 2, 6, 6) if isinstance(layer, Conv2d) else (3, 7))
    dy = rng.standard_normal(layer.forward(x).shape)
    layer.backward(dy)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert layer.backward(dy, input_grad=False) is None
    for k, v in layer.grads.items():
        np.testing.assert_array_equal(v, grads[k], err_msg=f"{k} with input_grad=False")


@pytest.mark.parametrize(
    "make", [lambda d: Conv2d(1, 2, 3, dtype=d), lambda d: Linear(6, 3, dtype=d)]
)
@pytest.mark.parametrize(
    ("x_dtype", "layer_dtype"), [(np.float64, np.float32), (np.float32, np.float64)]
)
def test_layers_compute_in_the_input_dtype(make, x_dtype, layer_dtype):
    layer = make(layer_dtype)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 6, 6) if isinstance(layer, Conv2d) else (2, 6)).astype(x_dtype)
    y = layer.forward(x)
    dx = layer.backward(rng.standard_normal(y.shape).astype(x_dtype))
    assert (y.dtype, dx.dtype) == (x.dtype, x.dtype)


def torch_mask(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """The boolean mask of torch's return_indices winners (flat indices per H*W plane)."""
    N, C, H, W = x.shape
    _, indices = F.max_pool2d(to_torch(x), k, s, return_indices=True)
    mask = torch.zeros(N, C, H * W, dtype=torch.bool)
    mask.scatter_(2, indices.reshape(N, C, -1), True)
    return mask.reshape(x.shape).numpy()


@given(case=pool_cases(), fill=st.sampled_from(("normal", *TIE_FILLS)), dtype=dtypes, seed=seeds)
def test_maxpool2d_mask_marks_torchs_winners(case, fill, dtype, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    layer = MaxPool2d(case.k, case.s)
    layer.forward(x)
    compare(
        "MaxPool2d", "mask", layer.mask, torch_mask(x, case.k, case.s), tol={"rtol": 0, "atol": 0}
    )


@given(case=pool_cases(overlapping=False), fill=st.sampled_from(TIE_FILLS), seed=seeds)
def test_maxpool2d_mask_has_exactly_one_winner_per_window_the_first_max(case, fill, seed):
    rng = np.random.default_rng(seed)
    x = filled(fill, rng, (case.N, case.C, case.H, case.W), np.float64)
    layer = MaxPool2d(case.k, case.s)
    y = layer.forward(x)
    k, s = case.k, case.s
    mask_w = sliding_window_view(layer.mask, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    assert (mask_w.sum(axis=(-1, -2)) == 1).all(), "a window has no winner or several"
    assert layer.mask.sum() == y.size, "a position outside every window is marked"
    # Independently of torch: the winner is the first (row-major) position equal to y.
    flat_x = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].reshape(*y.shape, -1)
    first_max = (flat_x == y[..., None]).argmax(axis=-1)
    np.testing.assert_array_equal(mask_w.reshape(*y.shape, -1).argmax(axis=-1), first_max)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_defaults_and_moments_are_torchs(dtype):
    # Adam(params) with no arguments must be torch.optim.Adam(params): the adapter always
    # passes lr, betas and eps, so the defaults are checked here. Gradients near eps
    # make a default eps of 1e-7 (numpy-ml's, Keras') visible in the parameters.
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s).astype(dtype) for s in [(4, 3), (5,)]]
    tparams = [to_torch(p, requires_grad=True) for p in params]
    ours, theirs = Adam(params), torch.optim.Adam(tparams)
    for _ in range(20):
        grads = [(rng.standard_normal(p.shape) * 1e-8).astype(dtype) for p in params]
        ours.step(grads)
        for tp, g in zip(tparams, grads, strict=True):
            tp.grad = to_torch(g)
        theirs.step()
    for i, tp in enumerate(tparams):
        state = theirs.state[tp]
        compare("Adam", "param (defaults)", params[i], tp)
        compare("Adam", "exp_avg", ours.m[i], state["exp_avg"])
        compare("Adam", "exp_avg_sq", ours.v[i], state["exp_avg_sq"])
