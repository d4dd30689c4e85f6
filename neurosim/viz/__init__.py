"""Plots (matplotlib): every function takes ``ax=None`` and returns the Axes."""

from neurosim.viz.energy import plot_energy, plot_energy_comparison
from neurosim.viz.pareto import plot_pareto

__all__ = ["plot_energy", "plot_energy_comparison", "plot_pareto"]
