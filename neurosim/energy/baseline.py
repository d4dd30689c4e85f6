"""The ANN baseline of a spiking network: the same layers and weights, ReLU instead of
spiking neurons, one time step on the analog input."""

from __future__ import annotations

import copy

from torch import Tensor, nn

from neurosim.core.network import Sequential, check_sequence
from neurosim.core.neuron_layers import Neuron

__all__ = ["ann_baseline"]


def ann_baseline(net: Sequential, x_seq: Tensor) -> tuple[Sequential, Tensor]:
    """``(ann, x)``: a copy of ``net`` with every neuron layer replaced by ``nn.ReLU`` (a
    trailing neuron layer is dropped: the ANN outputs its logits) and the input averaged
    over time into one step ``[1, B, ...]`` (the analog intensity of a rate code)."""
    check_sequence(x_seq, "x_seq")
    layers = [copy.deepcopy(layer) for layer in net]
    while layers and isinstance(layers[-1], Neuron):
        layers.pop()
    if not layers:
        raise ValueError("the network has no synaptic layers to build an ANN baseline from")
    ann = [nn.ReLU() if isinstance(layer, Neuron) else layer for layer in layers]
    return Sequential(*ann), x_seq.mean(0, keepdim=True)
