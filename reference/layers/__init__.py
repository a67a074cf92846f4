"""The layers, each a pure forward/backward pair inside a thin class."""

from .activation import ReLU
from .avgpool import AvgPool2d
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .norm import BatchNorm1d, BatchNorm2d
from .pool import MaxPool2d

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "ReLU",
]
