"""MaxPool2d, ReLU, Flatten and Linear mutants.

The pooling tie mutants keep the original forward (so y is right) and re-route the
gradient and the winner mask with `route()`, a small self-contained implementation of
max-pool backward whose tie rule is a parameter; rule "torch" is the correct one and
is what the control uses.
"""

import numpy as np

from .conv import Wrapped, as_if_c_contiguous
from .core import mutant

POOL, RELU, FLATTEN, LINEAR = "layers.pool", "layers.activation", "layers.flatten", "layers.linear"
TP = "oracle_tests/checks/test_maxpool2d.py::"
POOL_TORCH = TP + "test_maxpool2d_tied_windows_route_to_the_first_max_like_torch"
POOL_TIES = TP + "test_maxpool2d_ties_route_to_first_max"
TR = "oracle_tests/checks/test_relu.py::test_relu_"
RELU_TORCH = TR + "matches_torch_for_any_shape"
TF = "oracle_tests/checks/test_flatten.py::test_flatten_"
TL = "oracle_tests/checks/test_linear.py::test_linear_"
LINEAR_TORCH = TL + "matches_torch_for_any_shape_and_layout"


def written(out, dw, db):
    """What a mutated linear_backward hands back: (dw, db) written into the caller's
    `out` arrays when it passed them (Linear.backward does, and reads only those), as
    the real function writes them. A (dw, db) of another shape is returned as is,
    leaving the caller's arrays stale, which is wrong too."""
    if out is None or (np.shape(dw), np.shape(db)) != (out[0].shape, out[1].shape):
        return dw, db
    out[0][...], out[1][...] = dw, db
    return out


def route(dy, x, y, k: int, s: int, rule: str, assign: bool = False):
    """dx of max pooling, and the winner mask, with tie rule `rule`:

    "torch": the first maximum in row-major window order (the last NaN if the window
    holds NaN); "last": the last maximum; "all": every position where x == max (so a
    window holding NaN passes on nothing, as that mask does); "split": the maxima (or
    NaNs) share the gradient evenly. assign=True overwrites where overlapping windows
    share a winner instead of adding: the last window (row-major) keeps its gradient.
    """
    Ho, Wo = y.shape[2:]
    offsets = [(i, j) for i in range(k) for j in range(k)]  # row-major window order
    view = [(..., slice(i, i + s * Ho, s), slice(j, j + s * Wo, s)) for i, j in offsets]
    nan_y = np.isnan(y)
    equal = np.stack([x[v] == y for v in view])  # (k*k, N, C, Ho, Wo)
    hits = equal | np.stack([np.isnan(x[v]) & nan_y for v in view])
    first = hits & (np.cumsum(hits, axis=0) == 1)
    last = hits & (np.cumsum(hits[::-1], axis=0)[::-1] == 1)
    keep = {"torch": np.where(nan_y, last, first), "last": last, "all": equal, "split": hits}
    keep = keep[rule]
    share = keep.sum(axis=0) if rule == "split" else 1  # (N, C, Ho, Wo): winners per window
    dx = np.zeros(x.shape, dtype=None if dy is None else dy.dtype)
    mask = np.zeros(x.shape, dtype=bool)
    # assign: real code loops over the windows in row-major order (dx[winner] = dy[i, j]),
    # so a pixel that overlapping windows share keeps the LAST window's gradient. A later
    # window reaches that pixel at an earlier offset of its own: visiting the offsets
    # last-first writes it last, as that loop does.
    for n, v in reversed(list(enumerate(view))) if assign else enumerate(view):
        mask[v] |= keep[n]
        if dy is None:
            continue
        if assign:
            dx[v] = np.where(keep[n], dy, dx[v])
        else:
            dx[v] += np.where(keep[n], dy / share, 0).astype(dy.dtype)
    return dx, mask


def _rerouted_pool(p, rule: str, assign: bool = False) -> None:
    """Patch the pool functions: forward unchanged, backward and mask by route()."""
    fwd = p.original(POOL, "maxpool2d_forward")

    def maxpool2d_forward(x, kernel_size, stride):
        y, cache = fwd(x, kernel_size, stride)
        return y, Wrapped(cache, (x.copy(), y.copy(), kernel_size, stride))

    def maxpool2d_backward(dy, cache):
        return route(dy, *cache.extra, rule, assign)[0]

    def maxpool2d_mask(cache):
        return route(None, *cache.extra, rule)[1]

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)
    p.patch(POOL, "maxpool2d_backward", maxpool2d_backward)
    p.patch(POOL, "maxpool2d_mask", maxpool2d_mask)


