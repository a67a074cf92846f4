"""The complete catalogue: importing the bug modules registers their mutants."""

from . import bugs_conv  # noqa: F401  (registers on import)
from .core import CATALOGUE, Mutant

__all__ = ["CATALOGUE", "Mutant"]
