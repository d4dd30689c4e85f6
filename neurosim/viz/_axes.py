"""A fresh Axes on its own Figure (no pyplot, no global state) when none is given."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = (7, 4.5)) -> Axes:
    return ax if ax is not None else Figure(figsize=figsize).add_subplot()
