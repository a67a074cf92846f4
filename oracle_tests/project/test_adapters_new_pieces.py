"""The optional pieces of issue #19 (SGD, RMSprop, Softmax, Sigmoid, Tanh, LeakyReLU and
the losses on probabilities) through `cnn-oracle check`, as users meet them: an adapter
written to the seed's contract gets them "not provided" and nothing else, the common
public style passes all it provides, and a newcomer's classic mistake in an optimizer or
a Softmax layer is named by the diagnosis. Every run is a subprocess of the CLI."""

import textwrap

import pytest

from oracle_tests.contract import FACTORIES, SEED_FACTORIES
from oracle_tests.diagnosis import LAYER_OF

from .test_adapters import EXAMPLES, by_status, checked

pytestmark = pytest.mark.mutants  # the suite's meta-tests: `tox -e mutants`

NEW_LAYERS = {LAYER_OF[f] for f in FACTORIES if f not in SEED_FACTORIES}


# The new pieces' checks, and the network's (which compose what the adapter has); the
# whole run of per_sample, new checks included, is test_adapters.py's.
NEW_AND_NETWORK = (
    "sgd or rmsprop or softmax or sigmoid or tanh or leaky or mse or bce or probabilities "
    "or network"
)


@pytest.fixture(scope="module")
def per_sample(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("per_sample")
    return checked(EXAMPLES / "per_sample" / "adapter.py", tmp, "--", "-k", NEW_AND_NETWORK)


@pytest.fixture(scope="module")
def common_style(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("common_style")
    return checked(EXAMPLES / "common_style" / "adapter.py", tmp)


def test_an_adapter_to_the_seeds_contract_gets_the_new_pieces_not_provided(per_sample):
    run, report = per_sample
    assert run.returncode == 0, run.stdout[-3000:]
    new = [c for c in report["checks"] if c["layer"] in NEW_LAYERS]
    assert {c["layer"] for c in new} >= {"SGD", "RMSprop", "Softmax", "Sigmoid", "CEOnProbs"}
    for c in new:
        assert c["status"] == "not provided", c
        assert c["reason"].startswith("not provided: the adapter has no "), c["reason"]
    # The rest is what it was: nothing fails, and the network is composed from its own
    # cross_entropy(); with no adam() nor sgd() it has no trajectory.
    assert not by_status(report, "failed")
    network = [c for c in report["checks"] if c["layer"] == "Network"]
    ran = [c for c in network if c["status"] == "passed"]
    assert ran and all("loss: cross_entropy()" in c["notes"] for c in ran), network
    trajectory = [c for c in network if "trajectory" in c["id"]]
    assert trajectory and all(c["status"] == "not provided" for c in trajectory)
    assert all("no optimizer to train with" in c["reason"] for c in trajectory), trajectory
    for point in ("momentum form", "weight-decay coupling", "Softmax backward"):
        assert report["conventions"][point]["status"] == "not observed", point


def test_the_common_public_style_passes_all_it_provides(common_style):
    run, report = common_style
    assert run.returncode == 0, run.stdout[-3000:]
    assert not by_status(report, "failed")
    for layer in ("SGD", "Softmax", "Sigmoid", "CEOnProbs", "Network"):
        assert report["summary"][layer]["passed"] > 0, (layer, report["summary"][layer])
    # Its SGD has momentum but no dampening, weight decay or Nesterov: those cases are not
    # provided, with its reason, and the plain and momentum cases pass.
    sgd = [c for c in report["checks"] if c["layer"] == "SGD"]
    assert any("[momentum 0.9-" in c["id"] and c["status"] == "passed" for c in sgd)
    assert any("[plain, lr 0.1-" in c["id"] and c["status"] == "passed" for c in sgd)
    for c in sgd:
        if "weight decay" in c["id"] or "nesterov" in c["id"] or "dampening" in c["id"]:
            assert c["status"] == "not provided" and "no dampening, weight decay" in c["reason"]
    # The network ran as Softmax + cross-entropy on probabilities, trained with SGD.
    trajectory = [c for c in report["checks"] if "trajectory" in c["id"]]
    assert len(trajectory) == 2 and all(c["status"] == "passed" for c in trajectory)
    for c in trajectory:
        assert "optimizer: SGD(momentum=0.9)" in c["notes"], c["notes"]
        assert "loss: softmax() + cross_entropy_from_probabilities()" in c["notes"], c["notes"]
    # v = mu v - lr g; w += v is torch's momentum for a constant lr.
    assert report["conventions"]["momentum form"]["status"] == "torch's"
    assert report["conventions"]["Softmax backward"]["status"] == "torch's"


# Two pieces written as a newcomer writes them, each with one classic mistake.
AVERAGED_MOMENTUM = '''
"""SGD with momentum as an exponential moving average of the gradients."""
import numpy as np

name = "ema-momentum"


class SGD:
    def __init__(self, params, lr, beta):
        self.params, self.lr, self.beta = params, lr, beta
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads):
        for p, v, g in zip(self.params, self.v, grads):
            v[...] = self.beta * v + (1 - self.beta) * g
            p -= self.lr * v


def sgd(params, lr, momentum, dampening, weight_decay, nesterov):
    if dampening or weight_decay or nesterov:
        raise NotImplementedError("momentum only")
    return SGD(params, lr, momentum)
'''

DIAGONAL_SOFTMAX = '''
"""A Softmax layer whose backward uses the derivative of each output by its own input."""
import numpy as np

name = "diagonal-softmax"


class Softmax:
    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.out = e / e.sum(axis=1, keepdims=True)
        return self.out

    def backward(self, grad):
        return grad * self.out * (1 - self.out)


def softmax():
    return Softmax()
'''


@pytest.mark.parametrize(
    "source, selection, bug, convention, observed",
    [
        (AVERAGED_MOMENTUM, "sgd", "sgd_momentum_averaging_form", "momentum form", "averaging"),
        (DIAGONAL_SOFTMAX, "softmax", "softmax_backward_diagonal", "Softmax backward", "diagonal"),
    ],
    ids=["momentum in the averaging form", "diagonal softmax backward"],
)
def test_a_newcomers_optimizer_or_softmax_mistake_is_named(
    source, selection, bug, convention, observed, tmp_path
):
    adapter = tmp_path / "mine.py"
    adapter.write_text(textwrap.dedent(source))
    run, report = checked(adapter, tmp_path, "--", "-k", selection)
    assert run.returncode == 1, run.stdout[-3000:]
    failed = by_status(report, "failed")
    assert failed, "the mistake went unnoticed"
    assert report["diagnosis"]["diagnosed"] == [bug], report["diagnosis"]
    assert all(c["diagnosis"]["diagnosed"] == [bug] for c in failed), [
        (c["id"], c["diagnosis"]) for c in failed
    ]
    assert f"matches `{bug}`" in run.stdout
    assert report["conventions"][convention]["status"] == "differs"
    assert observed in report["conventions"][convention]["observed"]
