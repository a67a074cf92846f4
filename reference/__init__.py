"""A from-scratch NumPy CNN for MNIST whose every layer is checked against PyTorch.

This file only re-exports the public API.
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DatasetError, load_mnist
from .heads import (
    BCELoss,
    CrossEntropyFromProbabilities,
    LeakyReLU,
    MSELoss,
    Sigmoid,
    Softmax,
    Tanh,
)
from .layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
)
from .loss import SoftmaxCrossEntropy
from .model import SeedCNN
from .optim import SGD, Adam, RMSprop
from .training import TrainConfig, evaluate, train

__all__ = [
    "Adam",
    "AvgPool2d",
    "BCELoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyFromProbabilities",
    "DatasetError",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "MaxPool2d",
    "RMSprop",
    "ReLU",
    "SGD",
    "SeedCNN",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "TrainConfig",
    "evaluate",
    "load_checkpoint",
    "load_mnist",
    "save_checkpoint",
    "train",
]