@mutant(
    bug="Ties sent to every maximum: the obvious NumPy backward `dy * (x == max)`. On "
    "MNIST's ReLU plateau most windows tie and conv gradients come out several times too big.",
    kill=[POOL_TIES, POOL_TORCH],
    diagnosis=(
        "the gradient goes to every tied maximum (an `x == max` mask); torch sends it to "
        "the first maximum of the window only: keep one winner per window (np.argmax over "
        "the window)."
    ),
)
def pool_ties_to_every_max(p):
    _rerouted_pool(p, "all")


@mutant(
    bug="Ties sent to the LAST maximum (a `>=` instead of `>` in the scan, or argmax over "
    "the reversed window); torch's CPU kernel keeps the first.",
    kill=[POOL_TIES, POOL_TORCH],
    diagnosis=(
        "the gradient goes to the last tied maximum; torch sends it to the first one "
        "(row-major): scan with `>`, not `>=`, or take np.argmax."
    ),
)
def pool_ties_to_last_max(p):
    _rerouted_pool(p, "last")


@mutant(
    bug="Ties share the gradient evenly (dy * mask / mask.sum(), a 'fair' reading of the "
    "derivative of max at a tie); torch gives it all to the first maximum.",
    kill=[POOL_TIES, POOL_TORCH],
    diagnosis=(
        "the gradient is split evenly among tied maxima; torch sends it all to the first "
        "maximum of the window: keep one winner per window (np.argmax over the window)."
    ),
)
def pool_ties_split_evenly(p):
    _rerouted_pool(p, "split")


@mutant(
    bug="Overlapping windows (stride < kernel) that share a winner overwrite its gradient "
    "(dx[idx] = dy in the loop over the windows, the non-overlapping fast path used for "
    "every stride) instead of adding: the last window's gradient is the one kept.",
    kill=[TP + "test_maxpool2d_overlapping_windows_accumulate_the_gradient"],
    diagnosis=(
        "overlapping windows that share a winner overwrite its gradient; they must add "
        "up: np.add.at(dx, idx, dy) instead of dx[idx] = dy."
    ),
)
def pool_overlapping_gradients_overwrite(p):
    _rerouted_pool(p, "torch", assign=True)


@mutant(
    bug="CONTROL, must survive: the same re-routing machinery with torch's tie rule.",
    kill=[POOL_TIES, POOL_TORCH, TP + "test_maxpool2d_overlapping_windows_accumulate_the_gradient"],
    survives=True,
)
def control_pool_rerouted_like_torch(p):
    _rerouted_pool(p, "torch")


@mutant(
    bug="ceil_mode: a partial window at the bottom/right edge (padded with -inf) is kept "
    "instead of dropped; same shapes as floor mode whenever (H - k) % s == 0.",
    kill=[TP + "test_maxpool2d_floor_mode_drops_the_remainder"],
    diagnosis=(
        "a partial window at the edge is kept (ceil mode); torch's default floor mode "
        "drops the remainder: Ho = (H - k) // s + 1."
    ),
)
def pool_ceil_mode(p):
    fwd = p.original(POOL, "maxpool2d_forward")
    bwd = p.original(POOL, "maxpool2d_backward")
    mask = p.original(POOL, "maxpool2d_mask")

    def maxpool2d_forward(x, kernel_size, stride):
        H, W = x.shape[2:]
        extra = [(-(n - kernel_size) % stride) for n in (H, W)]  # rows to the next window
        pad = ((0, 0), (0, 0), (0, extra[0]), (0, extra[1]))
        y, cache = fwd(np.pad(x, pad, constant_values=-np.inf), kernel_size, stride)
        return y, Wrapped(cache, (H, W))

    def maxpool2d_backward(dy, cache):
        H, W = cache.extra
        return bwd(dy, cache.inner)[:, :, :H, :W].copy()

    def maxpool2d_mask(cache):
        H, W = cache.extra
        return mask(cache.inner)[:, :, :H, :W].copy()

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)
    p.patch(POOL, "maxpool2d_backward", maxpool2d_backward)
    p.patch(POOL, "maxpool2d_mask", maxpool2d_mask)


@mutant(
    bug="NaN skipped instead of propagated (np.nanmax, or a `val > max` scan that NaN "
    "never wins): a diverging network's NaN is silently hidden by the pool.",
    kill=[TP + "test_maxpool2d_propagates_nan_like_torch"],
    diagnosis=(
        "NaN is skipped (np.nanmax, or a `>` scan NaN never wins); torch propagates it: a "
        "window holding NaN outputs NaN and its gradient goes to the NaN."
    ),
)
def pool_ignores_nan(p):
    fwd = p.original(POOL, "maxpool2d_forward")

    def maxpool2d_forward(x, kernel_size, stride):
        return fwd(np.where(np.isnan(x), -np.inf, x), kernel_size, stride)

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)


