"""BatchNorm, Dropout and average pooling as newcomers write them, through `cnn-oracle
check`: each is reported by name, in the conventions and in the diagnosis.

- A cs231n-style BatchNorm (`batchnorm_forward(x, gamma, beta, bn_param)`): momentum
  0.9 in the m * running + (1 - m) * batch form, which its adapter translates from
  torch's momentum as a real adapter would (m = 1 - momentum); a biased running
  variance, and running statistics that start at zeros, which no adapter can translate.
- A cs231n-style Dropout whose p is the KEEP probability, handed torch's p untranslated.
- A deeplearning.ai-style average pool whose backward forgets the 1/k^2.

One run of `cnn-oracle check` on the three pieces (a subprocess: the command a user
types) serves every test here.
"""

import textwrap

import pytest

from .test_adapters import by_status, checked

pytestmark = pytest.mark.mutants  # the suite's meta-tests: `tox -e mutants`

NEWCOMER = '''
"""A newcomer's BatchNorm, Dropout and average pool, for cnn-oracle."""
import numpy as np

name = "newcomer"


# --- BatchNorm as cs231n's batchnorm_forward / batchnorm_backward -------------------


def batchnorm_forward(x, gamma, beta, bn_param):
    mode, eps = bn_param["mode"], bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    if mode == "train":
        mu, var = x.mean(axis=0), x.var(axis=0)
        xhat = (x - mu) / np.sqrt(var + eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
        cache = (xhat, gamma, var, eps)
    else:
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        cache = None
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return gamma * xhat + beta, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    dx = dx / (N * np.sqrt(var + eps))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


class BatchNorm:
    """On (N, D); spatial=True: on (N, C, H, W), as cs231n's spatial_batchnorm."""

    def __init__(self, gamma, beta, eps, momentum, spatial):
        self.gamma, self.beta, self.spatial = gamma.copy(), beta.copy(), spatial
        self.bn_param = {"mode": "train", "eps": eps, "momentum": momentum}

    def eval(self):
        self.bn_param["mode"] = "test"

    def _flat(self, x):
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1]) if self.spatial else x

    def _unflat(self, y, shape):
        if not self.spatial:
            return y
        N, C, H, W = shape
        return y.reshape(N, H, W, C).transpose(0, 3, 1, 2)

    def forward(self, x):
        self.shape = x.shape
        out, self.cache = batchnorm_forward(self._flat(x), self.gamma, self.beta, self.bn_param)
        return self._unflat(out, x.shape)

    def backward(self, dy):
        dx, dgamma, dbeta = batchnorm_backward(self._flat(dy), self.cache)
        self.grads = {"weight": dgamma, "bias": dbeta}
        return self._unflat(dx, self.shape)

    @property
    def running_mean(self):
        return self.bn_param["running_mean"]

    @property
    def running_var(self):
        return self.bn_param["running_var"]


# cs231n's momentum weighs the old running value: torch's momentum m is 1 - m there.
def batchnorm2d(weight, bias, running_mean, running_var, eps, momentum):
    return BatchNorm(weight, bias, eps, 1 - momentum, spatial=True)


def batchnorm1d(weight, bias, running_mean, running_var, eps, momentum):
    return BatchNorm(weight, bias, eps, 1 - momentum, spatial=False)


# --- Dropout as cs231n's: p is the probability of KEEPING ---------------------------


class Dropout:
    def __init__(self, p):
        self.p, self.mode = p, "train"

    def eval(self):
        self.mode = "test"

    def forward(self, x):
        if self.mode == "test":
            return x.copy()
        self.mask = (np.random.rand(*x.shape) < self.p) / self.p
        return (x * self.mask).astype(x.dtype)

    def backward(self, dy):
        return (dy * self.mask).astype(dy.dtype)


def dropout(p):
    return Dropout(p)


# --- Average pooling as deeplearning.ai's pool_forward / pool_backward (NHWC) ---------


def pool_forward(A_prev, hparameters):
    m, H, W, C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    Ho, Wo = (H - f) // stride + 1, (W - f) // stride + 1
    A = np.zeros((m, Ho, Wo, C), dtype=A_prev.dtype)
    for h in range(Ho):
        for w in range(Wo):
            window = A_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            A[:, h, w, :] = window.mean(axis=(1, 2))
    return A, (A_prev, hparameters)


def pool_backward(dA, cache):
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    dA_prev = np.zeros_like(A_prev)
    for h in range(dA.shape[1]):
        for w in range(dA.shape[2]):
            g = dA[:, h, w, :][:, None, None, :]
            dA_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :] += g
    return dA_prev


class AvgPool:
    def __init__(self, f, stride):
        self.hparameters = {"f": f, "stride": stride}

    def forward(self, x):
        A, self.cache = pool_forward(x.transpose(0, 2, 3, 1), self.hparameters)
        return A.transpose(0, 3, 1, 2)

    def backward(self, dy):
        return pool_backward(dy.transpose(0, 2, 3, 1), self.cache).transpose(0, 3, 1, 2)


def avgpool2d(kernel_size, stride):
    return AvgPool(kernel_size, stride)
'''


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory):
    """One cnn-oracle run of the three pieces: (the process, its --json report)."""
    tmp = tmp_path_factory.mktemp("newcomer")
    adapter = tmp / "adapter.py"
    adapter.write_text(textwrap.dedent(NEWCOMER))
    return checked(adapter, tmp, "--", "-k", "BatchNorm or Dropout or AvgPool2d")


