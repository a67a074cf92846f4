"""BatchNorm1d: torch's nn.BatchNorm1d on (N, C) inputs, the checks of test_batchnorm.py
on features instead of channels (the helpers live there).

A batch of one: in training mode torch raises ValueError (one value per feature has no
variance), and the suite requires the adapter to raise too (any exception: a layer that
returns numbers there returns y = bias and an unbiased running variance divided by
n - 1 = 0). In eval mode a batch of one is defined, and is compared with torch.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ..plugin import check
from ..strategies import DTYPES, seeds
from .test_batchnorm import (
    BN1D,
    RUNNING,
    batch,
    check_eval,
    check_eval_backward,
    check_finite_differences,
    check_running,
    check_training,
    expect_refusal,
    setup,
)

LAYER = "BatchNorm1d"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
nc = st.tuples(st.integers(2, 16), st.integers(1, 6))  # (N, C), N > 1


@check("y, dx, dweight, dbias in training mode")
@DTYPE
def test_batchnorm1d_matches_torch_after_a_dense_layer(impl, dtype):
    rng = np.random.default_rng(0)
    x = batch(rng, (4, 128), dtype)  # the seed's fc1 output
    check_training(impl, BN1D, x, setup(rng, 128, dtype), rng)


@check("y, dx, dweight, dbias in training mode")
@DTYPE
@given(shape=nc, eps=st.sampled_from([1e-5, 1e-3, 0.1]), seed=seeds)
def test_batchnorm1d_matches_torch_in_training_mode(impl, shape, eps, dtype, seed):
    rng = np.random.default_rng(seed)
    x = batch(rng, shape, dtype)
    check_training(impl, BN1D, x, setup(rng, shape[1], dtype, eps=eps), rng)


@check("dx, dweight, dbias (finite differences)")
@given(shape=nc, seed=seeds)
@settings(max_examples=10)
def test_batchnorm1d_gradients_match_finite_differences(impl, shape, seed):
    rng = np.random.default_rng(seed)
    x = batch(rng, shape, np.float64)
    check_finite_differences(impl, BN1D, x, setup(rng, shape[1], np.float64), rng)


@check("running statistics over 10 forwards, then y in eval mode")
@DTYPE
@pytest.mark.parametrize("case", list(RUNNING))
def test_batchnorm1d_running_statistics_match_torch_then_eval_mode(impl, case, dtype):
    rng = np.random.default_rng(1)
    s = setup(rng, 5, dtype, **RUNNING[case])
    check_running(impl, BN1D, s, (6, 5), rng)


@check("y in eval mode")
@DTYPE
def test_batchnorm1d_eval_mode_normalises_with_the_running_statistics(impl, dtype):
    rng = np.random.default_rng(2)
    x = batch(rng, (7, 4), dtype)
    check_eval(impl, BN1D, setup(rng, 4, dtype, handed=True), x)


@check("dx, dweight, dbias in eval mode")
@DTYPE
def test_batchnorm1d_eval_mode_backward_treats_the_statistics_as_constants(impl, dtype):
    rng = np.random.default_rng(6)
    x = batch(rng, (7, 4), dtype)
    check_eval_backward(impl, BN1D, setup(rng, 4, dtype, handed=True), x, rng)


@check("y, dx with a variance near eps")
@DTYPE
def test_batchnorm1d_eps_goes_inside_the_square_root(impl, dtype):
    # Feature variances ~1e-4, 1e-5 and 1e-6 against eps = 1e-5 (see test_batchnorm.py).
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((16, 3)) * np.array([1e-2, 3e-3, 1e-3])).astype(dtype)
    check_training(impl, BN1D, x, setup(rng, 3, dtype), rng, where=" (variance near eps)")


@check("y at a batch of one in eval mode")
@DTYPE
def test_batchnorm1d_batch_of_one_in_eval_mode_matches_torch(impl, dtype):
    rng = np.random.default_rng(4)
    check_eval(impl, BN1D, setup(rng, 5, dtype, handed=True), batch(rng, (1, 5), dtype))


@check("refusal of a batch of one in training mode")
def test_batchnorm1d_batch_of_one_in_training_mode_raises_like_torch(impl):
    expect_refusal(impl, BN1D, np.random.default_rng(5).standard_normal((1, 4)))