@mutant(
    bug="Windows read with strides computed as if the input were C-contiguous: right on "
    "the network's own arrays, garbage on transposed, Fortran, sliced or flipped views.",
    kill=[TP + "test_maxpool2d_noncontiguous_input_matches_torch_and_stays_unwritten"],
    diagnosis=(
        "the windows are read with strides computed as if the input were C-contiguous; "
        "take x.strides from the array (or np.ascontiguousarray(x) first)."
    ),
)
def pool_reads_memory_as_c_contiguous(p):
    fwd = p.original(POOL, "maxpool2d_forward")

    def maxpool2d_forward(x, kernel_size, stride):
        return fwd(as_if_c_contiguous(x), kernel_size, stride)

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)


@mutant(
    bug="ReLU'(0) = 1: the mask is x >= 0 instead of x > 0 (torch's threshold_backward "
    "gives 0 at 0); exact zeros are common after max(0, .) and on MNIST's background.",
    kill=[TR + "gradient_at_exact_zeros_is_zero_like_torch"],
    diagnosis=(
        "ReLU'(0) = 1 (a mask x >= 0); torch's gradient at exactly 0 is 0: mask with x > 0."
    ),
)
def relu_gradient_at_zero_is_one(p):
    fwd = p.original(RELU, "relu_forward")

    def relu_forward(x):
        y, passes = fwd(x)
        return y, passes | -(x == 0).astype(passes.dtype)  # exact zeros pass too

    p.patch(RELU, "relu_forward", relu_forward)


@mutant(
    bug="A leaky slope of 0.01 for negative inputs (LeakyReLU's default), forward and "
    "backward, where torch.relu gives 0: a habit carried over from GAN code.",
    kill=[RELU_TORCH],
    diagnosis=(
        "negative inputs pass a small slope (a leaky ReLU); torch.relu gives 0 and a zero "
        "gradient there: use np.maximum(x, 0) and the mask x > 0."
    ),
)
def relu_leaky(p):
    def relu_forward(x):
        return np.where(x > 0, x, x * x.dtype.type(0.01)), x.copy()

    def relu_backward(dy, passes):
        return np.where(passes > 0, dy, dy * dy.dtype.type(0.01))

    p.patch(RELU, "relu_forward", relu_forward)
    p.patch(RELU, "relu_backward", relu_backward)


@mutant(
    bug="NaN mapped to 0 (np.where(x > 0, x, 0)) where torch.relu propagates it, "
    "hiding a diverged network's NaN from every later check.",
    kill=[TR + "forward_propagates_nan_like_torch"],
    diagnosis=(
        "NaN becomes 0 (np.where(x > 0, x, 0)); torch.relu propagates NaN: use "
        "np.maximum(x, 0), which keeps it."
    ),
)
def relu_nan_becomes_zero(p):
    fwd = p.original(RELU, "relu_forward")

    def relu_forward(x):
        y, passes = fwd(x)
        return np.where(x > 0, x, x.dtype.type(0)), passes

    p.patch(RELU, "relu_forward", relu_forward)


@mutant(
    bug="Backward masks by the sign of the upstream gradient (dy > 0) as well as the "
    "input: a typo that still trains, slowly.",
    kill=[RELU_TORCH],
    diagnosis=(
        "backward also zeroes the gradient where dy < 0; ReLU's gradient depends on the "
        "input only: dx = dy * (x > 0)."
    ),
)
def relu_backward_masks_by_dy_sign(p):
    bwd = p.original(RELU, "relu_backward")

    def relu_backward(dy, passes):
        return np.where(dy > 0, bwd(dy, passes), dy.dtype.type(0))

    p.patch(RELU, "relu_backward", relu_backward)


@mutant(
    bug="Flatten in channels-last order (N, H, W, C), as Keras/TensorFlow do, instead of "
    "torch's (C, H, W): weights loaded from torch then see permuted features.",
    kill=[
        TF + "order_is_channel_then_row_then_column",
        TF + "matches_torch_and_backward_restores_the_shape",
    ],
    diagnosis=(
        "flatten reads the activations channels-last (N, H, W, C); torch flattens (C, H, "
        "W): x.reshape(N, -1) on the (N, C, H, W) array."
    ),
)
def flatten_channels_last(p):
    def forward(self, x):
        x = np.asarray(x)
        self._mutant_shape = x.shape
        nhwc = np.moveaxis(x, 1, -1) if x.ndim == 4 else x
        return nhwc.reshape(x.shape[0], -1)  # (N, H*W*C)

    def backward(self, dy):
        shape = self._mutant_shape
        if len(shape) != 4:
            return dy.reshape(shape)
        N, C, H, W = shape
        return np.moveaxis(dy.reshape(N, H, W, C), -1, 1).copy()  # (N, C, H, W)

    p.patch(FLATTEN, "Flatten.forward", forward)
    p.patch(FLATTEN, "Flatten.backward", backward)


