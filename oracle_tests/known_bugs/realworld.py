"""Known bugs from the families of mistakes seen in public from-scratch CNNs (issue #18,
../shared/REALWORLD_NOTES.md): variants and pairs the first catalogue lacked, each
written the way real code writes it.

New machinery here, each with a control that must survive:
- `_sized_pool()`: max pooling with an output size computed another way. Windows past
  the edge are partial (the maximum of what is there, as `x[.., i*s:i*s+k].max()`
  gives) or, when a window lies wholly past the edge, a ValueError (NumPy's
  zero-size reduction); control_pool_sized_like_torch uses torch's size.
- `_sized_conv()`: a conv whose output is cut to another size; a window that does not
  fit the padded input raises a ValueError, as the loop `patch * w` would;
  control_conv_sized_like_torch uses torch's size.
- `_adam_prepared()`: training.adam_step() with a hook run before each step, that
  resets the step count or the moments (the torch variant of adam_step is the
  catalogue's control_adam_reimplemented).

Not here: max pooling padded with 0 instead of -inf. The contract's maxpool2d has no
padding, so that mistake cannot be observed through an adapter.
"""

import numpy as np

from .conv import Wrapped
from .core import mutant
from .layers import FLATTEN, LINEAR, POOL, RELU, written
from .training import OPTIM, adam_step

CONV, LOSS = "layers.conv", "loss"
CHECKS = "oracle_tests/checks/"
TR = CHECKS + "test_relu.py::test_relu_"
TLOSS = CHECKS + "test_loss.py::test_cross_entropy_"
TA = CHECKS + "test_adam.py::test_adam_matches_torch_at_every_step"
TL = CHECKS + "test_linear.py::test_linear_"
TC = CHECKS + "test_conv2d.py::test_conv2d_"
TP = CHECKS + "test_maxpool2d.py::test_maxpool2d_"
TF = CHECKS + "test_flatten.py::test_flatten_"

RELU_NAN_FORWARD = TR + "forward_propagates_nan_like_torch"
RELU_NAN_BACKWARD = TR + "backward_passes_the_gradient_at_nan_like_torch"
RELU_TORCH = TR + "matches_torch_for_any_shape"
LOSS_SEED = TLOSS + "matches_torch_on_a_seed_batch"
LOSS_TORCH = TLOSS + "loss_and_dlogits_match_torch"
LOSS_LARGE = TLOSS + "matches_torch_at_large_logits"
LOSS_1E4 = TLOSS + "is_finite_and_matches_torch_at_logits_of_1e4"
CONV_TORCH = TC + "matches_torch_for_any_shape_stride_and_padding"
CONV_FORMULA = TC + "stride_and_padding_read_the_pixels_of_the_formula"
CONV_SEED_DX = TC + "input_gradient_matches_torch_on_the_seed_configuration"
CONV_SECOND = TC + "second_backward_overwrites_the_gradients"  # a 9x8 input
POOL_TORCH = TP + "matches_torch_without_ties"
POOL_OVERLAP = TP + "overlapping_windows_accumulate_the_gradient"  # 6x6, k 3, s 1
POOL_FLOOR = TP + "floor_mode_drops_the_remainder"  # 5x7, k 2, s 2


# --- ReLU -------------------------------------------------------------------------------
@mutant(
    bug="NaN becomes 0 both ways: np.where(x > 0, x, 0) forward and a `x > 0` gradient "
    "mask backward (dy * (x > 0)), the two obvious NumPy lines; half of the real ReLUs "
    "surveyed write one or both. torch.relu keeps NaN and passes the gradient at NaN.",
    kill=[RELU_NAN_BACKWARD, RELU_NAN_FORWARD],
    diagnosis=(
        "NaN becomes 0 both ways (np.where(x > 0, x, 0) forward, a x > 0 mask backward); "
        "torch.relu propagates NaN and passes the gradient at NaN (it zeroes only where x "
        "<= 0): use np.maximum(x, 0) forward and dx = np.where(x <= 0, 0, dy) backward."
    ),
)
def relu_nan_to_zero_both_ways(p):
    fwd = p.original(RELU, "relu_forward")

    def relu_forward(x):
        _, passes = fwd(x)
        positive = x > 0  # False at NaN: the forward's 0 and the backward's block
        return np.where(positive, x, x.dtype.type(0)), -positive.astype(passes.dtype)

    p.patch(RELU, "relu_forward", relu_forward)


