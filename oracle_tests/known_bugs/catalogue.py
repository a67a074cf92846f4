"""The complete catalogue: importing the bug modules registers their mutants."""

from . import conv, data, layers, realworld, stateful, training  # noqa: F401  (they register)
from .core import CATALOGUE, Mutant

__all__ = ["CATALOGUE", "Mutant"]
