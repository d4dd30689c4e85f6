"""Spike rasters, membrane traces and firing-rate plots over time-first ``[T, B, ...]`` tensors.

Inputs are what ``net.run(x)`` records: ``run.activity[i].output`` (spikes, 0/1) and
``run.membranes[i]`` (with ``record_membrane=True``), as tensors or numpy arrays. A sample's
per-step shape ``[...]`` is flattened row-major, so "neuron ``n``" is index ``n`` of
``x[t, sample].reshape(-1)``. Time is the step index, or seconds (``step * dt``) when ``dt``
is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection

from neurosim.viz._axes import axes_or_new

__all__ = ["plot_membrane", "plot_raster", "plot_rasters", "plot_rates"]

ArrayLike = torch.Tensor | np.ndarray


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _per_sample(x: ArrayLike, sample: int, name: str) -> np.ndarray:
    """``x[:, sample]`` flattened to ``[T, N]`` after checking rank and ``sample``."""
    a = _to_numpy(x, name)
    if a.ndim < 2:
        raise ValueError(
            f"{name} must be time-first [T, B, ...] with rank >= 2, got shape {tuple(a.shape)}"
        )
    b = a.shape[1]
    if not 0 <= sample < b:
        raise ValueError(
            f"sample={sample} out of range: {name} has batch size {b}, valid 0..{b - 1}"
        )
    return a[:, sample].reshape(a.shape[0], -1)


def _check_dt(dt: float | None) -> None:
    if dt is not None and not dt > 0:
        raise ValueError(f"dt must be > 0 (seconds per step) or None, got {dt}")


def _time_label(dt: float | None) -> str:
    return "time step" if dt is None else "time (s)"


def _events(spikes: ArrayLike, sample: int, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Spike events ``(t, neuron)`` of one sample (sorted by t then neuron) and neuron count."""
    s = _per_sample(spikes, sample, name)
    t, n = np.nonzero(s)
    return t, n, s.shape[1]


def plot_raster(
    spikes: ArrayLike,
    ax: Axes | None = None,
    sample: int = 0,
    dt: float | None = None,
    color: str | None = None,
    label: str | None = None,
    marker_size: float = 2.0,
) -> Axes:
    """Raster of one sample: a point at ``(time, neuron)`` for every nonzero of
    ``spikes[:, sample]`` (neuron = flattened per-sample index), drawn as ONE scatter
    collection whose offsets are ``(t, n)`` (``(t * dt, n)`` with ``dt``) in ``nonzero`` order.
    """
    _check_dt(dt)
    t, n, num = _events(spikes, sample, "spikes")
    ax = axes_or_new(ax, (7, 4))
    _scatter(ax, t, n, dt, color, label, marker_size)
    ax.set_xlabel(_time_label(dt))
    ax.set_ylabel("neuron")
    ax.set_ylim(-0.5, max(num, 1) - 0.5)
    return ax


def _scatter(
    ax: Axes,
    t: np.ndarray,
    y: np.ndarray,
    dt: float | None,
    color: str | None,
    label: str | None,
    marker_size: float,
) -> PathCollection:
    x = t.astype(float) if dt is None else t * float(dt)
    return ax.scatter(
        x,
        y.astype(float),
        s=marker_size,
        marker="s",
        c=color if color is not None else "k",
        linewidths=0,
        label=label,
        rasterized=len(t) > 10_000,
    )


def plot_rasters(
    layers: Mapping[str, ArrayLike],
    ax: Axes | None = None,
    sample: int = 0,
    dt: float | None = None,
    marker_size: float = 2.0,
) -> Axes:
    """Rasters of several layers stacked bottom-up in mapping order, one scatter per layer
    (colour ``C0``, ``C1``, ... by position). Layer ``i``'s neuron ``n`` is drawn at
    ``y = offset_i + n`` with ``offset_i`` the total neuron count of the layers before it;
    a horizontal line at ``offset_i - 0.5`` separates layer ``i`` from the one below, and
    the y tick of layer ``i`` (labelled with its name) is at ``offset_i + (n_i - 1) / 2``.
    """
    if not layers:
        raise ValueError("layers must hold at least one layer, got an empty mapping")
    _check_dt(dt)
    ax = axes_or_new(ax, (7, 5))
    offset = 0
    centres: list[float] = []
    for i, (name, spikes) in enumerate(layers.items()):
        t, n, num = _events(spikes, sample, f"layers[{name!r}]")
        if i > 0:
            ax.axhline(offset - 0.5, color="0.6", linewidth=0.8)
        _scatter(ax, t, n + offset, dt, f"C{i % 10}", name, marker_size)
        centres.append(offset + (num - 1) / 2)
        offset += num
    ax.set_yticks(centres, list(layers))
    ax.set_ylim(-0.5, max(offset, 1) - 0.5)
    ax.set_xlabel(_time_label(dt))
    ax.set_ylabel("layer")
    return ax


