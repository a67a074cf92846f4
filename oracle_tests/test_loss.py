"""SoftmaxCrossEntropy against torch's F.cross_entropy (reduction="mean") in both dtype
tiers, at logits up to +-1e4, and against finite differences.

The loss is a scalar, so its backward is the full (N, K) matrix d(mean loss)/d logits:
it is compared element by element with torch's logits.grad after loss.backward().
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import compare, to_torch
from finite_diff import check_vjp
from hypothesis import given
from hypothesis import strategies as st

from reference import SoftmaxCrossEntropy
from reference.loss import softmax_cross_entropy_backward, softmax_cross_entropy_forward

LAYER = "SoftmaxCrossEntropy"
DTYPES = [np.float64, np.float32]
# Logit scales: tiny (near-uniform softmax), ordinary, saturated, and +-1e4 where an
# exp() without the max subtracted overflows even in float64 (exp(710) = inf).
SCALES = [1e-3, 1.0, 30.0, 1e4]


def random_logits(rng: np.random.Generator, N: int, K: int, scale: float, ties: bool):
    """(N, K) logits of the given scale, clipped to +-1e4; `ties` quantises them so
    that rows hold repeated values, including repeated maxima."""
    z = scale * rng.standard_normal((N, K))
    if ties:
        z = np.round(z / scale) * scale  # a handful of distinct levels per row
    return np.clip(z, -1e4, 1e4)


def torch_cross_entropy(logits: np.ndarray, labels: np.ndarray):
    """torch's mean cross-entropy and its gradient with respect to the logits."""
    zt = to_torch(logits, requires_grad=True)
    loss = F.cross_entropy(zt, torch.from_numpy(labels), reduction="mean")
    loss.backward()
    return loss, zt.grad


def compare_with_torch(logits: np.ndarray, labels: np.ndarray) -> None:
    """Run the layer and torch on the same batch; compare the loss and every dlogit."""
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, labels)
    dlogits = loss_fn.backward()
    loss_t, dlogits_t = torch_cross_entropy(logits, labels)
    # forward returns a Python float; in the float32 tier it is a float32 value exactly.
    compare(LAYER, "loss", np.asarray(loss, dtype=logits.dtype), loss_t)
    compare(LAYER, "dlogits", dlogits, dlogits_t)


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    N=st.integers(1, 64),
    K=st.integers(2, 20),
    scale=st.sampled_from(SCALES),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_loss_and_dlogits_match_torch(N, K, scale, ties, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = random_logits(rng, N, K, scale, ties).astype(dtype)
    labels = rng.integers(0, K, N)
    compare_with_torch(logits, labels)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_finite_and_matches_torch_at_logits_of_1e4(dtype):
    # Rows: a confident right answer, a confident wrong one (loss 2e4), a tie of two
    # maxima at +1e4, all-equal logits at -1e4, and a mix. exp(1e4) overflows: a
    # softmax without the max subtracted gives inf/inf = NaN here.
    logits = np.array(
        [
            [1e4, -1e4, 0.0, 5.0],
            [-1e4, 1e4, 0.0, 5.0],
            [1e4, 1e4, -1e4, 0.0],
            [-1e4, -1e4, -1e4, -1e4],
            [9999.5, 1e4, -3.0, 1e4 - 20.0],
        ],
        dtype=dtype,
    )
    labels = np.array([0, 0, 1, 2, 3])
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, labels)
    dlogits = loss_fn.backward()
    assert np.isfinite(loss) and np.isfinite(dlogits).all()
    compare_with_torch(logits, labels)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_gradient_is_divided_by_the_batch_size(dtype):
    # Repeating a batch leaves the mean loss unchanged and halves every dlogit; a
    # gradient of the summed loss (no /N) would stay the same instead.
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 10)).astype(dtype)
    labels = rng.integers(0, 10, 6)
    loss, probs = softmax_cross_entropy_forward(logits, labels)
    twice = np.concatenate([logits, logits])  # (12, 10)
    loss2, probs2 = softmax_cross_entropy_forward(twice, np.concatenate([labels, labels]))
    dlogits = softmax_cross_entropy_backward(probs, labels)
    dlogits2 = softmax_cross_entropy_backward(probs2, np.concatenate([labels, labels]))
    np.testing.assert_allclose(loss2, loss, rtol=1e-6)
    np.testing.assert_allclose(dlogits2[:6], dlogits / 2, rtol=1e-6, atol=0)
    compare_with_torch(twice, np.concatenate([labels, labels]))


def loss_of_logits(labels: np.ndarray):
    """The mean loss as a function of the logits, for finite differences."""
    return lambda z: np.float64(softmax_cross_entropy_forward(z, labels)[0])


@given(
    N=st.integers(1, 12),
    K=st.integers(2, 20),
    scale=st.sampled_from([1e-3, 1.0, 10.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_dlogits_match_finite_differences(N, K, scale, seed):
    # N * K <= 240: finite_diff compares every entry against the full Jacobian. The
    # scale stays moderate: at |loss| ~ 1e4 the rounding of the loss itself (1e-12)
    # divided by the step (1e-6) would exceed FD_ATOL; torch covers that range.
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((N, K))
    labels = rng.integers(0, K, N)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    c = rng.standard_normal()  # a random upstream scalar: the check is c * dlogits
    check_vjp(
        loss_of_logits(labels), logits, c, c * loss_fn.backward(), layer=LAYER, quantity="dlogits"
    )


def test_cross_entropy_dlogits_match_finite_differences_on_a_seed_sized_batch():
    # (32, 10) = 320 entries: above the full-Jacobian size, so random projections.
    rng = np.random.default_rng(11)
    logits = 3 * rng.standard_normal((32, 10))
    labels = rng.integers(0, 10, 32)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    c = rng.standard_normal()
    check_vjp(
        loss_of_logits(labels),
        logits,
        c,
        c * loss_fn.backward(),
        layer=LAYER,
        quantity="dlogits",
        projections=5,
    )
