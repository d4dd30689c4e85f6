"""neurosim: spiking networks on PyTorch with hardware energy estimates."""

from neurosim import energy, hardware
from neurosim.core import (
    IF,
    LIF,
    S2NN,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    LayerActivity,
    LIFParams,
    LIFState,
    Lifted,
    Linear,
    MaxPool2d,
    Neuron,
    RecurrentLIF,
    Run,
    Sequential,
    ShapeError,
    encoding,
    surrogate,
)

__version__ = "0.1.0"

__all__ = [
    "IF",
    "LIF",
    "S2NN",
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "LIFParams",
    "LIFState",
    "LayerActivity",
    "Lifted",
    "Linear",
    "MaxPool2d",
    "Neuron",
    "RecurrentLIF",
    "Run",
    "Sequential",
    "ShapeError",
    "__version__",
    "encoding",
    "energy",
    "hardware",
    "surrogate",
]
