"""BatchNorm, Dropout and AvgPool2d mutants: the layers with state, and average pooling.

BatchNorm's functional core (reference/layers/norm.py) serves both BatchNorm2d and
BatchNorm1d, so each BatchNorm bug is registered twice, once per factory
(`batchnorm2d_...` killed by test_batchnorm.py, `batchnorm1d_...` by
test_batchnorm1d.py): the diagnosis names a bug among the candidates of the layer that
failed, and a mutant names one factory.

Dropout is random. The reference's adapter seeds every dropout layer alike, so a bug
planted in the reference replays exactly in the diagnosis's private copy, and the
diagnosis matrix names it. Anyone else's random masks cannot be replayed on the
reference: for them, the replay names a Dropout bug only in the deterministic checks
(p = 0 shows the keep-probability reading, eval mode shows test-time scaling), and the
checks' messages and the convention probes name the rest (a fresh mask in backward has
no deterministic check: its message names it).
"""

import numpy as np

from .conv import Wrapped
from .core import mutant

NORM, DROPOUT, AVGPOOL = "layers.norm", "layers.dropout", "layers.avgpool"
TB = {
    "batchnorm2d": "oracle_tests/checks/test_batchnorm.py::test_batchnorm2d_",
    "batchnorm1d": "oracle_tests/checks/test_batchnorm1d.py::test_batchnorm1d_",
}
RUNNING = "running_statistics_match_torch_then_eval_mode"
TD = "oracle_tests/checks/test_dropout.py::test_dropout_"
TA = "oracle_tests/checks/test_avgpool2d.py::test_avgpool2d_"


def batchnorm_mutant(*, bug: str, kill: list[str], diagnosis: str | None = None, survives=False):
    """Register `make` twice: as batchnorm2d_NAME and batchnorm1d_NAME, each killed by its
    own module's checks (`kill` holds test-name suffixes) and diagnosed in its factory."""

    def register(make):
        for factory, prefix in TB.items():

            def twin(p, make=make):
                make(p)

            twin.__name__ = f"{factory}_{make.__name__}"
            mutant(
                bug=bug,
                kill=[prefix + k for k in kill],
                diagnosis=diagnosis,
                factory=factory,
                survives=survives,
            )(twin)
        return make

    return register


# --- BatchNorm ------------------------------------------------------------------------
def _update(p, form: str, unbiased: bool) -> None:
    """Patch update_running_stats: the form ("torch", "m-running", or "translated": the
    m-running form with m = 1 - momentum) and whether the variance is unbiased."""

    def update_running_stats(running_mean, running_var, mean, var, n, momentum):
        v = var.astype(np.float64) * (n / (n - 1) if unbiased else 1.0)
        m = {"torch": momentum, "m-running": 1 - momentum, "translated": momentum}[form]
        if form == "translated":  # m * running + (1 - m) * batch with m = 1 - momentum
            keep = 1 - momentum
            new_mean = keep * running_mean + (1 - keep) * mean.astype(np.float64)
            new_var = keep * running_var + (1 - keep) * v
        else:
            new_mean = (1 - m) * running_mean + m * mean.astype(np.float64)
            new_var = (1 - m) * running_var + m * v
        return new_mean.astype(running_mean.dtype), new_var.astype(running_var.dtype)

    p.patch(NORM, "update_running_stats", update_running_stats)


@batchnorm_mutant(
    bug="Running statistics updated in the cs231n/Keras form m * running + (1 - m) * batch "
    "with the momentum torch hands in (0.1): the batch gets weight 0.9, so the running "
    "statistics follow the last batch almost entirely.",
    kill=[RUNNING],
    diagnosis=(
        "the running statistics are updated as m * running + (1 - m) * batch with the "
        "momentum handed in (the cs231n/Keras form); torch's is (1 - m) * running + m * "
        "batch: use that form, or have the adapter hand your layer m = 1 - momentum."
    ),
)
def running_update_m_running_form(p):
    _update(p, "m-running", unbiased=True)


@batchnorm_mutant(
    bug="Running variance updated with the biased batch variance (np.var, / n), as in "
    "cs231n and most from-scratch code; torch keeps the unbiased one (/ (n - 1)).",
    kill=[RUNNING],
    diagnosis=(
        "the running variance takes the biased batch variance (/ n); torch normalises with "
        "the biased one but keeps the unbiased one (/ (n - 1)) in the running variance: "
        "multiply the batch variance by n / (n - 1) before the update."
    ),
)
def running_var_biased(p):
    _update(p, "torch", unbiased=False)