def failed_in(report: dict, layer: str) -> list[dict]:
    return [c for c in by_status(report, "failed") if c["layer"] == layer]


def diagnosed(report: dict, layer: str) -> list[str]:
    return list(report["diagnosis"]["layers"][layer]["matches"])


def convention(report: dict, name: str) -> tuple[str, str]:
    c = report["conventions"][name]
    return c["status"], c["observed"]


def test_a_cs231n_batchnorm_is_named_by_its_conventions_and_its_known_bugs(newcomer):
    process, report = newcomer
    assert process.returncode == 1, process.stdout[-2000:]
    # The adapter translates the momentum, so the form is torch's; the rest shows.
    assert convention(report, "BatchNorm momentum form")[0] == "torch's"
    status, said = convention(report, "BatchNorm running variance")
    assert status == "differs" and "biased" in said, said
    status, said = convention(report, "BatchNorm running variance start")
    assert status == "differs" and said.startswith("zeros"), said
    for factory, layer in (("batchnorm2d", "BatchNorm2d"), ("batchnorm1d", "BatchNorm1d")):
        pair = f"{factory}_running_var_biased + {factory}_running_var_starts_at_zeros"
        matches = report["diagnosis"]["layers"][layer]["matches"]  # match -> checks
        assert matches.get(pair) == max(matches.values()), matches
        # Its training-mode forward and backward are right: the running statistics fail,
        # eval mode (no backward there) and the batch of one that torch refuses.
        failed = {c["id"].split("::")[1].split("[")[0] for c in failed_in(report, layer)}
        assert not any("matches_torch_in_training_mode" in f for f in failed), failed
        assert any("running_statistics" in f for f in failed), failed
    assert "DIAGNOSIS BatchNorm2d" in process.stdout


def test_a_keep_probability_dropout_is_named_as_such(newcomer):
    _, report = newcomer
    status, said = convention(report, "Dropout p meaning")
    assert status == "differs" and "KEEPING" in said, said
    assert convention(report, "Dropout scaling")[0] == "torch's"  # inverted, by 1/p
    # Its masks are its own random numbers, which the replay cannot reproduce; the p = 0
    # check is deterministic (0/0: all NaN), and there the replay names the reading.
    assert diagnosed(report, "Dropout") == ["dropout_p_is_keep_probability"]
    reasons = " ".join(c["reason"] for c in failed_in(report, "Dropout"))
    assert "keep probability" in reasons


def test_an_average_pool_backward_without_one_over_k_squared_is_named(newcomer):
    _, report = newcomer
    assert diagnosed(report, "AvgPool2d") == ["avgpool_backward_without_one_over_k_squared"]
    failed = failed_in(report, "AvgPool2d")
    assert failed and all("dx" in c["quantity"] for c in failed), [c["quantity"] for c in failed]
    assert any("k*k = 4 times torch's" in c["reason"] for c in failed)
