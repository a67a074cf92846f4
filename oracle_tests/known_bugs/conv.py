"""Conv2d mutants. Each wraps the public conv2d_forward/conv2d_backward pair (or a
Conv2d method) and alters what goes in or comes out, so it survives rewrites of the
internals: the original computes, the mutant bends its inputs or outputs.
"""

from dataclasses import dataclass

import numpy as np

from .core import mutant

CONV = "layers.conv"
T = "oracle_tests/checks/test_conv2d.py::"
FORWARD_BACKWARD = T + "test_conv2d_matches_torch_for_any_shape_stride_and_padding"
FORMULA = T + "test_conv2d_stride_and_padding_read_the_pixels_of_the_formula"
LAYER = T + "test_conv2d_second_backward_overwrites_the_gradients"


@dataclass
class Wrapped:
    """A mutant's cache: the original's cache plus what the mutant needs in backward."""

    inner: object
    extra: tuple


def _pair(p):
    return p.original(CONV, "conv2d_forward"), p.original(CONV, "conv2d_backward")


def _patch_pair(p, forward, backward) -> None:
    p.patch(CONV, "conv2d_forward", forward)
    p.patch(CONV, "conv2d_backward", backward)


def as_if_c_contiguous(x: np.ndarray) -> np.ndarray:
    """What `as_strided(x, strides=<C strides of x.shape>)` reads: the memory in storage
    order, taken as row-major. Equal to x for C-contiguous arrays, scrambled otherwise.
    (Reading the storage order keeps it in bounds; real C strides could read past it.)
    """
    return x if x.flags.c_contiguous else np.ravel(x, order="K").reshape(x.shape)


