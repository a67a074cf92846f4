"""A from-scratch NumPy CNN for MNIST whose every layer is checked against PyTorch.

This file only re-exports the public API.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DatasetError, load_mnist
from .layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from .loss import SoftmaxCrossEntropy
from .model import SeedCNN
from .optim import Adam
from .training import TrainConfig, evaluate, train

__all__ = [
    "Adam",
    "Conv2d",
    "DatasetError",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "SeedCNN",
    "SoftmaxCrossEntropy",
    "TrainConfig",
    "evaluate",
    "load_checkpoint",
    "load_mnist",
    "save_checkpoint",
    "train",
]
