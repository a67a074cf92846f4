"""SoftmaxCrossEntropy against torch's F.cross_entropy (reduction="mean") in both dtype
tiers, at logits up to +-1e4, and against finite differences.

The loss is a scalar, so its backward is the full (N, K) matrix d(mean loss)/d logits:
it is compared element by element with torch's logits.grad after loss.backward().
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from ..finite_diff import check_vjp
from ..plugin import check
from ..strategies import DTYPES
from ..tolerances import compare, expect, to_torch

LAYER = "CrossEntropy"
DTYPE = pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
# Logit scales of the general checks: tiny (near-uniform softmax) and ordinary, where
# every probability stays above 1e-5, so that clipping at 1e-7 or an underflowed
# softmax cannot show. Large logits have their own checks: 30 (probabilities that
# underflow in float32 and fall below any clip) and +-1e4, where an exp() without the
# max subtracted overflows even in float64 (exp(710) = inf).
SCALES = [1e-3, 1.0]


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


def run_loss(impl, logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    loss_fn = impl.cross_entropy(logits.dtype)
    loss = loss_fn.forward(logits, labels)
    return loss, loss_fn.backward()


def compare_with_torch(impl, logits: np.ndarray, labels: np.ndarray) -> None:
    """Run the loss and torch on the same batch; compare the loss and every dlogit."""
    loss, dlogits = run_loss(impl, logits, labels)
    loss_t, dlogits_t = torch_cross_entropy(logits, labels)
    # forward returns a Python float: in the float32 tier, compared as float32.
    compare(LAYER, "loss", np.asarray(loss, dtype=logits.dtype), loss_t)
    compare(LAYER, "dlogits", dlogits, dlogits_t)


@check("loss, dlogits")
@DTYPE
def test_cross_entropy_matches_torch_on_a_seed_batch(impl, dtype):
    rng = np.random.default_rng(1)
    logits = (1.5 * rng.standard_normal((32, 10))).astype(dtype)  # batch 32, 10 classes
    compare_with_torch(impl, logits, rng.integers(0, 10, 32))


@check("loss, dlogits")
@DTYPE
@given(
    N=st.integers(1, 64),
    K=st.integers(2, 20),
    scale=st.sampled_from(SCALES),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_loss_and_dlogits_match_torch(impl, N, K, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    logits = random_logits(rng, N, K, scale, ties=False).astype(dtype)
    labels = rng.integers(0, K, N)
    compare_with_torch(impl, logits, labels)


@check("loss, dlogits of tied logits")
@DTYPE
def test_cross_entropy_matches_torch_with_tied_logits(impl, dtype):
    # Rows holding repeated values, repeated maxima included.
    rng = np.random.default_rng(3)
    logits = random_logits(rng, 16, 7, 1.0, ties=True).astype(dtype)
    compare_with_torch(impl, logits, rng.integers(0, 7, 16))


@check("loss, dlogits at large logits")
@DTYPE
@given(N=st.integers(1, 32), K=st.integers(2, 20), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_matches_torch_at_large_logits(impl, N, K, dtype, seed):
    # Logits of scale 30: probabilities down to exp(-200), below any clip and below
    # float32's smallest number, so -log(softmax) gives inf where torch's log-softmax
    # gives the exact loss.
    rng = np.random.default_rng(seed)
    logits = random_logits(rng, N, K, 30.0, ties=False).astype(dtype)
    compare_with_torch(impl, logits, rng.integers(0, K, N))


@check("loss, dlogits at logits of 1e4")
@DTYPE
def test_cross_entropy_is_finite_and_matches_torch_at_logits_of_1e4(impl, dtype):
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
    loss, dlogits = run_loss(impl, logits, labels)
    expect(np.isfinite(dlogits).all() or not np.isfinite(loss), overflow_advice(loss, dlogits))
    expect(np.isfinite(loss), underflow_advice(loss, dlogits))
    compare_with_torch(impl, logits, labels)


def overflow_advice(loss: float, dlogits: np.ndarray) -> str:
    """dlogits hold NaN or inf: exp() overflowed."""
    return (
        f"{LAYER} at logits of +-1e4: the loss is {loss:.6g} and dlogits hold NaN or inf; "
        "torch's are finite: exp() overflows unless each row's max is subtracted first"
    )


def underflow_advice(loss: float, dlogits: np.ndarray) -> str:
    """The loss alone is not finite: the log of a probability that underflowed to 0, or
    an overflow in the loss's own arithmetic."""
    if np.isfinite(dlogits).all():
        return (
            f"{LAYER} at logits of +-1e4: the loss is {loss:.6g} while dlogits are finite; "
            "torch's loss is finite: -log of a softmax probability that underflowed to 0 is "
            "inf even after the max is subtracted; compute the loss as a log-softmax, "
            "logsumexp(z) - z[label]"
        )
    return (
        f"{LAYER} at logits of +-1e4: the loss is {loss:.6g} and dlogits hold NaN or inf; "
        "torch's are finite: exp() overflows unless each row's max is subtracted first"
    )


@check("loss, dlogits (batch mean)")
@DTYPE
def test_cross_entropy_gradient_is_divided_by_the_batch_size(impl, dtype):
    # Repeating a batch leaves the mean loss unchanged and halves every dlogit; a
    # summed loss, or a gradient without the /N, would double instead.
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 10)).astype(dtype)
    labels = rng.integers(0, 10, 6)
    loss, dlogits = run_loss(impl, logits, labels)
    twice, labels2 = np.concatenate([logits, logits]), np.concatenate([labels, labels])
    loss2, dlogits2 = run_loss(impl, twice, labels2)
    expect(
        np.isclose(loss2, loss, rtol=1e-5),
        f"{LAYER} loss of a batch repeated twice is {loss2} vs {loss} once; torch's mean is "
        "unchanged (is the loss summed instead of averaged over the batch?)",
    )
    expect(
        np.allclose(dlogits2[:6], dlogits / 2, rtol=1e-5, atol=0),
        f"{LAYER} dlogits of a batch repeated twice is not half of once; torch's is "
        "(softmax - onehot) / N: is the /N missing?",
    )
    compare_with_torch(impl, twice, labels2)


@check("dlogits (finite differences)")
@given(
    N=st.integers(1, 12),
    K=st.integers(2, 20),
    scale=st.sampled_from([1e-3, 1.0, 10.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_dlogits_match_finite_differences(impl, N, K, scale, seed):
    # N * K <= 240: finite_diff compares every entry against the full Jacobian. The
    # scale stays moderate: at |loss| ~ 1e4 the rounding of the loss itself (1e-12)
    # divided by the step (1e-6) would exceed FD_ATOL; torch covers that range.
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((N, K))
    labels = rng.integers(0, K, N)
    _, dlogits = run_loss(impl, logits, labels)
    c = rng.standard_normal()  # a random upstream scalar: the check is c * dlogits

    def f(z):
        return np.float64(impl.cross_entropy(z.dtype).forward(z, labels))

    check_vjp(f, logits, c, c * dlogits, layer=LAYER, quantity="dlogits")
