"""Loss, Adam and SeedCNN mutants.

The Adam mutants replace `Adam.step` by `adam_step()`, a small self-contained Adam
whose variant is a parameter; it keeps the moments in the optimizer's own `m` and `v`
lists (which the tests read) and records its hyperparameters by wrapping __init__.
The model mutants replace SeedCNN's forward/backward/gradients by `seed_net()`, the
network written out from the public pure functions and `parameters()`.
"""

import numpy as np

from .core import mutant

LOSS, OPTIM, MODEL = "loss", "optim", "model"
TLOSS = "oracle_tests/checks/test_loss.py::"
LOSS_TORCH = TLOSS + "test_cross_entropy_loss_and_dlogits_match_torch"
TA = "oracle_tests/checks/test_adam.py::test_adam_matches_torch_at_every_step"
ADAM = [TA, "oracle_tests/checks/test_adam.py::test_adam_matches_torch_for_any_hyperparameters"]
TM = "oracle_tests/project/test_seedcnn.py::test_seedcnn_"
MODEL_TORCH = TM + "matches_torch_on_mnist_batches"
L2_DECAY = 0.01  # adam_l2_weight_decay's coefficient


@mutant(
    bug="Softmax without subtracting the row max: exp(1e4) overflows to inf and the loss "
    "and dlogits become NaN; harmless for the small logits of a fresh network.",
    kill=[TLOSS + "test_cross_entropy_is_finite_and_matches_torch_at_logits_of_1e4"],
    diagnosis=(
        "the softmax does not subtract the row maximum, so exp() overflows for large "
        "logits; subtract logits.max(axis=1, keepdims=True) first, as torch's log_softmax "
        "does."
    ),
)
def loss_softmax_without_max_subtraction(p):
    def softmax_cross_entropy_forward(logits, labels):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            e = np.exp(logits)
            probs = e / e.sum(axis=1, keepdims=True)  # (N, K)
            loss = -np.log(probs[np.arange(len(logits)), labels]).mean()
        return float(loss), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


@mutant(
    bug="dlogits of the summed loss (softmax - onehot, no /N) for a mean loss: the "
    "effective learning rate grows with the batch size; identical at batch size 1.",
    kill=[TLOSS + "test_cross_entropy_gradient_is_divided_by_the_batch_size"],
    diagnosis=(
        "the gradient is that of the summed loss (softmax - onehot) while the loss is the "
        "mean; divide the gradient by the batch size N too."
    ),
)
def loss_gradient_not_divided_by_batch(p):
    bwd = p.original(LOSS, "softmax_cross_entropy_backward")

    def softmax_cross_entropy_backward(probs, labels):
        return bwd(probs, labels) * probs.dtype.type(len(probs))

    p.patch(LOSS, "softmax_cross_entropy_backward", softmax_cross_entropy_backward)


@mutant(
    bug="Loss and gradient of the SUM over the batch (reduction='sum'), self-consistent, "
    "where torch's CrossEntropyLoss averages: the learning rate is effectively N times larger.",
    kill=[TLOSS + "test_cross_entropy_gradient_is_divided_by_the_batch_size", LOSS_TORCH],
    diagnosis=(
        "the loss and its gradient are summed over the batch; torch's CrossEntropyLoss "
        "averages: divide both by the batch size N."
    ),
)
def loss_summed_not_averaged(p):
    fwd = p.original(LOSS, "softmax_cross_entropy_forward")
    bwd = p.original(LOSS, "softmax_cross_entropy_backward")

    def softmax_cross_entropy_forward(logits, labels):
        loss, probs = fwd(logits, labels)
        return loss * len(logits), probs

    def softmax_cross_entropy_backward(probs, labels):
        return bwd(probs, labels) * probs.dtype.type(len(probs))

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)
    p.patch(LOSS, "softmax_cross_entropy_backward", softmax_cross_entropy_backward)