def plot_membrane(
    membrane: ArrayLike,
    ax: Axes | None = None,
    sample: int = 0,
    neurons: int | Sequence[int] = (0,),
    v_th: float | None = None,
    spikes: ArrayLike | None = None,
    dt: float | None = None,
) -> Axes:
    """Membrane traces of the selected (flattened) ``neurons`` of one sample, one line each
    (label ``"neuron n"``), in order. With ``v_th``, a dashed horizontal line (label
    ``"v_th"``) at the threshold. With ``spikes`` (same shape as ``membrane``), after each
    trace a marker-only line (label ``"_spikes n"``, kept out of the legend) at that
    neuron's spike times, at ``y = v_th`` when given, else at the trace's value.
    """
    _check_dt(dt)
    m = _per_sample(membrane, sample, "membrane")
    idx = [neurons] if isinstance(neurons, int | np.integer) else list(neurons)
    if not idx:
        raise ValueError("neurons must name at least one neuron index")
    num = m.shape[1]
    for k in idx:
        if not 0 <= k < num:
            raise ValueError(f"neurons index {k} out of range: valid 0..{num - 1}")
    s: np.ndarray | None = None
    if spikes is not None:
        shape_m = tuple(_to_numpy(membrane, "membrane").shape)
        shape_s = tuple(_to_numpy(spikes, "spikes").shape)
        if shape_s != shape_m:
            raise ValueError(f"spikes shape {shape_s} must equal membrane shape {shape_m}")
        s = _per_sample(spikes, sample, "spikes")
    steps = np.arange(m.shape[0])
    x = steps.astype(float) if dt is None else steps * float(dt)
    ax = axes_or_new(ax, (7, 4))
    for k in idx:
        trace = m[:, k].astype(float)
        (line,) = ax.plot(x, trace, label=f"neuron {k}", linewidth=1.0)
        if s is not None:
            hit = np.nonzero(s[:, k])[0]
            y = np.full(len(hit), float(v_th)) if v_th is not None else trace[hit]
            ax.plot(
                x[hit],
                y,
                linestyle="none",
                marker="v",
                color=line.get_color(),
                label=f"_spikes {k}",
            )
    if v_th is not None:
        ax.axhline(float(v_th), linestyle="--", color="0.4", linewidth=1.0, label="v_th")
    ax.set_xlabel(_time_label(dt))
    ax.set_ylabel("membrane potential")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_rates(
    rates: Mapping[str, float] | ArrayLike,
    ax: Axes | None = None,
    bins: int = 30,
) -> Axes:
    """A mapping (e.g. ``run.firing_rates()``): one bar per layer, height = its rate, x tick
    labels = names. A ``[T, B, ...]`` spike tensor: a ``bins``-bin histogram of per-neuron
    rates (mean over T and B of each neuron; counts sum to the number of neurons)."""
    ax = axes_or_new(ax, (7, 4))
    if isinstance(rates, Mapping):
        if not rates:
            raise ValueError("rates must hold at least one layer, got an empty mapping")
        names = list(rates)
        x = np.arange(len(names))
        ax.bar(x, [float(rates[n]) for n in names], color="C0")
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel("firing rate (spikes / neuron / step)")
        return ax
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    a = _to_numpy(rates, "rates")
    if a.ndim < 2:
        raise ValueError(
            f"rates must be a mapping or time-first [T, B, ...] spikes with rank >= 2, "
            f"got shape {tuple(a.shape)}"
        )
    per_neuron = a.reshape(a.shape[0] * a.shape[1], -1).astype(float).mean(axis=0)
    ax.hist(per_neuron, bins=int(bins), color="C0")
    ax.set_xlabel("firing rate (spikes / neuron / step)")
    ax.set_ylabel("neurons")
    return ax