@batchnorm_mutant(
    bug="Running statistics that start at zeros (cs231n's np.zeros(D) for both), ignoring "
    "the arrays handed in: the mean's start agrees with torch's default, the variance's "
    "does not, and eval mode soon after the start divides by ~sqrt(eps).",
    kill=[RUNNING, "eval_mode_normalises_with_the_running_statistics"],
    diagnosis=(
        "the running statistics start at zeros whatever the layer is handed (as cs231n's "
        "np.zeros(D)), so the running variance starts at 0; torch starts it at ones, or at "
        "the running_var handed in: start from the running_mean and running_var you are given."
    ),
)
def running_var_starts_at_zeros(p):
    def initial_running_stats(num_features, dtype, running_mean=None, running_var=None):
        return np.zeros(num_features, dtype), np.zeros(num_features, dtype)

    p.patch(NORM, "initial_running_stats", initial_running_stats)


@batchnorm_mutant(
    bug="eps added to the standard deviation, 1 / (sqrt(var) + eps), instead of inside the "
    "square root: invisible for var ~ 1 at float32 precision, a factor ~3 for var ~ eps.",
    kill=["eps_goes_inside_the_square_root", "matches_torch_in_training_mode"],
    diagnosis=(
        "eps is added to the standard deviation (sqrt(var) + eps); torch adds it to the "
        "variance: divide by sqrt(var + eps)."
    ),
)
def eps_outside_the_square_root(p):
    def inverse_std(var, eps):
        return 1.0 / (np.sqrt(var) + var.dtype.type(eps))

    p.patch(NORM, "inverse_std", inverse_std)


@batchnorm_mutant(
    bug="Training-mode backward that treats the batch mean and variance as constants, "
    "dx = dy * weight / sqrt(var + eps): eval mode's gradient, wrong whenever they depend "
    "on x (always in training mode).",
    kill=["matches_torch_in_training_mode", "gradients_match_finite_differences"],
    diagnosis=(
        "backward treats the batch mean and variance as constants (dx = dy * weight / "
        "sqrt(var + eps)); in training mode they depend on x: dx = (g - mean(g) - xhat * "
        "mean(g * xhat)) / sqrt(var + eps), with g = dy * weight and channel means."
    ),
)
def backward_constant_statistics(p):
    bwd = p.original(NORM, "batchnorm_backward")

    def batchnorm_backward(dy, cache):
        return bwd(dy, ("eval", *cache[1:]))

    p.patch(NORM, "batchnorm_backward", batchnorm_backward)


@batchnorm_mutant(
    bug="CONTROL, must survive: the update written in the m * running + (1 - m) * batch "
    "form with m = 1 - momentum, as an adapter that translates torch's momentum does.",
    kill=[RUNNING],
    survives=True,
)
def control_running_update_translated(p):
    _update(p, "translated", unbiased=True)


# --- Dropout --------------------------------------------------------------------------
@mutant(
    bug="p read as the KEEP probability (cs231n's dropout_forward and a widely copied "
    "course exercise): (rand < p) / p drops 80% at p = 0.2, and p = 0 gives 0/0 = NaN.",
    kill=[
        TD + "drops_a_share_p_of_the_elements",
        TD + "with_p_zero_is_the_identity",
        TD + "scales_the_kept_values_by_one_over_one_minus_p",
    ],
    diagnosis=(
        "p is read as the probability of keeping an element (cs231n's convention); torch's "
        "p is the probability of dropping it: keep where rand >= p and scale by 1 / (1 - p), "
        "or have the adapter hand your layer 1 - p."
    ),
    factory="dropout",
)
def dropout_p_is_keep_probability(p):
    def dropout_forward(x, p, rng):
        keep = rng.random(x.shape) < p
        with np.errstate(divide="ignore", invalid="ignore"):
            mask = keep.astype(x.dtype) / x.dtype.type(p)
        return x * mask, mask

    p.patch(DROPOUT, "dropout_forward", dropout_forward)


@mutant(
    bug="Dropout scaled at test time (the original 2012 form): training keeps x unscaled "
    "and eval mode multiplies by 1 - p, where torch's inverted dropout scales by 1/(1 - p) "
    "in training and leaves eval mode the identity.",
    kill=[
        TD + "scales_the_kept_values_by_one_over_one_minus_p",
        TD + "is_the_identity_in_eval_mode",
    ],
    diagnosis=(
        "dropout is scaled at test time (kept values pass unscaled in training, eval mode "
        "multiplies by 1 - p); torch's inverted dropout scales the kept values by 1 / (1 - p) "
        "in training and is the identity in eval mode."
    ),
    factory="dropout",
)
def dropout_scaled_at_test_time(p):
    def forward(self, x):
        self._y_shape = x.shape
        if not self.training:
            self._cache = ("identity", None)
            return x * x.dtype.type(1 - self.p)
        mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
        self._cache = ("mask", mask)
        return x * mask

    p.patch(DROPOUT, "Dropout.forward", forward)


