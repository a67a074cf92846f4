"""Where no known bug explains a layer, the diagnosis says how its outputs differ
(signatures.py), with no advice: a dtype, a factor of N, a write into an argument, NaN
only, an Adam variant fitted to its steps. Each case records a tape of one small
in-memory adapter, with one thing changed from the reference, and diagnoses it."""

from types import SimpleNamespace

import numpy as np
import pytest

from oracle_tests import diagnosis
from oracle_tests.contract import Adapter, CheckFailure, Implementation
from reference.adapter import conv2d, linear, relu

from .test_conventions import CustomAdam, Wrap


def implementation(**factories) -> Implementation:
    obj = SimpleNamespace(**factories)
    return Implementation(Adapter(obj, "sig", "sig", "sig", ("float64", "float32"), True))


def diagnosed(recording) -> tuple[list[str], list[str]]:
    """(known bugs named, signature ids) of the recorded tape."""
    found = diagnosis.diagnose(recording)
    sigs = [s["id"] for layer in found["layers"] for s in layer["signatures"]]
    return found["diagnosed"], sigs


def run_linear(impl, dtype=np.float64):
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(3).astype(dtype)
    layer = impl.linear(w, b)
    x = rng.standard_normal((5, 4)).astype(dtype)
    try:
        layer.forward(x)
        layer.backward(rng.standard_normal((5, 3)).astype(dtype))
        layer.grads  # noqa: B018  (read through the wrapper, which records it)
    except CheckFailure:
        pass  # what the check would fail on; the tape has the call


def test_the_right_values_in_float64_for_float32_inputs_are_a_dtype_not_precision(recording):
    impl = implementation(linear=lambda w, b: Wrap(linear(w, b), f=lambda y: y.astype(float)))
    run_linear(impl, np.float32)
    bugs, sigs = diagnosed(recording)
    assert "signature:wrong-dtype" in sigs, sigs
    assert "precision" not in diagnosis.diagnose(recording)["text"]


def test_a_weight_gradient_divided_by_the_batch_is_a_ratio_of_1_over_n(recording):
    class PerSampleWeightGrad:
        def __init__(self, w, b):
            self.layer = linear(w, b)

        def forward(self, x):
            self.n = len(x)
            return self.layer.forward(x)

        def backward(self, dy):
            return self.layer.backward(dy)

        @property
        def grads(self):
            g = dict(self.layer.grads)
            g["weight"] = g["weight"] / self.n
            return g

    run_linear(implementation(linear=PerSampleWeightGrad))
    bugs, sigs = diagnosed(recording)
    assert bugs == [] and "signature:ratio:1/N" in sigs, (bugs, sigs)


def test_a_backward_that_writes_into_its_upstream_gradient_is_named_a_write(recording):
    class Scribbler:
        def __init__(self):
            self.layer = relu()

        def forward(self, x):
            return self.layer.forward(x)

        def backward(self, dy):
            dx = self.layer.backward(dy)
            dy *= 0  # scribbles on the suite's array after using it
            return dx

    impl = implementation(relu=Scribbler)
    layer = impl.relu(np.float64)
    layer.forward(np.array([[1.0, -2.0, 3.0]]))
    with pytest.raises(CheckFailure, match="wrote into its argument 1"):
        layer.backward(np.array([[0.5, 0.25, -1.0]]))
    bugs, sigs = diagnosed(recording)
    # The known bug writes other values into dy, but the same argument: either names it.
    assert (bugs, sigs) in [
        ([], ["signature:writes-input"]),
        (["relu_backward_writes_into_dy"], []),
    ]


def test_nan_to_seven_in_the_forward_differs_only_at_nan(recording):
    impl = implementation(relu=lambda: Wrap(relu(), f=lambda y: np.nan_to_num(y, nan=7.0)))
    layer = impl.relu(np.float64)
    layer.forward(np.array([[np.nan, -1.0, 2.0, np.nan, 0.5]]))
    bugs, sigs = diagnosed(recording)
    assert (bugs, sigs) == ([], ["signature:only-at:nan"])


