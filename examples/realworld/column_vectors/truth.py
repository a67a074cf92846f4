"""What column_vectors does against torch (run by test_realworld_truth.py)."""

import numpy as np
import truth_helpers as th

A = th.adapter("column_vectors")


def linear_over_n():
    x, w, b, dy = th.rand(4, 5), th.rand(3, 5, seed=1), th.rand(3, seed=2), th.rand(4, 3, seed=3)
    layer = A.linear(w, b)
    y, dx = th.run_layer(layer, x, dy)
    ty, tdx, tdw, tdb = th.linear(x, w, b, dy)
    assert th.same(y, ty) and th.same(dx, tdx)
    assert th.same(layer.grads["weight"] * 4, tdw) and th.same(layer.grads["bias"] * 4, tdb)


def relu_nan_both_ways():
    x, dy = np.array([np.nan, -1.0, 2.0]), np.array([1.5, 2.5, 3.5])
    y, dx = th.run_layer(A.relu(), x, dy)
    ty, tdx = th.relu(x, dy)
    assert np.isnan(ty[0]) and y[0] == 0 and tdx[0] == 1.5 and dx[0] == 0


def loss_summed():
    z, labels = th.rand(4, 10), np.array([1, 0, 9, 3])
    loss, dz = th.run_loss(A.cross_entropy(), z, labels)
    tloss, tdz = th.cross_entropy(z, labels)
    assert th.same(loss, 4 * tloss) and th.same(dz, 4 * tdz)


def adam_without_t():
    params, grads = th.adam_case()
    ours, theirs = th.adam_ours(A, params, grads), th.adam(params, grads)
    assert th.same(ours[0][0], theirs[0][0])  # right at step 1
    assert not th.same(ours[2][0], theirs[2][0], rtol=1e-4)  # wrong from step 2


DIVERGENCES = [
    {
        "layer": "Linear",
        "what": "dW and db divided by N by the layer (the course's cost gradient is not)",
        "names": ["linear_gradients_divided_by_batch", "signature:ratio:1/N"],
        "evidence": linear_over_n,
    },
    {
        "layer": "ReLU",
        "what": "np.where(Z > 0, Z, 0) and a Z > 0 mask: NaN becomes 0 both ways",
        "names": ["relu_nan_to_zero_both_ways", "signature:only-at:nan"],
        "evidence": relu_nan_both_ways,
    },
    {
        "layer": "CrossEntropy",
        "what": "the cost summed over the batch, its gradient not divided by N",
        "names": ["loss_summed_not_averaged", "signature:ratio:N"],
        "evidence": loss_summed,
    },
    {
        "layer": "Adam",
        "what": "bias correction 1 - beta without the step count",
        "names": ["adam_bias_correction_without_step", "signature:adam:correction-without-step"],
        "evidence": adam_without_t,
    },
]
AGREES = {}
CONVENTIONS = {
    "kernel orientation": "n/a",
    "tie rule": "n/a",
    "ReLU'(0)": "torch's",
    "NaN propagation": "differs",
    "loss reduction": "differs",
    "Adam variant": "differs",
}