@mutant(
    bug="True convolution (kernel flipped in H and W) instead of torch's cross-correlation; "
    "textbooks define convolution with the flip. dw is flipped back so that the mutant "
    "is self-consistent and finite differences alone cannot see it.",
    kill=[T + "test_conv2d_is_cross_correlation_not_convolution", FORWARD_BACKWARD],
    diagnosis=(
        "the kernel is flipped (a true convolution); torch's conv2d is a cross- "
        "correlation: index the kernel w[o, c, i, j] against x[.., y + i, x + j], without "
        "flipping it."
    ),
)
def conv_flipped_kernel(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        return fwd(x, w[:, :, ::-1, ::-1], b, stride, padding)

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, np.ascontiguousarray(dw[:, :, ::-1, ::-1]), db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Kernel read as (kW, kH): the im2col reshape lists kernel columns before rows, "
    "a layout slip that square kernels never reveal by shape. Self-consistent in dw.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the kernel is read as (kW, kH), its rows and columns swapped; torch's weight is "
        "(C_out, C_in, kH, kW): check the reshape of the kernel in im2col."
    ),
)
def conv_kernel_transposed(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        return fwd(x, w.swapaxes(2, 3), b, stride, padding)

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, np.ascontiguousarray(dw.swapaxes(2, 3)), db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Weights laid out (C_in, C_out, kH, kW), as in a transposed conv or code that loops "
    "over input channels first, and torch's (C_out, C_in, kH, kW) array reshaped into it: "
    "the right size, scrambled filters; invisible with one input channel (the seed's conv).",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the weight is read as (C_in, C_out, kH, kW); torch's is (C_out, C_in, kH, kW): "
        "index it w[o, c], or transpose the torch weight (not reshape it) when loading "
        "it."
    ),
)
def conv_weight_read_as_in_out(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        O, C, kH, kW = w.shape
        return fwd(x, w.reshape(C, O, kH, kW).swapaxes(0, 1), b, stride, padding)

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        O, C, kH, kW = dw.shape
        return dx, np.ascontiguousarray(dw.swapaxes(0, 1)).reshape(O, C, kH, kW), db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Weights laid out channels-last, (C_out, kH, kW, C_in) as TensorFlow keeps them, "
    "and torch's array reshaped into it: scrambled filters wherever C_in > 1.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the weight is read channels-last, (C_out, kH, kW, C_in); torch's is (C_out, "
        "C_in, kH, kW): transpose with w.transpose(0, 2, 3, 1), not a reshape."
    ),
)
def conv_weight_channels_last(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        O, C, kH, kW = w.shape
        return fwd(x, w.reshape(O, kH, kW, C).transpose(0, 3, 1, 2), b, stride, padding)

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        O, C, kH, kW = dw.shape
        return dx, np.ascontiguousarray(dw.transpose(0, 2, 3, 1)).reshape(O, C, kH, kW), db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Output size (H + 2p - k + 1) // s instead of (H + 2p - k) // s + 1: the two agree "
    "at stride 1 (the seed's net), so a stride-1-only suite misses the dropped last row.",
    kill=[FORMULA, FORWARD_BACKWARD],
    diagnosis=(
        "the output size is computed as (H + 2p - k + 1) // s; torch's is (H + 2p - k) // "
        "s + 1, which differs once the stride is above 1."
    ),
)
def conv_output_size_off_by_one_for_stride(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x, w, b, stride, padding)
        Ho = (x.shape[2] + 2 * padding - w.shape[2] + 1) // stride
        Wo = (x.shape[3] + 2 * padding - w.shape[3] + 1) // stride
        return y[:, :, :Ho, :Wo].copy(), Wrapped(cache, (y.shape,))

    def conv2d_backward(dy, cache, input_grad=True):
        full = np.zeros(cache.extra[0], dtype=dy.dtype)
        full[:, :, : dy.shape[2], : dy.shape[3]] = dy
        return bwd(full, cache.inner, input_grad)

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="col2im scatters the patch gradients with step 1 instead of the stride "
    "(dxp[:, :, i:i+Ho, j:j+Wo] += ...): dx is right at stride 1 only, y and dw always are.",
    kill=[FORMULA, FORWARD_BACKWARD],
    diagnosis=(
        "the input gradient scatters the patches with step 1; each patch must go back to "
        "the place it was read from, s pixels apart (x[.., i:i+s*Ho:s, ..] in col2im)."
    ),
)
def conv_dx_ignores_stride(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x, w, b, stride, padding)
        return y, Wrapped(cache, (w.astype(x.dtype), x.shape, padding))

    def conv2d_backward(dy, cache, input_grad=True):
        _, dw, db = bwd(dy, cache.inner, False)
        if not input_grad:
            return None, dw, db
        w, (N, C, H, W), pad = cache.extra
        Ho, Wo = dy.shape[2:]
        dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dy.dtype)
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                dxp[:, :, i : i + Ho, j : j + Wo] += np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
        return dxp[:, :, pad : pad + H, pad : pad + W].copy(), dw, db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Padding 2p after the input and none before (pad_width=(0, 2p) for (p, p)): the "
    "output shape is right, every value is shifted by p pixels.",
    kill=[FORMULA, FORWARD_BACKWARD],
    diagnosis=(
        "the padding is all on one side (2p after the image, none before); torch pads p "
        "on each side: np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))."
    ),
)
def conv_padding_one_sided(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        pad = ((0, 0), (0, 0), (0, 2 * padding), (0, 2 * padding))
        y, cache = fwd(np.pad(x, pad), w, b, stride, 0)
        return y, Wrapped(cache, x.shape[2:])

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache.inner, input_grad)
        H, W = cache.extra
        return (None if dx is None else dx[:, :, :H, :W].copy()), dw, db

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Bias gradient averaged over the batch (dy.mean over N) instead of summed, as if "
    "the loss's 1/N had to be applied again; invisible with batch size 1.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the bias gradient is averaged over the batch; torch sums it over the batch and "
        "every output position (the loss's mean is already in dy): db = dy.sum(axis=(0, "
        "2, 3))."
    ),
)
def conv_bias_grad_averaged_over_batch(p):
    bwd = p.original(CONV, "conv2d_backward")

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, dw, db / dy.shape[0]

    p.patch(CONV, "conv2d_backward", conv2d_backward)


@mutant(
    bug="Bias gradient averaged over the output positions (dy.mean(axis=(2, 3)).sum(0)) "
    "instead of summed over them: a mean that only the 1x1 output of a full-size kernel hides.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the bias gradient is averaged over the output positions; torch sums it over the "
        "batch and every position: db = dy.sum(axis=(0, 2, 3))."
    ),
)
def conv_bias_grad_averaged_over_positions(p):
    bwd = p.original(CONV, "conv2d_backward")

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, dw, db / (dy.shape[2] * dy.shape[3])

    p.patch(CONV, "conv2d_backward", conv2d_backward)