def test_an_adam_that_resets_its_moments_every_step_is_fitted_as_such(recording):
    class Forgetful(CustomAdam):
        def step(self, grads):
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
            super().step(grads)

    impl = implementation(adam=Forgetful)
    rng = np.random.default_rng(1)
    params = [rng.standard_normal(4), rng.standard_normal((2, 2))]
    opt = impl.adam(params, 0.01, (0.9, 0.999), 1e-8)
    for _ in range(4):
        opt.step([rng.standard_normal(4), rng.standard_normal((2, 2))])
    bugs, sigs = diagnosed(recording)
    assert (bugs, sigs) in [
        ([], ["signature:adam:moments-reset"]),
        (["adam_state_reset_every_step"], []),
    ]


def test_a_dx_wrong_only_on_the_padded_border_is_said_to_differ_there(recording):
    class TopBorderDropped:
        def __init__(self, w, b, s, p):
            self.layer, self.p = conv2d(w, b, s, p), p

        def forward(self, x):
            return self.layer.forward(x)

        def backward(self, dy):
            dx = self.layer.backward(dy).copy()
            dx[:, :, : self.p, :] = 0  # the top rows' gradient lost
            return dx

        @property
        def grads(self):
            return self.layer.grads

    rng = np.random.default_rng(0)
    conv = implementation(conv2d=TopBorderDropped).conv2d(
        rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2), 1, 1
    )
    y = conv.forward(rng.standard_normal((1, 2, 7, 7)))
    conv.backward(rng.standard_normal(y.shape))
    assert diagnosed(recording) == ([], ["signature:only-at:padding"])


# --- Accumulation, counterfactuals, special values before ratios ---------------------------
class Compounding:
    """A dense layer as a tiny autograd engine runs it when backward is called twice on one
    graph: the output node's gradient and every gradient below it are added into (+=),
    never zeroed, so the second call gives 2*d1 + d2."""

    def __init__(self, w, b):
        self.w, self.b = w, b

    def forward(self, x):
        self.x = x
        self.gy, self.gx = np.zeros((len(x), len(self.w))), np.zeros_like(x)
        self.gw, self.gb = np.zeros_like(self.w), np.zeros_like(self.b)
        return x @ self.w.T + self.b

    def backward(self, dy):
        self.gy += dy
        self.gx += self.gy @ self.w
        self.gw += self.gy.T @ self.x
        self.gb += self.gy.sum(axis=0)
        return self.gx.copy()

    @property
    def grads(self):
        return {"weight": self.gw.copy(), "bias": self.gb.copy()}


def test_gradients_that_compound_over_two_backward_calls_are_said_to_accumulate(recording):
    rng = np.random.default_rng(0)
    layer = implementation(linear=Compounding).linear(
        rng.standard_normal((3, 4)), rng.standard_normal(3)
    )
    layer.forward(rng.standard_normal((5, 4)))
    for _ in range(2):
        layer.backward(rng.standard_normal((5, 3)))
        layer.grads  # noqa: B018  (read through the wrapper, which records it)
    assert "signature:state:accumulates" in diagnosed(recording)[1]


def test_a_backward_right_at_the_first_call_only_is_not_said_to_accumulate(recording):
    class SecondCallHalved(Compounding):
        calls = 0

        def backward(self, dy):
            self.calls += 1
            self.gy = dy / self.calls
            self.gx, self.gw, self.gb = self.gy @ self.w, self.gy.T @ self.x, self.gy.sum(0)
            return self.gx.copy()

    rng = np.random.default_rng(0)
    layer = implementation(linear=SecondCallHalved).linear(
        rng.standard_normal((3, 4)), rng.standard_normal(3)
    )
    layer.forward(rng.standard_normal((5, 4)))
    for _ in range(2):
        layer.backward(rng.standard_normal((5, 3)))
    sigs = diagnosed(recording)[1]
    assert "signature:state:accumulates" not in sigs and "signature:state:step-dependent" in sigs


