"""Exchange networks with other simulators: Brian2, snnTorch and NIR.

Each converter imports its library lazily and names the extra to install when it is missing;
importing ``neurosim.interop`` imports none of them.

* ``to_brian2(net)`` / ``run_brian2(net, x_seq)`` / ``simulate_brian2(net, x_seq)``: the
  same LIF/IF network simulated by Brian2 (spikes identical to neurosim's).
"""

from neurosim.interop.brian2 import Brian2Model, Brian2Run, run_brian2, simulate_brian2, to_brian2
from neurosim.interop.registry import ConverterRegistry

__all__ = [
    "Brian2Model",
    "Brian2Run",
    "ConverterRegistry",
    "run_brian2",
    "simulate_brian2",
    "to_brian2",
]
