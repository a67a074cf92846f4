"""Known bugs of the head pieces (reference/heads.py, issue #19): the mistakes public
from-scratch implementations make in Softmax, Sigmoid, Tanh, LeakyReLU, MSE, binary
cross-entropy and cross-entropy on probabilities, each written the way such code writes
it. The module holds several pieces, so every entry names its factory."""

import numpy as np

from .core import mutant

HEADS = "heads"
CHECKS = "oracle_tests/checks/"
TS = CHECKS + "test_softmax.py::test_softmax_"
TSIG = CHECKS + "test_sigmoid.py::test_sigmoid_"
TT = CHECKS + "test_tanh.py::test_tanh_"
TLR = CHECKS + "test_leaky_relu.py::test_leaky_relu_"
TM = CHECKS + "test_mse_loss.py::test_mse_loss_"
TB = CHECKS + "test_bce_loss.py::test_bce_loss_"
TCE = CHECKS + "test_ce_on_probabilities.py::test_ce_on_probabilities_"


# --- Softmax ------------------------------------------------------------------------------
@mutant(
    bug="Softmax backward keeps only the Jacobian's diagonal, dx = dy * p(1 - p): right "
    "only for the one-hot-shaped upstream of a cross-entropy that follows it, a shortcut "
    "many from-scratch Softmax layers take.",
    kill=[TS + "matches_torch_for_any_batch", TS + "gradient_matches_finite_differences"],
    diagnosis=(
        "Softmax backward multiplies dy by p(1 - p), the diagonal of the Jacobian only; "
        "torch applies the full Jacobian, dx = p * (dy - sum(dy * p, axis=1)): use that, "
        "which is right for any upstream gradient, not only a cross-entropy's."
    ),
    factory="softmax",
)
def softmax_backward_diagonal(patcher):
    def softmax_backward(dy, p):
        return dy * p * (1 - p)

    patcher.patch(HEADS, "softmax_backward", softmax_backward)


@mutant(
    bug="Softmax backward returns dy unchanged, as when the layer assumes the loss after "
    "it already returned p - y for the logits.",
    kill=[TS + "matches_torch_for_any_batch", TS + "gradient_matches_finite_differences"],
    diagnosis=(
        "Softmax backward passes dy through unchanged (the loss's p - y taken for the "
        "logits' gradient); torch's is dx = p * (dy - sum(dy * p, axis=1)): apply the "
        "Jacobian, or fuse Softmax and the loss into one cross-entropy on logits."
    ),
    factory="softmax",
)
def softmax_backward_pass_through(patcher):
    def softmax_backward(dy, p):
        return dy.copy()

    patcher.patch(HEADS, "softmax_backward", softmax_backward)


@mutant(
    bug="Softmax as exp(x) / sum(exp(x)) without subtracting each row's max: exp "
    "overflows at logits of 1e4 (inf / inf = NaN) though it is exact at moderate ones.",
    kill=[TS + "is_finite_and_matches_torch_at_logits_of_1e4"],
    diagnosis=(
        "Softmax computes exp(x) / sum(exp(x)) without subtracting the row max, so "
        "exp() overflows to inf at large logits (NaN probabilities); torch's is finite: "
        "subtract x.max(axis=1, keepdims=True) before exp()."
    ),
    factory="softmax",
)
def softmax_without_max_subtraction(p):
    def softmax_forward(x):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            probs = e / e.sum(axis=1, keepdims=True)
        return probs, probs

    p.patch(HEADS, "softmax_forward", softmax_forward)


# --- Sigmoid, Tanh, LeakyReLU ---------------------------------------------------------------
def _cache_input(p, name: str):
    """Patch `name`_forward to keep its output unchanged but cache the input instead."""
    fwd = p.original(HEADS, f"{name}_forward")

    def forward(x):
        return fwd(x)[0], x.copy()

    forward.__name__ = f"{name}_forward"
    p.patch(HEADS, f"{name}_forward", forward)


@mutant(
    bug="Sigmoid backward evaluates s(1 - s) on the INPUT, dy * x(1 - x), where the "
    "derivative formula was written for the output.",
    kill=[TSIG + "matches_torch_for_any_shape", TSIG + "gradient_matches_finite_differences"],
    diagnosis=(
        "Sigmoid backward computes dy * x(1 - x) on the input x; torch's is dy * s(1 - s) "
        "on the output s = sigmoid(x): keep s from the forward and use it."
    ),
    factory="sigmoid",
)
def sigmoid_backward_on_input(p):
    _cache_input(p, "sigmoid")

    def sigmoid_backward(dy, s):
        return dy * ((1 - s) * s)

    p.patch(HEADS, "sigmoid_backward", sigmoid_backward)


@mutant(
    bug="Tanh backward evaluates 1 - t^2 on the INPUT, dy * (1 - x^2), where the "
    "derivative formula was written for the output.",
    kill=[TT + "matches_torch_for_any_shape", TT + "gradient_matches_finite_differences"],
    diagnosis=(
        "Tanh backward computes dy * (1 - x^2) on the input x; torch's is dy * (1 - t^2) "
        "on the output t = tanh(x): keep t from the forward and use it."
    ),
    factory="tanh",
)
def tanh_backward_on_input(p):
    _cache_input(p, "tanh")

    def tanh_backward(dy, t):
        return dy * (1 - t * t)

    p.patch(HEADS, "tanh_backward", tanh_backward)


