"""Conventions: where from-scratch code may depart from torch, each decided by one probe.

A probe is a small experiment built for one convention point alone, on finite,
well-separated inputs: the forward of a non-symmetric kernel decides the kernel
orientation, exactly tied windows decide the tie rule, and so on. It never infers a
convention from other checks' failures: a correct conv whose dx is broken is still
"torch's" here, because the probe looks at its forward only.

Each probe returns an Observation:
- "torch's": the piece does what torch does at this point;
- "differs": it does something else, said in words ("ReLU'(0) = 1");
- "not observed": the probe could not run (the piece is missing, raised, or returned
  the wrong shape), with the reason. Nothing is claimed then.

Modules of this package register their probes with @convention; `observe(impl)` runs
them all and the report shows the table, each entry with the probe that decided it.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from ..contract import CheckFailure, Implementation, values_only

TORCH, DIFFERS, NOT_OBSERVED = "torch's", "differs", "not observed"


@dataclass(frozen=True)
class Observation:
    status: str  # TORCH, DIFFERS or NOT_OBSERVED
    observed: str  # what was seen, in words


def torchs(observed: str = "torch's") -> Observation:
    return Observation(TORCH, observed)


def differs(observed: str) -> Observation:
    return Observation(DIFFERS, observed)


def not_observed(why: str) -> Observation:
    return Observation(NOT_OBSERVED, f"not observed: {why}")


@dataclass(frozen=True)
class Convention:
    name: str  # e.g. "kernel orientation"
    torch: str  # what torch does, in words
    probe: str  # what the probe does, in words
    run: Callable[[Implementation], Observation]


CONVENTIONS: dict[str, Convention] = {}
# Optimizer families for the diagnosis (signatures.py): factory -> fit(rec), which takes
# a tape record of that optimizer and returns [(variant id, text)] of the family members
# whose trajectories match every recorded step.
FAMILIES: dict[str, Callable] = {}


def convention(name: str, *, torch: str, probe: str):
    """Register `run(impl) -> Observation` as the probe of convention `name`."""

    def register(run):
        if name in CONVENTIONS:
            raise ValueError(f"duplicate convention {name!r}")
        CONVENTIONS[name] = Convention(name, " ".join(torch.split()), " ".join(probe.split()), run)
        return run

    return register


# The probe modules, in the order of the report's table.
MODULES = ("layers", "loss", "optim", "optimizers", "heads", "stateful")


def _load() -> None:
    for module in MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{module}":
                raise


def probe_dtype(impl: Implementation):
    """The dtype a probe runs in: float64 where the adapter has it (no rounding to
    separate from a convention), else its first dtype."""
    dtypes = impl.adapter.dtypes
    return np.dtype("float64" if "float64" in dtypes else dtypes[0])


def run_probe(conv: Convention, impl: Implementation) -> Observation:
    """One probe, with whatever the adapter does turned into "not observed"."""
    try:
        with values_only():
            return conv.run(impl)
    except pytest.skip.Exception as skip:
        return not_observed(str(skip.msg).removeprefix("not provided: "))
    except CheckFailure as err:
        return not_observed(str(err).partition("\n")[0])
    except Exception as err:  # the adapter's own code raised outside a wrapper's reach
        return not_observed(f"{type(err).__name__}: {err}")


def family_fits(rec) -> list[tuple[str, str]]:
    """The optimizer family members that fit a recorded optimizer's steps ([] if none)."""
    _load()
    fit = FAMILIES.get(rec.factory)
    return fit(rec) if fit else []


def observe(impl: Implementation) -> dict:
    """convention -> {"status", "observed", "torch", "probe"}, every registered probe."""
    _load()
    out = {}
    for name, conv in CONVENTIONS.items():
        seen = run_probe(conv, impl)
        out[name] = {
            "status": seen.status,
            "observed": seen.observed,
            "torch": conv.torch,
            "probe": conv.probe,
        }
    return out