@mutant(
    bug="Backward masks the upstream gradient in place (dy[x <= 0] = 0; return dy): the "
    "caller's dy changes under it, which breaks any code that reuses it (a second "
    "branch, gradient checks, a logged gradient).",
    kill=[RELU_TORCH],
    diagnosis=(
        "backward writes into the upstream gradient it was given (dy[x <= 0] = 0; return "
        "dy), which still belongs to the caller; torch returns a new array: dx = "
        "dy.copy(), then dx[x <= 0] = 0."
    ),
)
def relu_backward_writes_into_dy(p):
    def relu_backward(dy, passes):
        dy[passes == 0] = 0  # passes is 0 where x <= 0 (never at NaN, as x <= 0 is False)
        return dy

    p.patch(RELU, "relu_backward", relu_backward)


# --- Cross-entropy ----------------------------------------------------------------------
def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax with the row maximum subtracted: what the loss bugs here start from."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # (N, K)


@mutant(
    bug="The row max subtracted, then -log of the softmax probability of the label: that "
    "probability underflows to 0 once the label's logit is ~745 (float64) or ~104 "
    "(float32) below the row's max, and the loss is inf; dlogits (softmax - onehot) stay "
    "finite. The seed's own loss does this.",
    kill=[LOSS_1E4, LOSS_LARGE],
    diagnosis=(
        "the loss takes -log of the label's softmax probability, which underflows to 0 "
        "(an inf loss) when that logit lies far below the row's maximum, although the "
        "maximum is already subtracted; torch computes a log-softmax, so compute the loss "
        "as log(sum(exp(z - max))) + max - z[label], never as the log of an exponential."
    ),
)
def loss_log_of_underflowed_softmax(p):
    def softmax_cross_entropy_forward(logits, labels):
        probs = _softmax(logits)
        picked = probs[np.arange(len(logits)), labels]
        with np.errstate(divide="ignore"):
            return float(-np.log(picked).mean()), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


@mutant(
    bug="-log(p + 1e-8) of the label's softmax probability, an epsilon against log(0): "
    "the loss is off wherever p is small (and never above 18.4); the gradient is kept as "
    "the fused softmax - onehot, so only the loss differs.",
    kill=[LOSS_LARGE, LOSS_1E4],
    diagnosis=(
        "the loss is -log(p + 1e-8) of the label's softmax probability p, which differs "
        "from torch's wherever p is small and never exceeds 18.4, while dlogits are the "
        "exact softmax - onehot; torch's loss is the log-softmax logsumexp(z) - z[label], "
        "which needs no epsilon: compute it that way and drop the 1e-8."
    ),
)
def loss_log_of_p_plus_eps(p):
    def softmax_cross_entropy_forward(logits, labels):
        probs = _softmax(logits)
        picked = probs[np.arange(len(logits)), labels]
        return float(-np.log(picked + 1e-8).mean()), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


@mutant(
    bug="The loss subtracts each row's max in place (logits -= logits.max(axis=1, "
    "keepdims=True)), rewriting the caller's logits: the loss itself is right.",
    kill=[LOSS_SEED, LOSS_TORCH],
    diagnosis=(
        "the loss subtracts each row's maximum from the logits in place, changing the "
        "caller's array; torch leaves its input alone: write the shifted logits into a new "
        "array, z = logits - logits.max(axis=1, keepdims=True)."
    ),
)
def loss_writes_into_logits(p):
    fwd = p.original(LOSS, "softmax_cross_entropy_forward")

    def softmax_cross_entropy_forward(logits, labels):
        logits -= logits.max(axis=1, keepdims=True)  # the bug: the caller's array
        return fwd(logits, labels)

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


