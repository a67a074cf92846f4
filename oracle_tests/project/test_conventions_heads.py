"""The head probes (oracle_tests/conventions/heads.py) judge their point alone: a correct
Softmax or MSE that fails an unrelated check is still torch's, each variant is named in
words, and a piece that is missing is "not observed". Small in-memory adapters built from
the reference's pieces with one thing changed."""

from types import SimpleNamespace

import numpy as np

from oracle_tests.contract import Adapter, Implementation
from oracle_tests.conventions import NOT_OBSERVED, observe
from reference.adapter import mse_loss, softmax


def probes(dtypes=("float64", "float32"), **factories) -> dict:
    """The conventions observed on an adapter with just these factories."""
    obj = SimpleNamespace(**factories)
    adapter = Adapter(obj, "probe", "probe", "probe", dtypes, True)
    return observe(Implementation(adapter))


class Wrap:
    """A layer or loss whose outputs pass through `f` (forward) and `g` (backward)."""

    def __init__(self, piece, f=lambda y: y, g=lambda d: d):
        self.piece, self.f, self.g = piece, f, g

    def forward(self, *args):
        return self.f(self.piece.forward(*args))

    def backward(self, *args):
        return self.g(self.piece.backward(*args))


class SoftmaxBackward:
    """The reference's forward, with backward(dy) replaced by `form(dy, p)`."""

    def __init__(self, form):
        self.form, self.p = form, None

    def forward(self, x):
        self.p = softmax().forward(x)
        return self.p

    def backward(self, dy):
        return self.form(dy, self.p)


class MSE:
    """loss = sum(r^2) / count(r); dpred = factor * r / grad_count(r)."""

    def __init__(self, count, factor=2.0, grad_count=None):
        self.count, self.factor, self.grad_count = count, factor, grad_count or count

    def forward(self, pred, target):
        self.r = pred - target
        return float((self.r**2).sum() / self.count(self.r))

    def backward(self):
        return self.factor * self.r / self.grad_count(self.r)


def seen(found: dict, name: str) -> tuple[str, str]:
    return found[name]["status"], found[name]["observed"]


# --- Softmax backward ---------------------------------------------------------------------
def test_a_correct_softmax_that_upcasts_float32_or_overflows_is_still_the_full_jacobian():
    upcast = probes(("float32",), softmax=lambda: Wrap(softmax(), g=lambda d: d.astype("f8")))
    assert seen(upcast, "Softmax backward") == ("torch's", "the full Jacobian")

    def no_max(x):  # overflows at 1e4, exact on the probe's small logits
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)

    class NoMax(SoftmaxBackward):
        def forward(self, x):
            self.p = no_max(x)
            return self.p

    full = NoMax(lambda dy, p: p * (dy - (dy * p).sum(axis=1, keepdims=True)))
    assert seen(probes(softmax=lambda: full), "Softmax backward")[0] == "torch's"


def test_the_diagonal_and_pass_through_softmax_backwards_are_named():
    diagonal = probes(softmax=lambda: SoftmaxBackward(lambda dy, p: dy * p * (1 - p)))
    status, said = seen(diagonal, "Softmax backward")
    assert status == "differs" and "diagonal p(1 - p)" in said
    through = probes(softmax=lambda: SoftmaxBackward(lambda dy, p: dy.copy()))
    status, said = seen(through, "Softmax backward")
    assert status == "differs" and "passed through" in said


def test_another_softmax_backward_is_described_by_its_scale():
    half = probes(
        softmax=lambda: SoftmaxBackward(
            lambda dy, p: 0.5 * p * (dy - (dy * p).sum(axis=1, keepdims=True))
        )
    )
    status, said = seen(half, "Softmax backward")
    assert status == "differs" and "0.5 times the full Jacobian" in said


# --- MSE reduction ------------------------------------------------------------------------
def test_a_correct_mse_that_writes_into_its_target_or_upcasts_is_still_torchs():
    def scribbling():
        loss = mse_loss()

        class Scribble:
            def forward(self, pred, target):
                value = loss.forward(pred, target)
                target[...] = 0  # writes into its argument: fails other checks, not this
                return value

            def backward(self):
                return loss.backward()

        return Scribble()

    found = probes(mse_loss=scribbling)
    assert seen(found, "MSE reduction")[0] == "torch's", found["MSE reduction"]
    upcast = probes(("float32",), mse_loss=lambda: Wrap(mse_loss(), g=lambda d: d.astype("f8")))
    assert seen(upcast, "MSE reduction")[0] == "torch's"


def test_each_mse_variant_is_named():
    every, rows = (lambda r: r.size), (lambda r: len(r))
    cases = {
        "the mean over the batch only": MSE(rows),
        "the sum over all elements": MSE(lambda r: 1),
        "the mean over features only": MSE(lambda r: r.shape[1]),
        "without its factor 2": MSE(every, factor=1.0),
        "sign flipped": MSE(every, factor=-2.0),
        "a loss that is the mean over all elements with the gradient of the mean over the "
        "batch only": MSE(every, grad_count=rows),
    }
    for words, piece in cases.items():
        status, said = seen(probes(mse_loss=lambda p=piece: p), "MSE reduction")
        assert status == "differs" and words in said, (words, said)


def test_the_probes_are_not_observed_without_the_pieces():
    found = probes()
    assert found["Softmax backward"]["status"] == NOT_OBSERVED
    assert found["MSE reduction"]["status"] == NOT_OBSERVED