@mutant(
    bug="Labels one-hot encoded one class off (np.eye(K)[y - 1], code written for 1-based "
    "labels): class 0 becomes class K-1; the network still learns a permuted task.",
    kill=[LOSS_TORCH],
    diagnosis=(
        "the labels are one-hot encoded one class off (np.eye(K)[y - 1], as for 1-based "
        "labels); torch's targets are 0-based class indices: np.eye(K)[y]."
    ),
)
def loss_labels_one_hot_off_by_one(p):
    fwd = p.original(LOSS, "softmax_cross_entropy_forward")
    bwd = p.original(LOSS, "softmax_cross_entropy_backward")

    def softmax_cross_entropy_forward(logits, labels):
        return fwd(logits, (np.asarray(labels) - 1) % logits.shape[1])

    def softmax_cross_entropy_backward(probs, labels):
        return bwd(probs, (np.asarray(labels) - 1) % probs.shape[1])

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)
    p.patch(LOSS, "softmax_cross_entropy_backward", softmax_cross_entropy_backward)


@mutant(
    bug="Softmax normalised over the batch axis (axis=0) instead of the classes: a "
    "keepdims/axis slip that keeps every shape right.",
    kill=[LOSS_TORCH],
    diagnosis=(
        "the softmax normalises over the batch axis; it must normalise each row over the "
        "classes: axis=1."
    ),
)
def loss_softmax_over_batch_axis(p):
    def softmax_cross_entropy_forward(logits, labels):
        z = logits - logits.max(axis=0, keepdims=True)  # (N, K)
        e = np.exp(z)
        probs = e / e.sum(axis=0, keepdims=True)  # (N, K), columns sum to 1
        with np.errstate(divide="ignore"):
            loss = -np.log(probs[np.arange(len(logits)), labels]).mean()
        return float(loss), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


@mutant(
    bug="Probabilities clipped to [1e-7, 1 - 1e-7] before the log, as Keras does: the "
    "loss of confident predictions is floored at ~1e-7 and capped at ~16.1.",
    kill=[TLOSS + "test_cross_entropy_matches_torch_at_large_logits"],
    diagnosis=(
        "the probabilities are clipped (as Keras does) before the log; torch computes "
        "log_softmax exactly: logsumexp(z) - z[y], no clipping."
    ),
)
def loss_probabilities_clipped_like_keras(p):
    fwd = p.original(LOSS, "softmax_cross_entropy_forward")

    def softmax_cross_entropy_forward(logits, labels):
        _, probs = fwd(logits, labels)
        picked = probs[np.arange(len(logits)), labels]
        return float(-np.log(np.clip(picked, 1e-7, 1 - 1e-7)).mean()), probs

    p.patch(LOSS, "softmax_cross_entropy_forward", softmax_cross_entropy_forward)


def adam_step(self, grads, variant: str) -> None:
    """One Adam step on the parameters recorded by the wrapped __init__; `variant` is
    "torch" (correct) or the name of a bug (see the mutants below)."""
    st = self._mutant
    if len(grads) != len(st["params"]):
        raise ValueError(f"Adam: got {len(grads)} gradients for {len(st['params'])} params")
    lr, (b1, b2), eps = st["lr"], st["betas"], st["eps"]
    st["t"] += 1
    for i, (param, g, m, v) in enumerate(zip(st["params"], grads, st["m"], st["v"], strict=True)):
        t = (st["t"] - 1) * len(grads) + i + 1 if variant == "t_per_param" else st["t"]
        if variant == "t_from_zero":  # t incremented after the update: 0 at the first step
            t = st["t"] - 1
        if variant == "l2":
            g = g + g.dtype.type(L2_DECAY) * param
        m += (1 - b1) * (g - m)
        v *= b1 if variant == "v_uses_beta1" else b2
        v += (1 - (b1 if variant == "v_uses_beta1" else b2)) * (g * g)
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 divides by 0
            step_size = float(np.float64(lr) / np.float64(1 - b1**t))  # Python floats, as
            bias2_sqrt = float(np.float64(1 - b2**t) ** 0.5)  # torch's scalars are
        if variant == "eps_inside_sqrt":
            denom = np.sqrt(v / (1 - b2**t) + eps)
        elif variant == "tf_epsilon_hat":  # lr_t = lr*sqrt(1-b2^t)/(1-b1^t), eps unscaled
            step_size, denom = step_size * bias2_sqrt, np.sqrt(v) + eps
        elif variant == "no_bias_correction":
            step_size, denom = lr, np.sqrt(v) + eps
        else:
            denom = np.sqrt(v) / bias2_sqrt + eps
        with np.errstate(divide="ignore", invalid="ignore"):
            if variant == "not_in_place":
                param = param - step_size * (m / denom)  # the bug: rebinds a local name
            else:
                param -= step_size * (m / denom)
        # What Adam.m and Adam.v report: the optimizer stores the moments scaled.
        self._M[i][...], self._V[i][...] = m / (1 - b1), v / (1 - b2)


