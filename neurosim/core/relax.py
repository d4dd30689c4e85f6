"""The smooth relaxation of a spiking network.

Surrogate-gradient training uses the exact gradient of a network whose spike function
``H(v − v_th)`` is replaced by the surrogate's smooth step. ``relaxed(net)`` builds that
network (a copy; the original is untouched), so finite differences of any objective on it
can check the gradients neurosim computes — e.g. of the energy penalty (gradcheck).
"""

from __future__ import annotations

import copy

from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import Neuron

__all__ = ["relaxed"]


def relaxed(net: Sequential) -> Sequential:
    """A copy of ``net`` whose neurons emit ``surrogate.smooth(v − v_th)`` instead of spikes."""
    out = copy.deepcopy(net)
    for layer in out:
        if isinstance(layer, Neuron):
            layer.smooth_forward = True
    return out