def raises_when(condition):
    """A correct conv whose backward raises ValueError when condition(stride, x) holds."""

    class Conv:
        def __init__(self, w, b, s, p):
            self.layer, self.s = conv2d(w, b, s, p), s

        def forward(self, x):
            self.x = x
            return self.layer.forward(x)

        def backward(self, dy):
            if condition(self.s, self.x):
                raise ValueError("operands could not be broadcast together")
            return self.layer.backward(dy)

        @property
        def grads(self):
            return self.layer.grads

    return Conv


def run_one_conv(impl, stride: int, shape: tuple, scale_dx: float = 1.0):
    rng = np.random.default_rng(0)
    conv = impl.conv2d(rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2), stride, 0)
    try:
        y = conv.forward(rng.standard_normal(shape))
        conv.backward(rng.standard_normal(y.shape))
    except CheckFailure:
        pass  # what the check would fail on; the tape has the call


@pytest.mark.parametrize(
    ("condition", "stride", "shape", "attribute"),
    [
        (lambda s, x: s > 1, 2, (1, 2, 9, 9), "stride"),
        (lambda s, x: x.shape[2] != x.shape[3], 1, (1, 2, 7, 9), "non-square"),
    ],
    ids=["stride", "non-square"],
)
def test_a_conv_wrong_only_with_one_attribute_is_told_so_from_one_layer(
    recording, condition, stride, shape, attribute
):
    # One conv on the tape, so nothing to contrast it with: the diagnosis builds the
    # adapter's layer again without the attribute and sees it agree.
    run_one_conv(implementation(conv2d=raises_when(condition)), stride, shape)
    bugs, sigs = diagnosed(recording)
    assert f"signature:only-at:{attribute}" in sigs, sigs
    other = {"stride": "non-square", "non-square": "stride"}[attribute]
    assert f"signature:only-at:{other}" not in sigs, sigs


def test_a_conv_wrong_everywhere_is_not_said_to_differ_only_with_its_stride(recording):
    def tripled(w, b, s, p):
        return Wrap(conv2d(w, b, s, p), g=lambda dx: 3 * dx)

    run_one_conv(implementation(conv2d=tripled), 2, (1, 2, 9, 11))
    bugs, sigs = diagnosed(recording)
    assert not [s for s in sigs if s.startswith("signature:only-at:")], sigs
    assert "signature:ratio" in sigs, sigs


