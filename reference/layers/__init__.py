"""The layers, each a pure forward/backward pair inside a thin class."""

from .activation import ReLU
from .conv import Conv2d
from .flatten import Flatten
from .linear import Linear
from .pool import MaxPool2d

__all__ = ["Conv2d", "Flatten", "Linear", "MaxPool2d", "ReLU"]