def _adam(p, variant: str, default_eps: float = 1e-8) -> None:
    init = p.original(OPTIM, "Adam.__init__")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=default_eps):
        params = list(params)
        init(self, params, lr, betas, eps)
        self._mutant = {"params": params, "lr": lr, "betas": betas, "eps": eps, "t": 0}
        for k in ("m", "v"):  # torch's exp_avg and exp_avg_sq, unscaled
            self._mutant[k] = [np.zeros_like(a) for a in params]

    def step(self, grads):
        adam_step(self, grads, variant)

    p.patch(OPTIM, "Adam.__init__", __init__)
    p.patch(OPTIM, "Adam.step", step)


@mutant(bug="CONTROL, must survive: adam_step() with torch's algorithm.", kill=ADAM, survives=True)
def control_adam_reimplemented(p):
    _adam(p, "torch")


@mutant(
    bug="eps inside the square root, sqrt(v_hat + eps): a common write-up of Adam; "
    "differs once gradients approach sqrt(eps).",
    kill=[TA],
    diagnosis=(
        "eps is added inside the square root, sqrt(v_hat + eps); torch adds it outside: "
        "sqrt(v_hat) + eps."
    ),
)
def adam_eps_inside_sqrt(p):
    _adam(p, "eps_inside_sqrt")


@mutant(
    bug="TensorFlow's epsilon-hat: the bias correction folded into the step size, so eps "
    "is effectively eps*sqrt(1 - b2**t); visible while gradients are near eps.",
    kill=[TA],
    diagnosis=(
        "TensorFlow's placement: the bias correction folded into the step size, eps left "
        "unscaled; torch computes m_hat / (sqrt(v_hat) + eps)."
    ),
)
def adam_tf_epsilon_hat(p):
    _adam(p, "tf_epsilon_hat")


@mutant(
    bug="No bias correction of m and v: the first steps are ~10x too small (1 - b1 = 0.1).",
    kill=[TA],
    diagnosis=(
        "Adam without bias correction (m and v used as they are); torch divides by 1 - "
        "beta1**t and 1 - beta2**t, so early steps are ~10x larger."
    ),
)
def adam_no_bias_correction(p):
    _adam(p, "no_bias_correction")


@mutant(
    bug="Step count starting at 0 (t incremented after the update): the first bias "
    "correction divides by 1 - beta**0 = 0 and the parameters turn NaN at step 1.",
    kill=[TA],
    diagnosis=(
        "the step count starts at 0 (t incremented after the update), so the first bias "
        "correction divides by 1 - beta**0 = 0; increment t before using it."
    ),
)
def adam_step_count_starts_at_zero(p):
    _adam(p, "t_from_zero")


@mutant(
    bug="L2 weight decay mixed into the gradient (g + 0.01 p, AdamW's default decay in "
    "Adam's coupled form) where torch.optim.Adam's default weight_decay is 0.",
    kill=[TA],
    diagnosis=(
        "L2 weight decay (0.01 * p) is added to the gradient; torch.optim.Adam's default "
        "weight_decay is 0 (AdamW decouples it): drop it, or pass it only when asked."
    ),
)
def adam_l2_weight_decay(p):
    _adam(p, "l2")


@mutant(
    bug="Default eps 1e-7 (numpy-ml's, Keras') instead of torch's 1e-8.",
    # The adapter always passes eps: the reference's own default is a project test.
    kill=[
        "oracle_tests/project/test_reference_layers.py::test_adam_defaults_and_moments_are_torchs"
    ],
    diagnosis="the default eps is 1e-7 (Keras'); torch's default is 1e-8.",
)
def adam_default_eps_1e7(p):
    _adam(p, "torch", default_eps=1e-7)


@mutant(
    bug="Step counter incremented per parameter inside the loop instead of once per "
    "step: bias corrections of later parameters use a too-large t.",
    kill=[TA],
    diagnosis=(
        "the step count is incremented once per parameter instead of once per step; "
        "increment t once per step(), before the loop over the parameters."
    ),
)
def adam_step_count_per_parameter(p):
    _adam(p, "t_per_param")