@mutant(
    bug="Weight gradient divided by the batch size, the loss's 1/N applied a second time "
    "(it is already in dy): training still works with a smaller effective learning rate.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "the weight gradient is divided by the batch size; the loss's 1/N is already in "
        "dy, so torch's dw is the plain sum over the batch: drop the / N."
    ),
)
def conv_weight_grad_divided_by_batch(p):
    bwd = p.original(CONV, "conv2d_backward")

    def conv2d_backward(dy, cache, input_grad=True):
        dx, dw, db = bwd(dy, cache, input_grad)
        return dx, dw / dy.shape[0], db

    p.patch(CONV, "conv2d_backward", conv2d_backward)


@mutant(
    bug="float64 silently computed in float32 (a hard-coded np.float32 buffer) and cast "
    "back: dtypes look right, values are off by ~1e-7 relative.",
    kill=[FORWARD_BACKWARD],
    diagnosis=(
        "float64 inputs are computed in float32 somewhere (a float32 buffer or cast); "
        "compute in the dtype of the inputs."
    ),
)
def conv_computes_float64_in_float32(p):
    fwd, bwd = _pair(p)
    f32 = np.float32

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x.astype(f32), w.astype(f32), b.astype(f32), stride, padding)
        return y.astype(x.dtype), Wrapped(cache, (x.dtype,))

    def conv2d_backward(dy, cache, input_grad=True):
        grads = bwd(dy.astype(f32), cache.inner, input_grad)
        return tuple(None if g is None else g.astype(cache.extra[0]) for g in grads)

    _patch_pair(p, conv2d_forward, conv2d_backward)


@mutant(
    bug="Patches read with strides computed from the shape as if the input were "
    "C-contiguous: right for every array the network makes itself, garbage for a "
    "transposed, Fortran-ordered, sliced or flipped input.",
    kill=[T + "test_conv2d_noncontiguous_input_matches_torch_and_stays_unwritten"],
    diagnosis=(
        "the patches are read with strides computed as if the input were C-contiguous; "
        "take x.strides from the array (or np.ascontiguousarray(x) first)."
    ),
)
def conv_reads_memory_as_c_contiguous(p):
    fwd = p.original(CONV, "conv2d_forward")

    def conv2d_forward(x, w, b, stride=1, padding=0):
        return fwd(as_if_c_contiguous(x), w, b, stride, padding)

    p.patch(CONV, "conv2d_forward", conv2d_forward)


@mutant(
    bug="Conv2d.backward adds to grads (grads += dw) instead of overwriting them, with no "
    "zero_grad: the first batch is right, every later one carries all earlier gradients.",
    kill=[LAYER],
    diagnosis=(
        "backward adds to the stored gradients instead of replacing them; set grads = dw "
        "(or zero them before each backward), as torch's zero_grad() does."
    ),
)
def conv_layer_accumulates_grads(p):
    backward = p.original(CONV, "Conv2d.backward")

    def conv2d_layer_backward(self, dy, *, input_grad=True):
        before = {k: np.array(v, copy=True) for k, v in self.grads.items()}
        dx = backward(self, dy, input_grad=input_grad)
        for k in before:
            self.grads[k] = self.grads[k] + before[k]
        return dx

    p.patch(CONV, "Conv2d.backward", conv2d_layer_backward)


@mutant(
    bug="CONTROL, must survive: the wrapping machinery itself (a Wrapped cache, copies, "
    "casts to the same dtype) around a correct conv. Proves kills are not artefacts.",
    kill=[FORWARD_BACKWARD, FORMULA, LAYER],
    survives=True,
)
def control_conv_wrapped_identity(p):
    fwd, bwd = _pair(p)

    def conv2d_forward(x, w, b, stride=1, padding=0):
        y, cache = fwd(x, w.astype(x.dtype), b, stride, padding)
        return y.copy(), Wrapped(cache, (x.dtype,))

    def conv2d_backward(dy, cache, input_grad=True):
        return bwd(dy, cache.inner, input_grad)

    _patch_pair(p, conv2d_forward, conv2d_backward)