@mutant(
    bug="Binary cross-entropy over all N*K softmax outputs used as the multiclass loss, "
    "-mean(y log p + (1 - y) log(1 - p)) with y one-hot (ML-From-Scratch's CrossEntropy); "
    "its gradient through the softmax is still (p - y) / N, so only the loss differs. "
    "Equal to torch's at K = 2.",
    kill=[LOSS_SEED, LOSS_TORCH],
    diagnosis=(
        "the loss is a binary cross-entropy averaged over all N*K softmax outputs, "
        "-mean(y log p + (1 - y) log(1 - p)); torch's CrossEntropyLoss averages over the "
        "N samples only the label's term: loss = mean over rows of logsumexp(z) - "
        "z[label] (dlogits (p - y) / N are already right)."
    ),
)
def loss_binary_ce_for_multiclass(p):
    def softmax_cross_entropy_forward(logits, labels):
        probs = _softmax(logits)
        y = np.zeros_like(probs)
        y[np.arange(len(logits)), labels] = 1
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = y * np.log(probs) + (1 - y) * np.log(1 - probs)  # (N, K)
        return float(-terms.mean()), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


# --- Adam -------------------------------------------------------------------------------
def _adam_prepared(p, prepare) -> None:
    """Adam.step as training.adam_step(.., "torch"), after `prepare(state)` has changed
    the state it keeps between steps (state["t"], state["m"], state["v"])."""
    init = p.original(OPTIM, "Adam.__init__")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        params = list(params)
        init(self, params, lr, betas, eps)
        self._mutant = {"params": params, "lr": lr, "betas": betas, "eps": eps, "t": 0}
        for k in ("m", "v"):  # torch's exp_avg and exp_avg_sq, unscaled
            self._mutant[k] = [np.zeros_like(a) for a in params]

    def step(self, grads):
        prepare(self._mutant)
        adam_step(self, grads, "torch")

    p.patch(OPTIM, "Adam.__init__", __init__)
    p.patch(OPTIM, "Adam.step", step)


def _reset_step_count(state: dict) -> None:
    state["t"] = 0  # adam_step adds 1 before using it: t = 1 at every step


def _reset_state(state: dict) -> None:
    _reset_step_count(state)
    for k in ("m", "v"):
        state[k] = [np.zeros_like(a) for a in state["params"]]


@mutant(
    bug="Bias correction without the step count: m / (1 - beta1) and v / (1 - beta2) "
    "(the exponent t left out, or t never advanced): right at step 1, wrong from step 2, "
    "as the correction stays at its first-step size while it should fade to 1.",
    kill=[TA],
    diagnosis=(
        "the bias correction divides by 1 - beta1 and 1 - beta2 at every step (beta**1, "
        "the step count left out), which is right at step 1 only; torch divides by 1 - "
        "beta1**t and 1 - beta2**t: keep a step count t on the optimizer, add 1 to it at "
        "each step and use it as the exponent."
    ),
)
def adam_bias_correction_without_step(p):
    _adam_prepared(p, _reset_step_count)


@mutant(
    bug="The optimizer's state (m, v and t) recreated at every step, e.g. zeros made "
    "inside step() or the Adam built inside the training loop: every step is a first "
    "step, about lr * sign(g).",
    kill=[TA],
    diagnosis=(
        "the moments and the step count start again from zero at every step (the state "
        "is recreated inside step(), or the optimizer inside the training loop), so every "
        "step is a first step of about lr * sign(g); torch keeps m, v and t from step to "
        "step: create them once, with the optimizer, before the loop."
    ),
)
def adam_state_reset_every_step(p):
    _adam_prepared(p, _reset_state)


# --- Linear -----------------------------------------------------------------------------
@mutant(
    bug="Both dW and db divided by the batch size N by the layer itself, the loss's 1/N "
    "applied a second time (it is already in dy); invisible at batch size 1.",
    kill=[
        TL + "matches_torch_at_the_seed_networks_sizes",
        TL + "matches_torch_for_any_shape_and_layout",
    ],
    diagnosis=(
        "both the weight and the bias gradient are divided by the batch size N; the "
        "loss's mean already put 1/N into dy, so torch's are dW = dy.T @ x and db = "
        "dy.sum(axis=0): drop the / N from both."
    ),
)
def linear_gradients_divided_by_batch(p):
    bwd = p.original(LINEAR, "linear_backward")

    def linear_backward(dy, cache, input_grad=True, out=None):
        dx, dw, db = bwd(dy, cache, input_grad)
        n = dy.dtype.type(dy.shape[0])
        return dx, *written(out, dw / n, db / n)

    p.patch(LINEAR, "linear_backward", linear_backward)


