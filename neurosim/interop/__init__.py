"""Exchange networks with other simulators: Brian2, snnTorch and NIR.

Each converter imports its library lazily and names the extra to install when it is missing;
importing ``neurosim.interop`` imports none of them.

* ``to_brian2(net)`` / ``run_brian2(net, x_seq)`` / ``simulate_brian2(net, x_seq)``: the
  same LIF/IF network simulated by Brian2 (spikes identical to neurosim's).
* ``from_snntorch(model)``: an snnTorch ``nn.Sequential`` (Leaky, RLeaky, Linear, Conv2d,
  pooling, Flatten) as a neurosim ``Sequential`` with the same weights and dynamics.
* ``to_nir(net)`` / ``from_nir(graph)``: NIR graphs of Affine/Linear, Conv2d, pooling,
  Flatten, LIF and IF nodes (time constants mapped with ``dt``; see ``neurosim.interop.nir``).
"""

from neurosim.interop.brian2 import Brian2Model, Brian2Run, run_brian2, simulate_brian2, to_brian2
from neurosim.interop.nir import from_nir, to_nir
from neurosim.interop.registry import ConverterRegistry
from neurosim.interop.snntorch import from_snntorch

__all__ = [
    "Brian2Model",
    "Brian2Run",
    "ConverterRegistry",
    "from_nir",
    "from_snntorch",
    "run_brian2",
    "simulate_brian2",
    "to_brian2",
    "to_nir",
]
