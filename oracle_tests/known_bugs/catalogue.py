"""The complete catalogue: importing the bug modules registers their mutants."""

from . import conv, data, heads, layers, optimizers, realworld, stateful, training  # noqa: F401
from .core import CATALOGUE, Mutant

__all__ = ["CATALOGUE", "Mutant"]
