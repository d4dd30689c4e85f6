"""Plots (matplotlib): every function takes ``ax=None`` and returns the Axes; ``animate_raster``
writes a GIF/MP4 and returns the animation."""

from neurosim.viz.animate import RasterAnimation, animate_raster
from neurosim.viz.energy import plot_energy, plot_energy_comparison
from neurosim.viz.pareto import plot_pareto
from neurosim.viz.spikes import plot_membrane, plot_raster, plot_rasters, plot_rates

__all__ = [
    "RasterAnimation",
    "animate_raster",
    "plot_energy",
    "plot_energy_comparison",
    "plot_membrane",
    "plot_pareto",
    "plot_raster",
    "plot_rasters",
    "plot_rates",
]
