from typing import Any

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from neurosim.training.sweep import pareto_front
from neurosim.viz.pareto import plot_pareto


def _r(rid: str, kind: str, acc: float, energy: float | None, profile: str = "loihi") -> dict:
    return {
        "id": rid,
        "kind": kind,
        "profile": profile,
        "weight": 0.0,
        "seed": 0,
        "test_accuracy": acc,
        "energy_pj": energy,
    }


ROWS = [
    _r("n0", "none", 0.92, 9e3),
    _r("e1", "energy", 0.91, 4e3),
    _r("e2", "energy", 0.85, 1e3),
    _r("e3", "energy", 0.80, 2e3),  # dominated by e2
    _r("s1", "spikes", 0.88, 5e3),
    _r("s2", "spikes", 0.70, 6e3),  # dominated by s1
    _r("s3", "spikes", 0.95, None),  # no energy: not drawn
]


def _points(ax: Any) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def test_points_and_fronts_carry_the_rows() -> None:
    fig = Figure()
    ax = plot_pareto(ROWS, ax=fig.add_subplot())
    assert ax.figure is fig
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "energy per inference (pJ)"
    scatters = _points(ax)
    assert [s.get_label() for s in scatters] == ["none", "energy", "spikes"]
    for sc, kind in zip(scatters, ["none", "energy", "spikes"], strict=True):
        rows = [r for r in ROWS if r["kind"] == kind and r["energy_pj"] is not None]
        expected = [(r["energy_pj"], r["test_accuracy"]) for r in rows]
        np.testing.assert_allclose(sc.get_offsets(), expected)
    colours = [tuple(sc.get_facecolor()[0]) for sc in scatters]
    assert len(set(colours)) == 3
    # one step line per kind through its front, in the kind's colour
    assert len(ax.lines) == 3
    for line, sc, kind in zip(ax.lines, scatters, ["none", "energy", "spikes"], strict=True):
        front = pareto_front([r for r in ROWS if r["kind"] == kind])
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(line.get_xdata(), [r["energy_pj"] for r in front])
        np.testing.assert_allclose(line.get_ydata(), [r["test_accuracy"] for r in front])
        assert to_rgba(line.get_color()) == pytest.approx(tuple(sc.get_facecolor()[0]))
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [1e3, 4e3])  # e3 is dominated
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "kind"
    assert [t.get_text() for t in legend.get_texts()] == ["none", "energy", "spikes"]


def test_grouping_by_profile_and_markers_per_profile() -> None:
    rows = [*ROWS, _r("c1", "energy", 0.9, 50.0, profile="cpu")]
    ax = plot_pareto(rows, by="profile")
    scatters = _points(ax)
    assert [s.get_label() for s in scatters] == ["loihi", "cpu"]
    np.testing.assert_allclose(scatters[1].get_offsets(), [(50.0, 0.9)])
    # by kind with two profiles: one series per kind and profile, markers differ by profile
    ax = plot_pareto(rows, by="kind")
    labels = [s.get_label() for s in _points(ax)]
    assert labels == ["none (loihi)", "energy (loihi)", "energy (cpu)", "spikes (loihi)"]
    paths = {
        lab: s.get_paths()[0].vertices.tobytes() for lab, s in zip(labels, _points(ax), strict=True)
    }
    assert paths["energy (loihi)"] != paths["energy (cpu)"]
    assert paths["energy (loihi)"] == paths["none (loihi)"]


def test_empty_rows_give_empty_axes() -> None:
    ax = plot_pareto([])
    assert _points(ax) == []
    assert len(ax.lines) == 0
    assert ax.get_legend() is None
