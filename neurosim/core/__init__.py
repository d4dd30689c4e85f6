"""Simulator core: neurons, surrogates, lifted layers, networks, encoders."""

from neurosim.core import encoding, surrogate
from neurosim.core.layers import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Lifted,
    Linear,
    MaxPool2d,
    ShapeError,
)
from neurosim.core.network import LayerActivity, Run, Sequential
from neurosim.core.neuron_layers import IF, LIF, S2NN, Neuron, RecurrentLIF
from neurosim.core.neurons import LIFParams, LIFState
from neurosim.core.relax import relaxed
from neurosim.core.rnn import IRNN

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
    "encoding",
    "relaxed",
    "surrogate",
]
