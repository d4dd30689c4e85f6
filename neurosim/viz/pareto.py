"""Accuracy against energy per inference for the runs of a sweep, with their Pareto fronts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes

from neurosim.training.sweep_store import pareto_front
from neurosim.viz._axes import axes_or_new

__all__ = ["plot_pareto"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def plot_pareto(
    rows: Sequence[Mapping[str, Any]], ax: Axes | None = None, by: str = "kind"
) -> Axes:
    """Scatter test accuracy against energy per inference (pJ, log scale), one colour per
    value of ``by`` (a row field: ``kind``, ``profile``, ``seed``...), with the Pareto front
    of each group drawn as a step line (the best accuracy within an energy budget).

    Fronts are computed per profile, as energies of different profiles are not comparable;
    with several profiles each gets its own marker. Rows without an energy are left out."""
    ax = axes_or_new(ax, (7, 4.5))
    usable = [dict(r) for r in rows if r.get("energy_pj") is not None]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in usable:
        groups.setdefault(r.get(by), []).append(r)
    profiles = list(dict.fromkeys(r.get("profile") for r in usable))
    marker = {p: _MARKERS[i % len(_MARKERS)] for i, p in enumerate(profiles)}
    cycle = _colour_cycle()
    for i, (key, group) in enumerate(groups.items()):
        colour = cycle[i % len(cycle)]
        for j, profile in enumerate(profiles):
            members = [r for r in group if r.get("profile") == profile]
            if not members:
                continue
            label = str(key) if len(profiles) == 1 or by == "profile" else f"{key} ({profile})"
            ax.scatter(
                [r["energy_pj"] for r in members],
                [r["test_accuracy"] for r in members],
                color=colour,
                marker=marker[profile],
                label=label,
                zorder=3,
            )
            front = pareto_front(members)
            if front:
                ax.step(
                    [r["energy_pj"] for r in front],
                    [r["test_accuracy"] for r in front],
                    where="post",
                    color=colour,
                    alpha=0.7,
                    linestyle="-" if j == 0 else "--",
                )
    ax.set_xscale("log")
    ax.set_xlabel("energy per inference (pJ)")
    ax.set_ylabel("test accuracy")
    if groups:
        ax.legend(frameon=False, fontsize=8, title=by)
    return ax


def _colour_cycle() -> list[str]:
    from matplotlib import rcParams

    colours: list[str] = rcParams["axes.prop_cycle"].by_key().get("color", [])
    return colours or [f"C{i}" for i in range(10)]
