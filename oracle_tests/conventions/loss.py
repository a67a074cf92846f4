"""Probe for the loss: its reduction, from a batch against the same batch repeated."""

import numpy as np

from . import convention, differs, probe_dtype, torchs

# (loss ratio, gradient ratio) of a batch repeated twice against once -> what it means.
FORMS = {
    (1.0, 0.5): None,  # torch's: the mean, loss and gradient
    (2.0, 1.0): "the sum over the batch, loss and gradient",
    (1.0, 1.0): "a mean loss with the gradient of the sum (no /N in the gradient)",
    (2.0, 0.5): "a summed loss with the gradient of the mean",
}


@convention(
    "loss reduction",
    torch="the mean over the batch, loss and gradient",
    probe="the loss and dlogits of a batch of 4 rows of 10 moderate logits (|z| < 3) against "
    "the same batch repeated twice",
)
def loss_reduction(impl):
    dtype = probe_dtype(impl)
    rng = np.random.default_rng(12)
    z = np.clip(rng.standard_normal((4, 10)), -3, 3).astype(dtype)  # 10 classes, as MNIST's
    labels = np.array([0, 3, 1, 9])
    once = impl.cross_entropy(dtype)
    loss1 = once.forward(z.copy(), labels.copy())  # copies: it may write into them
    g1 = once.backward().astype(np.float64)
    twice = impl.cross_entropy(dtype)
    loss2 = twice.forward(np.concatenate([z, z]), np.concatenate([labels, labels]))
    g2 = twice.backward().astype(np.float64)[:4]
    r_loss = loss2 / loss1
    r_grad = float(np.sum(g2 * g1) / np.sum(g1 * g1))  # least-squares ratio of the gradients
    for (want_loss, want_grad), said in FORMS.items():
        if np.isclose(r_loss, want_loss, rtol=1e-4) and np.isclose(r_grad, want_grad, rtol=1e-4):
            return (
                torchs("the mean over the batch, loss and gradient")
                if said is None
                else (differs(said))
            )
    return differs(
        f"a batch repeated twice gives the loss x{r_loss:.4g} and the gradient x{r_grad:.4g} "
        "(torch: x1 and x0.5)"
    )
