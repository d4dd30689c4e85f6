"""neurosim: spiking networks on PyTorch with hardware energy estimates."""

import importlib
from types import ModuleType

from neurosim import bayes, energy, hardware, transforms
from neurosim.core import (
    IF,
    IRNN,
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
    relaxed,
    surrogate,
)

__version__ = "0.1.0"

# Imported on first use (``ns.viz``, ``ns.training``, ...) so that ``import neurosim`` stays
# light: matplotlib and the optional converters load only when asked for.
_LAZY = ("datasets", "interop", "io", "models", "training", "viz")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"neurosim.{name}")
    raise AttributeError(f"module 'neurosim' has no attribute {name!r}")


__all__ = [
    "IF",
    "IRNN",
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
    "bayes",
    "encoding",
    "energy",
    "hardware",
    "relaxed",
    "surrogate",
    "transforms",
]
