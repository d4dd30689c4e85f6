import pytest
import torch
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.energy import compare, estimate
from neurosim.viz import plot_energy, plot_energy_comparison


def _net() -> ns.Sequential:
    torch.manual_seed(0)
    return ns.Sequential(ns.Flatten(), ns.Linear(16, 8), ns.LIF(v_th=0.3), ns.Linear(8, 3))


def _x() -> torch.Tensor:
    return torch.rand(4, 5, 1, 4, 4, generator=torch.Generator().manual_seed(1))


def test_stacked_bars_carry_the_report_numbers() -> None:
    report = estimate(_net(), _x(), "loihi")
    ax = plot_energy(report)
    layers = [la for la in report.per_layer if la.total_pj > 0]
    # the top of each stack equals the layer's total
    tops: dict[float, float] = {}
    for bar in ax.patches:
        x = round(bar.get_x() + bar.get_width() / 2, 6)
        tops[x] = max(tops.get(x, 0.0), bar.get_y() + bar.get_height())
    assert sorted(tops.values()) == pytest.approx(sorted(la.total_pj for la in layers))
    assert [t.get_text() for t in ax.get_xticklabels()] == [la.name for la in layers]
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert labels == {k for k, v in report.terms_pj.items() if v > 0 and k != "static"}


def test_comparison_is_normalised_and_annotated() -> None:
    reports = compare(_net(), _x(), ["loihi", "cpu"])
    fig = Figure()
    ax = plot_energy_comparison(reports, fig.add_subplot())
    assert ax.figure is fig
    heights: dict[float, float] = {}
    for bar in ax.patches:
        x = round(bar.get_x() + bar.get_width() / 2, 6)
        heights[x] = heights.get(x, 0.0) + bar.get_height()
    assert list(heights.values()) == pytest.approx([1.0, 1.0])
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == [f"{name}\n{r.total_pj:.3g} pJ" for name, r in reports.items()]