# --- Conv2d -----------------------------------------------------------------------------
def _conv_pair(p):
    return p.original(CONV, "conv2d_forward"), p.original(CONV, "conv2d_backward")


def _patch_conv(p, forward, backward) -> None:
    p.patch(CONV, "conv2d_forward", forward)
    p.patch(CONV, "conv2d_backward", backward)


@mutant(
    bug="dx unpadded with dxp[:, :, P:-P, P:-P], the deeplearning.ai hint: at padding 0 "
    "that slice is [0:-0] = [0:0], an empty (N, C, 0, 0) dx; right for every P > 0.",
    kill=[CONV_SEED_DX, CONV_TORCH],
    diagnosis=(
        "dx is unpadded with dxp[:, :, P:-P, P:-P], which is empty at padding 0 (-0 is "
        "0); torch's dx has the input's shape: slice dxp[:, :, P:P + H, P:P + W] "
        "instead."
    ),
)
def conv_dx_empty_at_padding_zero(p):
    fwd, bwd = _conv_pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x, w, b, stride, padding)
        return y, Wrapped(cache, (padding,))

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache.inner, input_grad)
        if dx is None:
            return dx, dw, db
        P = cache.extra[0]
        dxp = np.pad(dx, ((0, 0), (0, 0), (P, P), (P, P)))  # what col2im fills
        return dxp[:, :, P:-P, P:-P], dw, db

    _patch_conv(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="The stride ignored in forward and backward (a conv written for stride 1 whose "
    "stride argument is never read): every output position is computed.",
    kill=[CONV_FORMULA, CONV_TORCH],
    diagnosis=(
        "the stride is ignored (the kernel steps 1 pixel at a time, forward and back); "
        "torch steps it s pixels: read the patches at rows i*s and columns j*s, with Ho = "
        "(H + 2p - k) // s + 1, and scatter dx back to the same pixels."
    ),
)
def conv_ignores_stride(p):
    fwd = p.original(CONV, "conv2d_forward")

    def conv2d_forward(x, w, b, stride=1, padding=0):
        return fwd(x, w, b, 1, padding)  # the cache holds stride 1 for backward too

    p.patch(CONV, "conv2d_forward", conv2d_forward)


@mutant(
    bug="The backward loop reads the patches with step 1, forgetting the stride the forward "
    "used (patch = x[:, :, i:i+k, j:j+k] for output position (i, j)): dw and dx are right "
    "at stride 1 only, y and db always are.",
    kill=[CONV_FORMULA, CONV_TORCH],
    diagnosis=(
        "the backward reads and scatters the patches 1 pixel apart, forgetting the stride "
        "(dw and dx are wrong at stride > 1, y is right); output position (i, j) was read "
        "from rows i*s to i*s+k and columns j*s to j*s+k: use those in backward too."
    ),
)
def conv_backward_ignores_stride(p):
    fwd, bwd = _conv_pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x, w, b, stride, padding)
        return y, Wrapped(cache, (x, w.astype(x.dtype), padding))

    def conv2d_backward(dy, cache, input_grad=True):
        _, _, db = bwd(dy, cache.inner, False)
        x, w, pad = cache.extra
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        (Ho, Wo), (kH, kW) = dy.shape[2:], w.shape[2:]
        dw, dxp = np.zeros_like(w), np.zeros_like(xp)
        for i in range(kH):
            for j in range(kW):
                # (N, C, Ho, Wo): the pixels 1 apart, where torch's are `stride` apart
                patch = xp[:, :, i : i + Ho, j : j + Wo]
                dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, patch)
                dxp[:, :, i : i + Ho, j : j + Wo] += np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
        dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]].copy()
        return (dx if input_grad else None), dw, db

    _patch_conv(p, conv2d_forward, conv2d_backward)


