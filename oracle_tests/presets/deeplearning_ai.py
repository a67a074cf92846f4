"""deeplearning.ai, course 4 week 1, "Convolution model - Step by Step": the suite's adapter
for the notebook's functions.

    cnn-oracle check --api deeplearning-ai path/to/your_notebook.ipynb   (or a .py file)

The notebook is NEVER run. Of its code cells, only the definitions of the functions
below, the functions they call, constants, and the imports those need are executed
(oracle_tests/presets/_loading.py, from_source): the cells that load the data set, test,
train or plot do not run, so a notebook whose data is missing is checked all the same.

This is an ordinary adapter (docs/adapter.md). Every translation is written out:
- The notebook is channels-last: A_prev (m, n_H, n_W, n_C) = torch's x.transpose(0, 2, 3, 1),
  and every gradient goes back to (N, C, H, W).
- conv_forward(A_prev, W, b, hparameters): W is (f, f, n_C_prev, n_C), torch's weight
  .transpose(2, 3, 1, 0); b is (1, 1, 1, n_C); hparameters = {'stride', 'pad'}. One f:
  square kernels only. conv_backward(dZ, cache) -> (dA_prev, dW, db) in those layouts.
- pool_forward(A_prev, hparameters, mode) with hparameters = {'f', 'stride'}, no padding:
  mode 'max' is maxpool2d, mode 'average' avgpool2d; pool_backward(dA, cache, mode).
- From the course 2 optimization notebook, when your file has them:
  update_parameters_with_momentum(parameters, grads, v, beta, learning_rate) keeps the
  average v = beta * v + (1 - beta) * dW: that is torch's momentum with the learning
  rate scaled by (1 - beta), so it gets learning_rate = lr / (1 - beta).
  update_parameters_with_adam(parameters, grads, v, s, t, learning_rate, beta1, beta2,
  epsilon) gets t = 1, 2, ... as the course's loop counts it. The suite's parameters
  become W1, b1, W2, b2, ... (with an unused zero b where their count is odd).
- NumPy 2: the notebook's conv_single_step casts the (1, 1, 1) bias with float(b), which
  NumPy 2 rejects; the extracted functions get a `float` that converts size-1 arrays as
  NumPy 1 did (presets/_loading.NumPy1Float). The header says so.
Only float64 is declared: the notebook's outputs are np.zeros(...), float64 whatever the
input.
"""

import numpy as np

from ._loading import NumPy1Float, course_path, from_source

API = {
    "zero_pad": "zero_pad(X, pad)",
    "conv_single_step": "conv_single_step(a_slice_prev, W, b)",
    "conv_forward": "conv_forward(A_prev, W, b, hparameters)",
    "conv_backward": "conv_backward(dZ, cache)",
    "pool_forward": "pool_forward(A_prev, hparameters, mode)",
    "pool_backward": "pool_backward(dA, cache, mode)",
    "create_mask_from_window": "create_mask_from_window(x)",
    "distribute_value": "distribute_value(dz, shape)",
    "update_parameters_with_gd": "update_parameters_with_gd(parameters, grads, learning_rate)",
    "update_parameters_with_momentum": (
        "update_parameters_with_momentum(parameters, grads, v, beta, learning_rate)"
    ),
    "update_parameters_with_adam": (
        "update_parameters_with_adam(parameters, grads, v, s, t, learning_rate, beta1, beta2, "
        "epsilon)"
    ),
}
student = from_source(
    "deeplearning-ai",
    course_path("deeplearning-ai", "the .ipynb notebook, or a .py file"),
    API,
    {"float": NumPy1Float()},  # float(b) of the (1, 1, 1) bias, as under NumPy 1
)
student.check_api(API)


def with_helpers(*names: str) -> tuple[str, ...]:
    """`names` and the notebook's helpers they call (zero_pad, conv_single_step, ...)."""
    helpers = ("zero_pad", "conv_single_step", "create_mask_from_window", "distribute_value")
    used = set().union(*(student.uses(n) for n in names))
    return (*names, *(h for h in helpers if h in used and h not in names))


# factory -> the student's functions it calls
PIECES = {
    "conv2d": with_helpers("conv_forward", "conv_backward"),
    "maxpool2d": ("pool_forward", "pool_backward", "create_mask_from_window"),
    "avgpool2d": ("pool_forward", "pool_backward", "distribute_value"),
    "sgd": ("update_parameters_with_momentum",),
    "adam": ("update_parameters_with_adam",),
}
name = student.header(
    PIECES,
    [
        "never run: only its definitions and imports",
        "NHWC, W = weight.transpose(2, 3, 1, 0), b (1, 1, 1, n_C)",
        "float() converts size-1 arrays as under NumPy 1 (float(b))",
        *(
            ["momentum gets learning_rate = lr / (1 - beta)"]
            if student.has("update_parameters_with_momentum")
            else []
        ),
        "float64 only",
    ],
)
dtypes = ("float64",)