@mutant(
    bug="Update rebinds the loop variable (p = p - ...) instead of writing in place: "
    "the parameters never change, yet nothing raises.",
    kill=[TA],
    diagnosis=(
        "the update rebinds the loop variable (p = p - ...) and the parameters never "
        "change; update in place: p -= lr * ..."
    ),
)
def adam_update_not_in_place(p):
    _adam(p, "not_in_place")


@mutant(
    bug="Second moment decayed with beta1 instead of beta2 (a copy-paste of the m line).",
    kill=[TA],
    diagnosis=(
        "the second moment decays with beta1; it uses beta2: v = beta2 * v + (1 - beta2) * g**2."
    ),
)
def adam_second_moment_uses_beta1(p):
    _adam(p, "v_uses_beta1")


def seed_net(p, relu_after_fc1: bool = True) -> None:
    """Patch SeedCNN.forward/backward/gradients with the network written out from the
    public pure functions and parameters() (conv w, b, fc1 w, b, fc2 w, b)."""
    from reference.layers import activation as act
    from reference.layers import conv, linear, pool

    def forward(self, x):
        cw, cb, w1, b1, w2, b2 = self.parameters()
        y, c_conv = conv.conv2d_forward(x, cw, cb)
        y, c_relu1 = act.relu_forward(y)
        y, c_pool = pool.maxpool2d_forward(y, 2, 2)
        pooled = y.shape
        y, c_fc1 = linear.linear_forward(y.reshape(len(y), -1), w1, b1)  # (N, 1352) in
        c_relu2 = None
        if relu_after_fc1:
            y, c_relu2 = act.relu_forward(y)
        y, c_fc2 = linear.linear_forward(y, w2, b2)
        self._mutant_cache = (c_conv, c_relu1, c_pool, pooled, c_fc1, c_relu2, c_fc2)
        return y

    def backward(self, dlogits, *, input_grad=True):
        c_conv, c_relu1, c_pool, pooled, c_fc1, c_relu2, c_fc2 = self._mutant_cache
        dy, dw2, db2 = linear.linear_backward(dlogits, c_fc2)
        if relu_after_fc1:
            dy = act.relu_backward(dy, c_relu2)
        dy, dw1, db1 = linear.linear_backward(dy, c_fc1)
        dy = pool.maxpool2d_backward(dy.reshape(pooled), c_pool)  # (N, 8, 13, 13)
        dy = act.relu_backward(dy, c_relu1)
        dx, dcw, dcb = conv.conv2d_backward(dy, c_conv, input_grad)
        self._mutant_grads = [dcw, dcb, dw1, db1, dw2, db2]
        return dx

    def gradients(self):
        default = [np.zeros_like(a) for a in self.parameters()]
        return list(getattr(self, "_mutant_grads", default))

    p.patch(MODEL, "SeedCNN.forward", forward)
    p.patch(MODEL, "SeedCNN.backward", backward)
    p.patch(MODEL, "SeedCNN.gradients", gradients)


@mutant(
    bug="CONTROL, must survive: seed_net() wired like the seed.",
    kill=[MODEL_TORCH, TM + "matches_torch_where_pooling_windows_tie"],
    survives=True,
)
def control_model_rewired_like_the_seed(p):
    seed_net(p)


@mutant(
    bug="The ReLU between the two Linear layers left out: the network collapses to a "
    "linear classifier on pooled features and still reaches ~90% on MNIST.",
    kill=[MODEL_TORCH],
)
def model_missing_relu_after_fc1(p):
    seed_net(p, relu_after_fc1=False)


@mutant(
    bug="parameters() and gradients() list each layer's bias before its weight: training "
    "still works (the two lists agree), but the order differs from torch's "
    "nn.Sequential.parameters(), so weights copied by position land in the wrong place.",
    kill=[TM + "parameters_are_the_layers_live_arrays_in_torch_order"],
)
def model_parameters_bias_before_weight(p):
    params, grads = p.original(MODEL, "SeedCNN.parameters"), p.original(MODEL, "SeedCNN.gradients")

    def swap(arrays):
        return [a for pair in zip(arrays[1::2], arrays[0::2], strict=True) for a in pair]

    def parameters(self):
        return swap(params(self))

    def gradients(self):
        return swap(grads(self))

    p.patch(MODEL, "SeedCNN.parameters", parameters)
    p.patch(MODEL, "SeedCNN.gradients", gradients)
