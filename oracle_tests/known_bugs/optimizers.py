"""Known bugs of SGD and RMSprop (reference/optim.py's sgd_update and rmsprop_update,
issue #19), each written the way public from-scratch optimizers write it, and a correct
re-implementation of each through the same machinery as a control.

The patched module also holds Adam, so every entry names its factory.
"""

import numpy as np

from .core import mutant

OPTIM = "optim"
CHECKS = "oracle_tests/checks/"
TS = CHECKS + "test_sgd.py::test_sgd_"
TR = CHECKS + "test_rmsprop.py::test_rmsprop_"
SGD_TRAJECTORY = TS + "matches_torch_at_every_step"
SGD_ANY = TS + "with_momentum_matches_torch_for_any_options"
RMSPROP_TRAJECTORY = TR + "matches_torch_at_every_step"
RMSPROP_ALL = [
    RMSPROP_TRAJECTORY,
    TR + "matches_torch_for_any_alpha_and_eps",
    TR + "with_momentum_or_weight_decay_matches_torch_for_any_options",
]


def sgd_variant(variant: str):
    """An sgd_update of `variant`: "torch" (correct), or one of the mistakes below."""

    def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov):
        decay = weight_decay * p if weight_decay != 0 else None
        if decay is not None and variant != "decay-after-momentum":
            g = g + (2 * decay if variant == "decay-doubled" else decay)
        if momentum != 0:
            if variant == "averaging":  # v = beta v + (1 - beta) g, v starting at 0
                buf = np.zeros_like(g) if buf is None else buf
                buf = momentum * buf + (1 - momentum) * g
            elif variant == "first-step-dampened":  # a buffer from 0, damped at step 1
                buf = (0 if buf is None else momentum * buf) + (1 - dampening) * g
            elif buf is None:
                buf = g.copy()
            else:
                buf = momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov and variant != "nesterov-ignored" else buf
        if decay is not None and variant == "decay-after-momentum":
            g = g + decay
        p -= lr * g
        return buf

    return sgd_update


def rmsprop_variant(variant: str):
    """An rmsprop_update of `variant`: "torch" (correct), or one of the mistakes below."""

    def rmsprop_update(p, g, square_avg, buf, lr, alpha, eps, weight_decay, momentum):
        if variant == "alpha-0.9":
            alpha = 0.9
        if variant == "momentum-ignored":
            momentum = 0.0
        if weight_decay != 0:
            g = g + weight_decay * p
        square_avg[...] = alpha * square_avg + (1 - alpha) * g * g
        if variant == "eps-inside-sqrt":
            avg = np.sqrt(square_avg + eps)
        else:
            avg = np.sqrt(square_avg) + eps
        if momentum > 0:
            buf[...] = momentum * buf + g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)

    return rmsprop_update


# --- SGD ----------------------------------------------------------------------------------
@mutant(
    bug="CONTROL, must survive: sgd_update() re-implemented with torch's algorithm.",
    kill=[SGD_TRAJECTORY, SGD_ANY],
    survives=True,
    factory="sgd",
)
def control_sgd_reimplemented(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("torch"))


@mutant(
    bug="Momentum in the averaging form v = beta v + (1 - beta) g, v starting at 0 (the "
    "exponential moving average of many tutorials): torch's momentum with the learning "
    "rate scaled by 1 - beta, 10x smaller steps at beta = 0.9.",
    kill=[SGD_TRAJECTORY, SGD_ANY, TS + "first_momentum_step_is_the_undamped_gradient"],
    diagnosis=(
        "the momentum is the average v = beta v + (1 - beta) g, which is torch's momentum "
        "with the learning rate scaled by 1 - beta; torch.optim.SGD accumulates v = "
        "momentum v + g (v = g at the first step) and steps p -= lr v: drop the (1 - beta), "
        "or divide your learning rate by it when translating."
    ),
    factory="sgd",
)
def sgd_momentum_averaging_form(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("averaging"))


@mutant(
    bug="Weight decay added to the update after the momentum (p -= lr (v + lambda p), v "
    "built from the raw gradient), where torch adds it to the gradient before the "
    "momentum, so that the decay builds up in v too.",
    kill=[SGD_TRAJECTORY, SGD_ANY],
    diagnosis=(
        "the weight decay is added after the momentum (p -= lr (v + lambda p)); torch.optim."
        "SGD adds it to the gradient first, g = g + lambda p, and builds the momentum from "
        "that: move the decay before the momentum update."
    ),
    factory="sgd",
)
def sgd_weight_decay_after_momentum(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("decay-after-momentum"))