@mutant(
    bug="Weight reshaped instead of transposed (x @ w.reshape(in, out)): same shape as "
    "w.T, wrong values; dw is consistent with it.",
    kill=[LINEAR_TORCH],
    diagnosis=(
        "the weight is reshaped instead of transposed (x @ W read as (in, out)); torch's "
        "Linear computes x @ W.T with W of shape (out, in)."
    ),
)
def linear_weight_reshaped_not_transposed(p):
    fwd, bwd = p.original(LINEAR, "linear_forward"), p.original(LINEAR, "linear_backward")

    def linear_forward(x, w, b):
        return fwd(x, w.reshape(w.shape[1], w.shape[0]).T, b)

    def linear_backward(dy, cache, input_grad=True, out=None):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, *written(out, dw.T.reshape(dw.shape).copy(), db)

    p.patch(LINEAR, "linear_forward", linear_forward)
    p.patch(LINEAR, "linear_backward", linear_backward)


@mutant(
    bug="Bias gradient summed over the wrong axis (dy.sum(axis=1), the batch kept): "
    "shape (N,) instead of (out,), equal shapes when N == out.",
    kill=[LINEAR_TORCH],
    diagnosis=(
        "the bias gradient is summed over the wrong axis (the features, keeping the "
        "batch); torch's is dy.sum(axis=0)."
    ),
)
def linear_bias_grad_wrong_axis(p):
    bwd = p.original(LINEAR, "linear_backward")

    def linear_backward(dy, cache, input_grad=True, out=None):
        dx, dw, _ = bwd(dy, cache, input_grad)
        return dx, *written(out, dw, dy.sum(axis=1))

    p.patch(LINEAR, "linear_backward", linear_backward)


@mutant(
    bug="Bias gradient averaged over the batch (dy.mean(axis=0)) instead of summed: the "
    "loss's 1/N applied twice; invisible at batch size 1.",
    kill=[LINEAR_TORCH],
    diagnosis=(
        "the bias gradient is averaged over the batch; the loss's 1/N is already in dy, "
        "so torch's db is dy.sum(axis=0)."
    ),
)
def linear_bias_grad_averaged(p):
    bwd = p.original(LINEAR, "linear_backward")

    def linear_backward(dy, cache, input_grad=True, out=None):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, *written(out, dw, db / dy.shape[0])

    p.patch(LINEAR, "linear_backward", linear_backward)


@mutant(
    bug="float64 silently computed in float32 (a float32 weight cast or buffer) and cast "
    "back: float64 results with float32 accuracy.",
    kill=[LINEAR_TORCH],
    diagnosis=(
        "float64 inputs are computed in float32 somewhere (a float32 weight or buffer); "
        "compute in the dtype of the inputs."
    ),
)
def linear_computes_float64_in_float32(p):
    fwd, bwd = p.original(LINEAR, "linear_forward"), p.original(LINEAR, "linear_backward")
    f32 = np.float32

    def linear_forward(x, w, b):
        y, cache = fwd(x.astype(f32), w.astype(f32), b.astype(f32))
        return y.astype(x.dtype), Wrapped(cache, (x.dtype,))

    def linear_backward(dy, cache, input_grad=True, out=None):
        grads = bwd(dy.astype(f32), cache.inner, input_grad)
        dx, dw, db = (None if g is None else g.astype(cache.extra[0]) for g in grads)
        return dx, *written(out, dw, db)

    p.patch(LINEAR, "linear_forward", linear_forward)
    p.patch(LINEAR, "linear_backward", linear_backward)


@mutant(
    bug="Linear.backward adds to grads instead of overwriting them (grads += dw without a "
    "zero_grad): every step after the first uses the sum of all past gradients.",
    kill=[TL + "second_backward_overwrites_the_gradients"],
    diagnosis=(
        "backward adds to the stored gradients instead of replacing them; set grads = dw "
        "(or zero them before each backward), as torch's zero_grad() does."
    ),
)
def linear_layer_accumulates_grads(p):
    backward = p.original(LINEAR, "Linear.backward")

    def linear_layer_backward(self, dy, *, input_grad=True):
        before = {k: np.array(v, copy=True) for k, v in self.grads.items()}
        dx = backward(self, dy, input_grad=input_grad)
        for k in before:
            self.grads[k] = self.grads[k] + before[k]
        return dx

    p.patch(LINEAR, "Linear.backward", linear_layer_backward)
