"""What an adapter does when it is imported must not change what the suite computes.

Adapters sometimes stub a module in sys.modules to import their code without heavy
dependencies, set NumPy's print or error state, seed the global random state or change
the warnings filters. Torch imports parts of itself lazily, on first use, and some of
those look at sys.modules (a stub `pandas` without __spec__ makes torch.optim.Adam raise
inside the suite). So:
- `warmed_without_stubs()` runs every torch operation the suite uses once, right after
  the adapter is imported and found valid, with the modules the adapter added that have
  no import spec (stubs) hidden from sys.modules meanwhile, so that torch has loaded all
  it needs as if no stub existed (and an adapter that is no adapter is told so at once);
- `guarded()` puts NumPy's state, the global random state, the warnings filters and any
  module the adapter replaced in sys.modules back as they were after the import.
"""

import contextlib
import functools
import random
import sys
import warnings

import numpy as np


@functools.cache
def warm_torch(optimizers: bool = True) -> None:
    """One call of each torch function the checks use (CPU, tiny), and of each torch
    optimizer where the adapter has one to compare with: a torch optimizer's first step
    imports torch._dynamo, ~5 s that an adapter without optimizers need not pay."""
    import torch
    import torch.nn.functional as F

    x = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    h = F.conv2d(x, w, padding=1)
    h = F.batch_norm(h, torch.zeros(2, dtype=h.dtype), torch.ones(2, dtype=h.dtype), training=True)
    h = F.dropout(F.avg_pool2d(F.max_pool2d(F.relu(h), 2), 1), 0.5)
    z = torch.flatten(h, 1)
    p = torch.softmax(z, 1)
    loss = (
        F.cross_entropy(z, torch.tensor([0, 1]))
        + F.nll_loss(torch.log(p), torch.tensor([0, 1]))
        + F.mse_loss(torch.sigmoid(z), torch.tanh(z))
        + F.binary_cross_entropy(torch.sigmoid(z), torch.rand_like(z))
        + F.leaky_relu(z, 0.1).sum()
    )
    loss.backward()
    if not optimizers:
        return
    for opt in (
        torch.optim.Adam([w]),
        torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
        torch.optim.RMSprop([w], momentum=0.5, weight_decay=0.1),
    ):
        opt.step()


def warmed_without_stubs(added: set[str], optimizers: bool = True) -> None:
    """warm_torch() with the modules in `added` (those the adapter's import put in
    sys.modules) that have no import spec, its stubs, out of sys.modules meanwhile.
    Torch's own extension modules have no spec either: they are never hidden."""
    stubs = {
        name: sys.modules[name]
        for name in added
        if name in sys.modules
        and getattr(sys.modules[name], "__spec__", None) is None
        and name.partition(".")[0] != "torch"
    }
    for name in stubs:
        del sys.modules[name]
    try:
        warm_torch(optimizers)
    finally:
        sys.modules.update(stubs)


@contextlib.contextmanager
def guarded():
    """Restore, after the block, the process state an adapter's import may change."""
    modules = dict(sys.modules)
    printing, errors = np.get_printoptions(), np.geterr()
    # The legacy global state, not a Generator: it is what adapters seed.
    np_random, py_random = np.random.get_state(), random.getstate()  # noqa: NPY002
    filters = list(warnings.filters)
    try:
        yield
    finally:
        for name, module in modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module  # a real module the adapter replaced by a stub
        np.set_printoptions(**printing)
        np.seterr(**errors)
        np.random.set_state(np_random)  # noqa: NPY002
        random.setstate(py_random)
        warnings.filters[:] = filters
