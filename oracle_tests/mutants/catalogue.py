"""The complete catalogue: importing the bug modules registers their mutants."""

from . import bugs_conv, bugs_data, bugs_layers, bugs_training  # noqa: F401  (they register)
from .core import CATALOGUE, Mutant

__all__ = ["CATALOGUE", "Mutant"]
