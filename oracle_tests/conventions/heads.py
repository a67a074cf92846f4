"""Probes for the head pieces: the Softmax backward (full Jacobian, its diagonal, or dy
passed through) and the MSE reduction (over what the mean is taken, and whether the
gradient has its factor 2 and its sign)."""

import numpy as np

from . import convention, differs, probe_dtype, torchs

# Two rows of well-separated logits (every probability between 0.05 and 0.6) and an
# arbitrary upstream gradient: neither ones nor one-hot, under which the diagonal and
# pass-through forms can look right.
SOFTMAX_X = np.array([[1.0, 0.2, -0.5, 2.0], [0.3, -1.0, 0.8, 0.0]])
SOFTMAX_DY = np.array([[0.7, -1.3, 0.4, 0.9], [-0.6, 1.1, 0.25, -0.8]])


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """a ~= b to 1e-4 of b's largest entry (float32's rounding passes, a form does not)."""
    return bool(np.abs(a - b).max() <= 1e-4 * np.abs(b).max())


@convention(
    "Softmax backward",
    torch="the full Jacobian: dx = p * (dy - sum(dy * p, axis=1))",
    probe="softmax().backward of an arbitrary upstream gradient after the forward of 2 rows "
    "of 4 well-separated logits, against the full Jacobian, its diagonal p(1 - p) and dy",
)
def softmax_backward(impl):
    dtype = probe_dtype(impl)
    x, dy = SOFTMAX_X.astype(dtype), SOFTMAX_DY.astype(dtype)
    layer = impl.softmax(dtype)
    layer.forward(x.copy())
    dx = layer.backward_dx(dy.copy()).astype(np.float64)
    e = np.exp(SOFTMAX_X - SOFTMAX_X.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    forms = {
        "full": p * (SOFTMAX_DY - (SOFTMAX_DY * p).sum(axis=1, keepdims=True)),
        "diagonal p(1 - p): right only when a cross-entropy's gradient follows": SOFTMAX_DY
        * p
        * (1 - p),
        "dy passed through unchanged": SOFTMAX_DY,
    }
    for said, want in forms.items():
        if _close(dx, want):
            return torchs("the full Jacobian") if said == "full" else differs(said)
    full = forms["full"]
    scale = float(np.sum(dx * full) / np.sum(full * full))
    return differs(
        f"dx fits none of the full Jacobian, its diagonal and dy: it is {scale:.4g} times "
        f"the full Jacobian's in least squares, first row {np.round(dx[0], 4).tolist()} "
        f"(torch: {np.round(full[0], 4).tolist()})"
    )


# (loss ratio, gradient ratio) with the batch repeated, then with the features repeated
# -> the reduction, and the denominator of the gradient it implies.
REDUCTIONS = {
    ((1.0, 0.5), (1.0, 0.5)): ("the mean over all elements", "N*K"),
    ((1.0, 0.5), (2.0, 1.0)): ("the mean over the batch only (a sum over features / N)", "N"),
    ((2.0, 1.0), (1.0, 0.5)): ("the mean over features only (a sum over the batch / K)", "K"),
    ((2.0, 1.0), (2.0, 1.0)): ("the sum over all elements", "1"),
}


def _reduction(ratios: tuple) -> str | None:
    for key, (said, _) in REDUCTIONS.items():
        if np.allclose(ratios, np.ravel(key), rtol=1e-4):
            return said
    return None


@convention(
    "MSE reduction",
    torch="the mean over all N*K elements; dpred = 2 (pred - target) / (N K)",
    probe="mse_loss() on a 3x4 batch of moderate residuals against the same batch repeated "
    "and with its feature axis repeated (loss and dpred), and dpred against the residual",
)
def mse_reduction(impl):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(19)
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def run(p, t):
        loss = impl.mse_loss(dtype)
        value = loss.forward(p.astype(dtype), t.astype(dtype))
        return value, loss.backward().astype(np.float64)

    loss1, g1 = run(pred, target)
    loss_b, g_b = run(np.concatenate([pred, pred]), np.concatenate([target, target]))
    loss_f, g_f = run(np.concatenate([pred, pred], 1), np.concatenate([target, target], 1))

    def ratio(g, part):  # least-squares ratio of a gradient's first copy to g1
        return float(np.sum(part(g) * g1) / np.sum(g1 * g1))

    batch = (loss_b / loss1, ratio(g_b, lambda g: g[:3]))
    feats = (loss_f / loss1, ratio(g_f, lambda g: g[:, :4]))
    loss_form = _reduction((batch[0], batch[0] / 2, feats[0], feats[0] / 2))
    grad_form = _reduction((batch[1] * 2, batch[1], feats[1] * 2, feats[1]))
    if loss_form is None or grad_form is None:
        return differs(
            f"repeating the batch scales the loss x{batch[0]:.4g} and dpred x{batch[1]:.4g}, "
            f"repeating the features x{feats[0]:.4g} and x{feats[1]:.4g} (torch: x1 and x0.5 "
            "both times)"
        )
    denom = {"N*K": 12, "N": 3, "K": 4, "1": 1}[dict(REDUCTIONS.values())[grad_form]]
    r = pred - target
    factor = float(np.sum(g1 * r) / np.sum(r * r)) * denom  # dpred = factor * r / denom
    said = []
    if loss_form != grad_form:
        said.append(f"a loss that is {loss_form} with the gradient of {grad_form}")
    elif loss_form != "the mean over all elements":
        said.append(loss_form)
    if np.isclose(factor, -2, rtol=1e-4):
        said.append("dpred with its sign flipped, 2 (target - pred)")
    elif np.isclose(factor, 1, rtol=1e-4):
        said.append("dpred without its factor 2, (pred - target)")
    elif not np.isclose(factor, 2, rtol=1e-4):
        said.append(f"dpred = {factor:.4g} (pred - target) over the reduction's count")
    if not said:
        return torchs("the mean over all elements; dpred = 2 (pred - target) / (N K)")
    return differs("; ".join(said))