@mutant(
    bug="Backward draws a fresh mask instead of reusing the forward's (the mask is not "
    "cached): the gradient flows through elements the forward dropped.",
    kill=[TD + "backward_uses_the_forward_mask_and_scale"],
    diagnosis=(
        "backward draws a new random mask instead of reusing the forward's; keep the "
        "forward's scaled mask and multiply dy by it."
    ),
    factory="dropout",
)
def dropout_backward_fresh_mask(p):
    fwd = p.original(DROPOUT, "dropout_forward")

    def dropout_forward(x, p, rng):
        y, mask = fwd(x, p, rng)
        return y, Wrapped(mask, (p, rng))

    def dropout_backward(dy, mask):
        p, rng = mask.extra
        keep = rng.random(dy.shape) >= p
        return dy * (keep.astype(dy.dtype) * dy.dtype.type(1 / (1 - p)))

    p.patch(DROPOUT, "dropout_forward", dropout_forward)
    p.patch(DROPOUT, "dropout_backward", dropout_backward)


# --- AvgPool2d -----------------------------------------------------------------------
@mutant(
    bug="Average-pool backward without the 1/k^2 factor: every input of a window gets the "
    "window's whole upstream gradient, k*k times torch's.",
    kill=[TA + "matches_torch_on_the_seed_configuration"],
    diagnosis=(
        "backward gives each input of a window the window's whole upstream gradient; the "
        "derivative of a mean of k*k values is 1/k^2: divide dy by k*k."
    ),
    factory="avgpool2d",
)
def avgpool_backward_without_one_over_k_squared(p):
    bwd = p.original(AVGPOOL, "avgpool2d_backward")

    def avgpool2d_backward(dy, cache):
        k = cache[1]
        return bwd(dy * dy.dtype.type(k * k), cache)

    p.patch(AVGPOOL, "avgpool2d_backward", avgpool2d_backward)


@mutant(
    bug="Overlapping windows (stride < kernel) overwrite the gradient of the inputs they "
    "share (dx[window] = dy / k^2, the deeplearning.ai loop with = for +=).",
    kill=[TA + "overlapping_windows_add_up_their_shares"],
    diagnosis=(
        "overlapping windows overwrite the gradient of the inputs they share; each window "
        "must add its share: dx[window] += dy / k^2."
    ),
    factory="avgpool2d",
)
def avgpool_overlapping_windows_overwrite(p):
    def avgpool2d_backward(dy, cache):
        x_shape, k, s = cache
        dx = np.zeros(x_shape, dtype=dy.dtype)
        share = dy / dy.dtype.type(k * k)  # (N, C, Ho, Wo)
        for i in range(dy.shape[2]):
            for j in range(dy.shape[3]):
                dx[:, :, i * s : i * s + k, j * s : j * s + k] = share[:, :, i, j, None, None]
        return dx

    p.patch(AVGPOOL, "avgpool2d_backward", avgpool2d_backward)


@mutant(
    bug="Output size H // stride: right for stride == kernel, too many windows for a "
    "stride below the kernel (the last ones run off the edge and average in zeros).",
    kill=[TA + "output_size_for_a_stride_smaller_than_the_kernel"],
    diagnosis=(
        "the output size is H // stride, so windows run off the edge; torch's is "
        "floor((H - k) / s) + 1 per axis (floor mode, padding 0)."
    ),
    factory="avgpool2d",
)
def avgpool_output_size_h_over_stride(p):
    fwd = p.original(AVGPOOL, "avgpool2d_forward")
    bwd = p.original(AVGPOOL, "avgpool2d_backward")

    def avgpool2d_forward(x, kernel_size, stride):
        H, W = x.shape[2:]
        extra = [max(0, (n // stride - 1) * stride + kernel_size - n) for n in (H, W)]
        padded = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
        y, cache = fwd(padded, kernel_size, stride)
        return y[:, :, : H // stride, : W // stride], Wrapped(cache, (H, W))

    def avgpool2d_backward(dy, cache):
        H, W = cache.extra
        x_shape, k, s = cache.inner
        Ho, Wo = (x_shape[2] - k) // s + 1, (x_shape[3] - k) // s + 1
        full = np.zeros((*dy.shape[:2], Ho, Wo), dtype=dy.dtype)
        full[:, :, : dy.shape[2], : dy.shape[3]] = dy
        return bwd(full, cache.inner)[:, :, :H, :W].copy()

    p.patch(AVGPOOL, "avgpool2d_forward", avgpool2d_forward)
    p.patch(AVGPOOL, "avgpool2d_backward", avgpool2d_backward)