def run(fn: str, *args):
    """The student's `fn` on args; a result of None (or None first) is a starter stub."""
    out = student.call(fn, student.get(fn), *args)
    if out is None or (isinstance(out, tuple) and out and out[0] is None):
        student.stub_returned_none(fn)
    return out


def nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


# --- Layers -------------------------------------------------------------------------
class Conv:
    """conv_forward / conv_backward, channels-last, with W (f, f, n_C_prev, n_C)."""

    def __init__(self, weight, bias, stride, padding):
        student.require(*PIECES["conv2d"])
        O, C, kH, kW = weight.shape
        if kH != kW:
            raise NotImplementedError(f"the API's W is (f, f, n_C_prev, n_C): {kH}x{kW} is not")
        self.W = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))  # (f, f, C, O)
        b = np.zeros(O, weight.dtype) if bias is None else bias
        self.b, self.has_bias = b.reshape(1, 1, 1, O).copy(), bias is not None
        self.hparameters = {"stride": stride, "pad": padding}

    def forward(self, x):
        Z, self.cache = run("conv_forward", nhwc(x), self.W, self.b, dict(self.hparameters))
        return nchw(Z)

    def backward(self, dy):
        dA_prev, dW, db = run("conv_backward", nhwc(dy), self.cache)
        self.grads = {"weight": np.ascontiguousarray(dW.transpose(3, 2, 0, 1))}  # (O, C, f, f)
        if self.has_bias:
            self.grads["bias"] = np.asarray(db).reshape(-1)  # (1, 1, 1, O) -> (O,)
        return nchw(dA_prev)


def conv2d(weight, bias, stride, padding):
    return Conv(weight, bias, stride, padding)


class Pool:
    """pool_forward / pool_backward in one mode, 'max' or 'average'."""

    def __init__(self, factory: str, mode: str, kernel_size: int, stride: int):
        student.require(*PIECES[factory])
        self.mode, self.hparameters = mode, {"f": kernel_size, "stride": stride}

    def forward(self, x):
        A, self.cache = run("pool_forward", nhwc(x), dict(self.hparameters), self.mode)
        return nchw(A)

    def backward(self, dy):
        return nchw(run("pool_backward", nhwc(dy), self.cache, self.mode))


def maxpool2d(kernel_size, stride):
    return Pool("maxpool2d", "max", kernel_size, stride)


def avgpool2d(kernel_size, stride):
    return Pool("avgpool2d", "average", kernel_size, stride)


# --- Optimizers (course 2) ----------------------------------------------------------
class Optimizer:
    """The course's update on dicts: parameters {"W1", "b1", ...}, grads {"dW1", ...},
    and the state dicts v (and s) keyed like grads, kept between steps."""

    def __init__(self, fn: str, params: list, **hyper):
        student.require(fn)
        self.fn, self.params, self.hyper, self.t = fn, params, hyper, 0
        self.keys = [f"{'Wb'[i % 2]}{i // 2 + 1}" for i in range(len(params))]
        if len(params) % 2:  # the course's loops read L = len(parameters) // 2 layers
            self.keys.append(f"b{len(params) // 2 + 1}")
        self.spare = np.zeros(1, params[0].dtype)  # the unused b of an odd count
        self.v = {f"d{k}": np.zeros_like(p) for k, p in self._parameters().items()}
        self.s = {k: np.zeros_like(a) for k, a in self.v.items()}

    def _parameters(self) -> dict:
        return dict(zip(self.keys, [*self.params, self.spare], strict=False))

    def step(self, grads):
        grads = {f"d{k}": g for k, g in zip(self.keys, [*grads, self.spare * 0], strict=False)}
        if self.fn == "update_parameters_with_adam":
            self.t += 1
            out = run(
                self.fn, self._parameters(), grads, self.v, self.s, self.t, *self.hyper.values()
            )
            updated, self.v, self.s = out[:3]  # newer versions also return v and s corrected
        else:
            out = run(self.fn, self._parameters(), grads, self.v, *self.hyper.values())
            updated, self.v = out
        for key, p in zip(self.keys, self.params, strict=False):
            p[...] = updated[key]  # the suite's array, updated in place


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    if dampening or weight_decay or nesterov or momentum >= 1:
        raise NotImplementedError(
            "the course's momentum has no dampening, weight decay or Nesterov, and beta < 1"
        )
    # v = beta * v + (1 - beta) * dW, W -= learning_rate * v: torch's momentum at lr / (1 - beta).
    return Optimizer(
        "update_parameters_with_momentum", params, beta=momentum, learning_rate=lr / (1 - momentum)
    )


def adam(params, lr, betas, eps):
    return Optimizer(
        "update_parameters_with_adam",
        params,
        learning_rate=lr,
        beta1=betas[0],
        beta2=betas[1],
        epsilon=eps,
    )


# A piece none of whose functions the notebook defines is not offered at all.
for _factory, _names in PIECES.items():
    if not student.has(_names[0]):
        del globals()[_factory]