def _sized_conv(p, size) -> None:
    """Conv whose output is the first size(x_shape, w_shape, stride, padding) = (Ho, Wo)
    rows and columns of torch's; an output window that does not fit in the padded input
    raises ValueError, as the loop's `patch * w` does on a partial patch."""
    fwd, bwd = _conv_pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        Ho, Wo = size(x.shape, w.shape, stride, padding)
        for n, m, k in ((x.shape[2], Ho, w.shape[2]), (x.shape[3], Wo, w.shape[3])):
            if (m - 1) * stride + k > n + 2 * padding:
                raise ValueError("operands could not be broadcast together (a partial patch)")
        y, cache = fwd(x, w, b, stride, padding)
        full = y.shape
        if full[2:] != (Ho, Wo):
            y = y[:, :, :Ho, :Wo].copy()
        return y, Wrapped(cache, (full,))

    def conv2d_backward(dy, cache, input_grad=True):
        full = np.zeros(cache.extra[0], dtype=dy.dtype)  # the uncut output's gradient
        full[:, :, : dy.shape[2], : dy.shape[3]] = dy
        return bwd(full, cache.inner, input_grad)

    _patch_conv(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Both output sizes computed from x.shape[2] (H = W = x.shape[2]): right on "
    "square inputs such as MNIST's, too few output columns when W > H, a crash on a "
    "partial patch when W < H.",
    kill=[CONV_SECOND, CONV_TORCH],
    diagnosis=(
        "the output width is computed from x.shape[2], the height, so a non-square input "
        "gets Ho x Ho outputs (too few columns, or a crash when W < H); torch computes "
        "each axis from its own size: Wo = (W + 2p - kW) // s + 1 with W = x.shape[3]."
    ),
)
def conv_assumes_square_input(p):
    def size(x_shape, w_shape, s, pad):
        Ho = (x_shape[2] + 2 * pad - w_shape[2]) // s + 1
        return Ho, Ho

    _sized_conv(p, size)


def _torch_conv_size(x_shape, w_shape, s, pad):
    return tuple((n + 2 * pad - k) // s + 1 for n, k in zip(x_shape[2:], w_shape[2:], strict=True))


@mutant(
    bug="CONTROL, must survive: _sized_conv() with torch's output size (the Wrapped cache, "
    "the fit test and the zero-padded dy of backward around a correct conv).",
    kill=[CONV_SECOND, CONV_TORCH, CONV_FORMULA, CONV_SEED_DX],
    survives=True,
)
def control_conv_sized_like_torch(p):
    _sized_conv(p, _torch_conv_size)


# --- MaxPool2d --------------------------------------------------------------------------
def _sized_pool(p, size) -> None:
    """Max pooling with size(H, W, k, s) = (Ho, Wo) windows per axis, window i at rows
    i*s .. i*s + k - 1: one running past the edge pools what is there (the input padded
    with -inf), one wholly past it raises ValueError, as `window.max()` of an empty
    slice does. Backward and the winner mask are the reference's on the padded input."""
    fwd = p.original(POOL, "maxpool2d_forward")
    bwd = p.original(POOL, "maxpool2d_backward")
    mask = p.original(POOL, "maxpool2d_mask")

    def maxpool2d_forward(x, kernel_size, stride):
        H, W = x.shape[2:]
        Ho, Wo = size(H, W, kernel_size, stride)
        if (Ho - 1) * stride >= H or (Wo - 1) * stride >= W:
            raise ValueError("zero-size array to reduction operation maximum which has no identity")
        extra = [max(0, (m - 1) * stride + kernel_size - n) for n, m in ((H, Ho), (W, Wo))]
        if any(extra):
            pad = ((0, 0), (0, 0), (0, extra[0]), (0, extra[1]))
            x = np.pad(x, pad, constant_values=-np.inf)
        y, cache = fwd(x, kernel_size, stride)
        full = y.shape
        if full[2:] != (Ho, Wo):
            y = y[:, :, :Ho, :Wo].copy()
        return y, Wrapped(cache, (H, W, full))

    def maxpool2d_backward(dy, cache):
        H, W, full = cache.extra
        dy_full = np.zeros(full, dtype=dy.dtype)  # the windows cut off get no gradient
        dy_full[:, :, : dy.shape[2], : dy.shape[3]] = dy
        return bwd(dy_full, cache.inner)[:, :, :H, :W].copy()

    def maxpool2d_mask(cache):
        H, W, _ = cache.extra
        return mask(cache.inner)[:, :, :H, :W].copy()

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)
    p.patch(POOL, "maxpool2d_backward", maxpool2d_backward)
    p.patch(POOL, "maxpool2d_mask", maxpool2d_mask)