@mutant(
    bug="Weight decay as the gradient of lambda ||w||^2, 2 lambda w, where torch's "
    "weight_decay adds lambda w (the gradient of lambda/2 ||w||^2).",
    kill=[SGD_TRAJECTORY, SGD_ANY],
    diagnosis=(
        "the weight decay adds 2 lambda w to the gradient (the derivative of lambda "
        "||w||^2); torch.optim.SGD's weight_decay adds lambda w: drop the 2, or pass half "
        "your lambda."
    ),
    factory="sgd",
)
def sgd_weight_decay_doubled(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("decay-doubled"))


@mutant(
    bug="The momentum buffer started at 0 and damped from the first step, buf = (1 - "
    "dampening) g at step 1, where torch's buffer starts at the gradient itself, undamped.",
    kill=[
        TS + "matches_torch_at_every_step",
        SGD_ANY,
        TS + "first_momentum_step_is_the_undamped_gradient",
    ],
    diagnosis=(
        "the momentum buffer starts at 0 and the first step is damped, buf = (1 - dampening) "
        "g; torch.optim.SGD starts the buffer at the gradient itself, undamped, and damps "
        "only from step 2: set buf = g at the first step."
    ),
    factory="sgd",
)
def sgd_momentum_first_step_dampened(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("first-step-dampened"))


@mutant(
    bug="nesterov=True accepted and ignored: plain momentum steps, where torch's Nesterov "
    "steps by g + momentum v.",
    kill=[TS + "matches_torch_at_every_step", SGD_ANY],
    diagnosis=(
        "Nesterov momentum is accepted but ignored (the step is the plain momentum v); "
        "torch.optim.SGD with nesterov=True steps by g + momentum v: use that, or raise "
        "NotImplementedError for nesterov=True."
    ),
    factory="sgd",
)
def sgd_nesterov_ignored(p):
    p.patch(OPTIM, "sgd_update", sgd_variant("nesterov-ignored"))


# --- RMSprop ------------------------------------------------------------------------------
@mutant(
    bug="CONTROL, must survive: rmsprop_update() re-implemented with torch's algorithm.",
    kill=RMSPROP_ALL,
    survives=True,
    factory="rmsprop",
)
def control_rmsprop_reimplemented(p):
    p.patch(OPTIM, "rmsprop_update", rmsprop_variant("torch"))


@mutant(
    bug="RMSprop with eps inside the square root, g / sqrt(v + eps): a common write-up; "
    "differs once gradients approach sqrt(eps).",
    kill=[RMSPROP_TRAJECTORY, TR + "matches_torch_for_any_alpha_and_eps"],
    diagnosis=(
        "RMSprop adds eps inside the square root, g / sqrt(v + eps); torch.optim.RMSprop "
        "adds it outside: g / (sqrt(v) + eps)."
    ),
    factory="rmsprop",
)
def rmsprop_eps_inside_sqrt(p):
    p.patch(OPTIM, "rmsprop_update", rmsprop_variant("eps-inside-sqrt"))


@mutant(
    bug="RMSprop decays its square average with 0.9 (the decay of the blog posts and of "
    "Hinton's slides) whatever alpha it is given; torch's default alpha is 0.99.",
    kill=RMSPROP_ALL,
    diagnosis=(
        "RMSprop decays the square average with 0.9 whatever alpha it is given; "
        "torch.optim.RMSprop uses the given alpha (0.99 by default): pass it through."
    ),
    factory="rmsprop",
)
def rmsprop_alpha_ignored(p):
    p.patch(OPTIM, "rmsprop_update", rmsprop_variant("alpha-0.9"))


@mutant(
    bug="RMSprop's momentum accepted and ignored: every step is lr g / (sqrt(v) + eps), "
    "where torch accumulates buf = momentum buf + g / (sqrt(v) + eps) and steps by lr buf.",
    kill=[RMSPROP_TRAJECTORY, TR + "with_momentum_or_weight_decay_matches_torch_for_any_options"],
    diagnosis=(
        "RMSprop ignores the momentum it is given; torch.optim.RMSprop with momentum > 0 "
        "steps by lr buf, buf = momentum buf + g / (sqrt(v) + eps): add the buffer, or raise "
        "NotImplementedError for a momentum."
    ),
    factory="rmsprop",
)
def rmsprop_momentum_ignored(p):
    p.patch(OPTIM, "rmsprop_update", rmsprop_variant("momentum-ignored"))
