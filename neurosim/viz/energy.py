"""Energy breakdown plots: stacked bars by layer and term, and across profiles."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes

from neurosim.energy.report import REPORT_TERMS, EnergyReport
from neurosim.viz._axes import axes_or_new

__all__ = ["TERM_COLOURS", "plot_energy", "plot_energy_comparison"]

TERM_COLOURS = {
    "synaptic": "#4C72B0",
    "dense": "#8172B3",
    "neuron": "#55A868",
    "routing": "#C44E52",
    "memory": "#DD8452",
    "static": "#937860",
}


def plot_energy(report: EnergyReport, ax: Axes | None = None) -> Axes:
    """Stacked bars: one per layer with nonzero energy, stacked by term (pJ per inference)."""
    ax = axes_or_new(ax, (7, 4))
    layers = [la for la in report.per_layer if la.total_pj > 0]
    x = np.arange(len(layers))
    bottom = np.zeros(len(layers))
    for term in REPORT_TERMS:
        h = np.array([la.terms_pj[term] for la in layers])
        if h.any():
            ax.bar(x, h, bottom=bottom, label=term, color=TERM_COLOURS[term])
        bottom += h
    ax.set_xticks(x, [la.name for la in layers], rotation=30, ha="right")
    ax.set_ylabel("energy per inference (pJ)")
    ax.set_title(f"{report.profile}: {report.total_pj:,.4g} pJ (static {report.static_pj:,.3g})")
    ax.legend(frameon=False)
    return ax


def plot_energy_comparison(
    reports: Mapping[str, EnergyReport], ax: Axes | None = None, normalize: bool = True
) -> Axes:
    """One bar per profile stacked by term; ``normalize`` shows shares (totals differ by
    orders of magnitude across profiles), each total written under its profile's name."""
    ax = axes_or_new(ax, (7, 4))
    names = list(reports)
    x = np.arange(len(names))
    totals = np.array([reports[n].total_pj for n in names])
    scale = np.where(totals > 0, totals, 1.0) if normalize else np.ones(len(names))
    bottom = np.zeros(len(names))
    for term in (*REPORT_TERMS, "static"):
        h = np.array([reports[n].terms_pj[term] for n in names]) / scale
        if h.any():
            ax.bar(x, h, bottom=bottom, label=term, color=TERM_COLOURS[term])
        bottom += h
    labels = [f"{n}\n{t:.3g} pJ" for n, t in zip(names, totals, strict=True)]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of energy per inference" if normalize else "energy per inference (pJ)")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