def test_a_pool_that_routes_a_nan_window_to_its_first_nan_differs_only_at_nan(recording):
    class FirstNaN:
        """2x2 windows, stride 2, the gradient to np.argmax's pick: the first NaN."""

        def forward(self, x):
            N, C, H, W = x.shape
            w = x.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5)
            self.shape, self.pick = x.shape, w.reshape(N, C, H // 2, W // 2, 4).argmax(-1)
            return np.take_along_axis(w.reshape(*self.pick.shape, 4), self.pick[..., None], -1)[
                ..., 0
            ]

        def backward(self, dy):
            N, C, H, W = self.shape
            dw = np.zeros((*self.pick.shape, 4))
            np.put_along_axis(dw, self.pick[..., None], dy[..., None], -1)
            dw = dw.reshape(N, C, H // 2, W // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
            return dw.reshape(self.shape)

    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan  # one window holds two NaN
    pool = implementation(maxpool2d=lambda k, s: FirstNaN()).maxpool2d(2, 2, np.float64)
    y = pool.forward(x)
    pool.backward(np.arange(1.0, 5.0).reshape(y.shape))
    bugs, sigs = diagnosed(recording)
    assert sigs == ["signature:only-at:nan"], sigs


def test_a_backward_that_returns_zeros_has_no_ratio(recording):
    # A ratio fitted to an all-zero output would be "x0 torch's", which says nothing.
    impl = implementation(relu=lambda: Wrap(relu(), g=np.zeros_like))
    layer = impl.relu(np.float64)
    y = layer.forward(np.array([[1.0, -2.0, 3.0, 4.0]]))
    layer.backward(np.ones_like(y))
    assert not [s for s in diagnosed(recording)[1] if s.startswith("signature:ratio")]


class FirstImageGrads:
    """A dense layer whose weight gradient comes from the first image only (per-sample
    code that forgot the batch): right for a batch of one."""

    def __init__(self, w, b):
        self.layer = linear(w, b)

    def forward(self, x):
        self.x = x
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        self.grads = dict(self.layer.grads, weight=dy[:1].T @ self.x[:1])
        return dx


def test_a_layer_right_for_one_image_only_differs_only_for_batches(recording):
    run_linear(implementation(linear=FirstImageGrads))
    assert "signature:only-at:batch" in diagnosed(recording)[1]


def test_a_layer_wrong_for_one_image_too_is_not_said_to_differ_only_for_batches(recording):
    impl = implementation(linear=lambda w, b: Wrap(linear(w, b), g=lambda dx: dx + 1.0))
    run_linear(impl)
    assert "signature:only-at:batch" not in diagnosed(recording)[1]


def test_a_conv_that_reads_its_first_input_channel_only_differs_with_several(recording):
    def first_channel(w, b, s, p):
        class Conv:
            def __init__(self):
                self.layer = conv2d(np.ascontiguousarray(w[:, :1]), b, s, p)

            def forward(self, x):
                self.C = x.shape[1]
                return self.layer.forward(np.ascontiguousarray(x[:, :1]))

            def backward(self, dy):
                dx = self.layer.backward(dy)
                return np.concatenate([dx] + [np.zeros_like(dx)] * (self.C - 1), axis=1)

            @property
            def grads(self):
                g = dict(self.layer.grads)
                rest = np.zeros((len(w), self.C - 1, *w.shape[2:]))
                return dict(g, weight=np.concatenate([g["weight"], rest], axis=1))

        return Conv()

    run_one_conv(implementation(conv2d=first_channel), 1, (1, 2, 6, 6))
    assert "signature:only-at:channels" in diagnosed(recording)[1]


def test_a_conv_that_writes_into_its_input_is_not_said_to_differ_only_with_its_stride(
    recording,
):
    class Scribbler:
        """Right values, but x is scaled in place after use (at any stride)."""

        def __init__(self, w, b, s, p):
            self.layer = conv2d(w, b, s, p)

        def forward(self, x):
            y = self.layer.forward(x)
            x *= 0.5
            return y

        def backward(self, dy):
            return self.layer.backward(dy)

        @property
        def grads(self):
            return self.layer.grads

    run_one_conv(implementation(conv2d=Scribbler), 2, (1, 2, 9, 9))
    bugs, sigs = diagnosed(recording)
    assert "signature:writes-input" in sigs and "signature:only-at:stride" not in sigs, sigs


def test_a_loss_value_summed_over_the_batch_is_a_ratio_of_n_alone(recording):
    # One element fits any ratio, but a loss value exactly N times torch's says it.
    from reference.adapter import cross_entropy

    class SummedValue:
        def __init__(self):
            self.loss = cross_entropy()

        def forward(self, z, labels):
            return self.loss.forward(z, labels) * len(z)

        def backward(self):
            return self.loss.backward()

    loss = implementation(cross_entropy=SummedValue).cross_entropy(np.float64)
    z = np.random.default_rng(0).standard_normal((4, 5))
    try:
        loss.forward(z, np.array([0, 1, 2, 3]))
        loss.backward()
    except CheckFailure:
        pass
    assert "signature:ratio:N" in diagnosed(recording)[1]


def test_a_float64_conv_on_the_seed_configuration_is_a_dtype_not_no_match(recording):
    # Float32 sums that cancel to near 0 differ from float64's by rounding only: the
    # values are right, so the signature is the dtype.
    class Upcast:
        def __init__(self, w, b, s, p):
            self.layer = conv2d(w.astype(float), b.astype(float), s, p)

        def forward(self, x):
            return self.layer.forward(x.astype(float))

    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((8, 1, 3, 3)), rng.standard_normal(8)
    conv = implementation(conv2d=Upcast).conv2d(w.astype(np.float32), b.astype(np.float32), 1, 0)
    try:
        conv.forward(rng.standard_normal((4, 1, 28, 28)).astype(np.float32))
    except CheckFailure:
        pass
    assert diagnosed(recording)[1] == ["signature:wrong-dtype"]
