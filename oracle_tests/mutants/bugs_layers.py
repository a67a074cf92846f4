"""MaxPool2d, ReLU, Flatten and Linear mutants.

The pooling tie mutants keep the original forward (so y is right) and re-route the
gradient and the winner mask with `route()`, a small self-contained implementation of
max-pool backward whose tie rule is a parameter; rule "torch" is the correct one and
is what the control uses.
"""

import numpy as np

from .bugs_conv import Wrapped, as_if_c_contiguous
from .core import mutant

POOL, RELU, FLATTEN, LINEAR = "layers.pool", "layers.activation", "layers.flatten", "layers.linear"
TP = "oracle_tests/checks/test_maxpool2d.py::"
POOL_TORCH = TP + "test_maxpool2d_tied_windows_route_to_the_first_max_like_torch"
POOL_TIES = TP + "test_maxpool2d_ties_route_to_first_max"
TR = "oracle_tests/checks/test_relu.py::test_relu_"
RELU_TORCH = TR + "matches_torch_with_zeros_and_nan"
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
    holds NaN); "last": the last maximum; "all": every position equal to the maximum.
    assign=True overwrites where overlapping windows share a winner instead of adding.
    """
    Ho, Wo = y.shape[2:]
    offsets = [(i, j) for i in range(k) for j in range(k)]  # row-major window order
    view = [(..., slice(i, i + s * Ho, s), slice(j, j + s * Wo, s)) for i, j in offsets]
    nan_y = np.isnan(y)
    hits = np.stack([(x[v] == y) | (np.isnan(x[v]) & nan_y) for v in view])  # (k*k, N, C, Ho, Wo)
    first = hits & (np.cumsum(hits, axis=0) == 1)
    last = hits & (np.cumsum(hits[::-1], axis=0)[::-1] == 1)
    keep = {"torch": np.where(nan_y, last, first), "last": last, "all": hits}[rule]
    dx = np.zeros(x.shape, dtype=None if dy is None else dy.dtype)
    mask = np.zeros(x.shape, dtype=bool)
    for n, v in enumerate(view):
        mask[v] |= keep[n]
        if dy is None:
            continue
        if assign:
            dx[v] = np.where(keep[n], dy, dx[v])
        else:
            dx[v] += np.where(keep[n], dy, 0)
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
)
def pool_ties_to_every_max(p):
    _rerouted_pool(p, "all")


@mutant(
    bug="Ties sent to the LAST maximum (a `>=` instead of `>` in the scan, or argmax over "
    "the reversed window); torch's CPU kernel keeps the first.",
    kill=[POOL_TIES, POOL_TORCH],
)
def pool_ties_to_last_max(p):
    _rerouted_pool(p, "last")


@mutant(
    bug="Overlapping windows (stride < kernel) that share a winner overwrite its gradient "
    "(dx[idx] = dy, the non-overlapping fast path used for every stride) instead of adding.",
    kill=[TP + "test_maxpool2d_overlapping_windows_accumulate_the_gradient"],
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
    kill=[TP + "test_maxpool2d_nan_propagates_and_routes_gradient_like_torch"],
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
)
def pool_reads_memory_as_c_contiguous(p):
    fwd = p.original(POOL, "maxpool2d_forward")

    def maxpool2d_forward(x, kernel_size, stride):
        return fwd(as_if_c_contiguous(x), kernel_size, stride)

    p.patch(POOL, "maxpool2d_forward", maxpool2d_forward)


@mutant(
    bug="ReLU'(0) = 1: the mask is x >= 0 instead of x > 0 (torch's threshold_backward "
    "gives 0 at 0); exact zeros are common after max(0, .) and on MNIST's background.",
    kill=[TR + "gradient_at_exact_zero_is_zero", RELU_TORCH],
)
def relu_gradient_at_zero_is_one(p):
    fwd = p.original(RELU, "relu_forward")

    def relu_forward(x):
        y, passes = fwd(x)
        return y, passes | -(x == 0).astype(passes.dtype)  # exact zeros pass too

    p.patch(RELU, "relu_forward", relu_forward)


@mutant(
    bug="NaN mapped to 0 (np.where(x > 0, x, 0)) where torch.relu propagates it, "
    "hiding a diverged network's NaN from every later check.",
    kill=[TR + "propagates_nan_and_passes_its_gradient_like_torch", RELU_TORCH],
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
)
def linear_bias_grad_wrong_axis(p):
    bwd = p.original(LINEAR, "linear_backward")

    def linear_backward(dy, cache, input_grad=True, out=None):
        dx, dw, _ = bwd(dy, cache, input_grad)
        return dx, *written(out, dw, dy.sum(axis=1))

    p.patch(LINEAR, "linear_backward", linear_backward)


@mutant(
    bug="float64 silently computed in float32 (a float32 weight cast or buffer) and cast "
    "back: float64 results with float32 accuracy.",
    kill=[LINEAR_TORCH],
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