@mutant(
    bug="Output size H // stride (and W // stride) instead of (H - k) // s + 1: the same "
    "whenever stride == kernel (the seed's 2x2 pool), extra windows running off the edge "
    "for a stride below the kernel, windows dropped for one above it.",
    kill=[POOL_OVERLAP, POOL_TORCH],
    diagnosis=(
        "the output size is H // stride (and W // stride), which adds windows running off "
        "the edge when the stride is below the kernel and drops some when it is above; "
        "torch's is (H - k) // s + 1 per axis (floor mode, no padding)."
    ),
)
def pool_output_size_h_over_stride(p):
    _sized_pool(p, lambda H, W, k, s: (H // s, W // s))


@mutant(
    bug="Both output sizes computed from x.shape[2] (H = W = x.shape[2]): right on square "
    "inputs, too few output columns when W > H, windows past the edge when W < H.",
    kill=[POOL_FLOOR, POOL_TORCH],
    diagnosis=(
        "the output width is computed from x.shape[2], the height, so a non-square input "
        "gets Ho x Ho windows (too few columns, or columns past the edge when W < H); "
        "torch computes each axis from its own size: Wo = (W - k) // s + 1 with W = "
        "x.shape[3]."
    ),
)
def pool_assumes_square_input(p):
    def size(H, W, k, s):
        return (H - k) // s + 1, (H - k) // s + 1

    _sized_pool(p, size)


@mutant(
    bug="CONTROL, must survive: _sized_pool() with torch's output size (the Wrapped "
    "cache, the -inf padding test and the zero-padded dy of backward around a correct pool).",
    kill=[
        POOL_FLOOR,
        POOL_OVERLAP,
        POOL_TORCH,
        TP + "tied_windows_route_to_the_first_max_like_torch",
    ],
    survives=True,
)
def control_pool_sized_like_torch(p):
    _sized_pool(p, lambda H, W, k, s: ((H - k) // s + 1, (W - k) // s + 1))


# --- Flatten ----------------------------------------------------------------------------
@mutant(
    bug="Flatten in (W, H, C) order, x.transpose(0, 3, 2, 1).reshape(N, -1): a transpose "
    "that reverses every axis but the batch, taken for torch's (C, H, W).",
    kill=[
        TF + "order_is_channel_then_row_then_column",
        TF + "matches_torch_and_backward_restores_the_shape",
    ],
    diagnosis=(
        "flatten reads the activations in (W, H, C) order (x.transpose(0, 3, 2, 1)); "
        "torch flattens (C, H, W): x.reshape(N, -1) on the (N, C, H, W) array, and "
        "dy.reshape(x.shape) back."
    ),
)
def flatten_w_h_c(p):
    def forward(self, x):
        x = np.asarray(x)
        self._mutant_shape = x.shape
        whc = x.transpose(0, 3, 2, 1) if x.ndim == 4 else x
        return whc.reshape(x.shape[0], -1)  # (N, W*H*C)

    def backward(self, dy):
        shape = self._mutant_shape
        if len(shape) != 4:
            return dy.reshape(shape)
        N, C, H, W = shape
        return dy.reshape(N, W, H, C).transpose(0, 3, 2, 1).copy()  # (N, C, H, W)

    p.patch(FLATTEN, "Flatten.forward", forward)
    p.patch(FLATTEN, "Flatten.backward", backward)