@mutant(
    bug="LeakyReLU ignores the negative_slope it is given and uses 0.01 (a default "
    "hard-coded in both passes).",
    kill=[TLR + "matches_torch_for_any_shape_and_slope", TLR + "matches_torch_on_the_seed_shapes"],
    diagnosis=(
        "LeakyReLU uses a slope of 0.01 whatever negative_slope it is given; torch's "
        "F.leaky_relu uses the given slope in both passes: use the constructor's "
        "argument instead of the constant."
    ),
    factory="leaky_relu",
)
def leaky_relu_slope_ignored(p):
    fwd = p.original(HEADS, "leaky_relu_forward")
    bwd = p.original(HEADS, "leaky_relu_backward")

    def leaky_relu_forward(x, negative_slope):
        return fwd(x, 0.01)

    def leaky_relu_backward(dy, positive, negative_slope):
        return bwd(dy, positive, 0.01)

    p.patch(HEADS, "leaky_relu_forward", leaky_relu_forward)
    p.patch(HEADS, "leaky_relu_backward", leaky_relu_backward)


# --- MSE ----------------------------------------------------------------------------------
MSE_KILL = [TM + "matches_torch_for_any_batch", TM + "dpred_matches_finite_differences"]


@mutant(
    bug="MSE averaged over the batch only: sum over features / N, loss and gradient, "
    "as in sum((pred - target)**2) / len(pred).",
    kill=[*MSE_KILL, TM + "is_a_mean_over_every_element"],
    diagnosis=(
        "MSE is summed over the features and averaged over the batch only (divided by N); "
        "torch's F.mse_loss averages over all N*K elements: divide the loss and its "
        "gradient by pred.size, not len(pred)."
    ),
    factory="mse_loss",
)
def mse_mean_over_batch_only(p):
    def mse_forward(pred, target):
        r = pred - target
        return float((r * r).sum() / len(r)), r

    def mse_backward(r):
        return (2 / len(r)) * r

    p.patch(HEADS, "mse_forward", mse_forward)
    p.patch(HEADS, "mse_backward", mse_backward)


@mutant(
    bug="MSE backward without its factor 2: (pred - target) / numel, the derivative of "
    "the 1/2-scaled loss some courses define.",
    kill=MSE_KILL,
    diagnosis=(
        "MSE backward returns (pred - target) / numel, half of torch's: the derivative of "
        "mean((pred - target)^2) is 2 (pred - target) / numel: put the factor 2 back."
    ),
    factory="mse_loss",
)
def mse_missing_factor_2(p):
    def mse_backward(r):
        return r / r.size

    p.patch(HEADS, "mse_backward", mse_backward)


@mutant(
    bug="MSE backward with its sign flipped: 2 (target - pred) / numel, the residual "
    "taken the other way round.",
    kill=MSE_KILL,
    diagnosis=(
        "MSE backward returns 2 (target - pred) / numel, the negative of torch's: the "
        "gradient with respect to pred is 2 (pred - target) / numel."
    ),
    factory="mse_loss",
)
def mse_sign_flipped(p):
    def mse_backward(r):
        return (-2 / r.size) * r

    p.patch(HEADS, "mse_backward", mse_backward)


# --- Binary cross-entropy, cross-entropy on probabilities ------------------------------------
@mutant(
    bug="BCE with unclipped logs: -(t log p + (1 - t) log(1 - p)) gives 0 * -inf = NaN "
    "(or inf) at a saturated p = 0 or 1, where torch clamps each log at -100.",
    kill=[TB + "is_finite_and_matches_torch_at_p_0_and_1"],
    diagnosis=(
        "BCE takes log(p) and log(1 - p) unclipped, so p = 0 or 1 gives an infinite or "
        "NaN loss; torch's F.binary_cross_entropy clamps each log at -100: use "
        "np.maximum(np.log(p), -100) and np.maximum(np.log(1 - p), -100)."
    ),
    factory="bce_loss",
)
def bce_log_unclipped(patcher):
    def bce_forward(p, target):
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = -(target * np.log(p) + (1 - target) * np.log(1 - p))
        return float(loss.mean()), (p, target)

    patcher.patch(HEADS, "bce_forward", bce_forward)


@mutant(
    bug="Cross-entropy on probabilities whose gradient is -1/p[label] without the 1/N "
    "of the batch mean its forward takes.",
    kill=[TCE + "matches_torch_for_any_batch", TCE + "dprob_matches_finite_differences"],
    diagnosis=(
        "the cross-entropy on probabilities returns -1/p at the labels, not divided by "
        "the batch size; torch's gradient of the mean -log p[label] is -1/(N p[label]): "
        "divide by N."
    ),
    factory="cross_entropy_from_probabilities",
)
def ce_probabilities_gradient_not_divided_by_batch(p):
    def ce_probabilities_backward(cache):
        probs, labels = cache
        rows = np.arange(len(probs))
        dp = np.zeros_like(probs)
        with np.errstate(divide="ignore"):
            dp[rows, labels] = -1 / probs[rows, labels]
        return dp

    p.patch(HEADS, "ce_probabilities_backward", ce_probabilities_backward)
