"""Animated spike rasters written to GIF (Pillow) or MP4 (ffmpeg).

Frame ``i`` of ``n_frames = ceil(T / step)`` shows the spikes of time steps ``[lo, hi)`` with
``hi = min((i + 1) * step, T)`` and ``lo = 0`` (the raster grows) or, with ``window``,
``lo = max(0, hi - window)`` (a sliding window; the x axis follows it). Points are placed as in
:func:`~neurosim.viz.spikes.plot_rasters`: layer ``k``'s neuron ``n`` at ``y = offset_k + n``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from neurosim.viz.spikes import ArrayLike, _events

if TYPE_CHECKING:
    from neurosim.io.recording import Recording

__all__ = ["RasterAnimation", "animate_raster"]

_SUFFIXES = (".gif", ".mp4")


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _writer(path: Path, fps: int) -> PillowWriter | FFMpegWriter:
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return PillowWriter(fps=fps)
    if suffix == ".mp4":
        if not FFMpegWriter.isAvailable():
            raise RuntimeError(
                f"cannot write {path}: MP4 needs matplotlib's FFMpegWriter, which needs the "
                "ffmpeg executable, and none was found (on PATH or rcParams"
                "['animation.ffmpeg_path']). Install ffmpeg, or write a .gif (PillowWriter)."
            )
        return FFMpegWriter(fps=fps)
    raise ValueError(f"cannot animate to {path}: expected a path ending in .gif or .mp4")


def _from_recording(
    rec: Recording, layer: str | int | Sequence[str | int] | None, sample: int
) -> dict[str, ArrayLike]:
    if not 0 <= sample < rec.B:
        raise ValueError(f"sample={sample} out of range: the recording has {rec.B} samples")
    specs: Sequence[str | int]
    if layer is None:
        specs = rec.layers
    elif isinstance(layer, str | int):
        specs = [layer]
    else:
        specs = list(layer)
    names = []
    for spec in specs:
        hits = [n for n in rec.layers if n == spec or n.split(".", 1)[0] == str(spec)]
        if len(hits) != 1:
            raise ValueError(
                f"layer {spec!r} is not a recorded layer of {rec.path}; recorded: "
                f"{', '.join(rec.layers) or '(none)'}"
            )
        names.append(hits[0])
    return {n: rec.spikes(n, samples=slice(sample, sample + 1)) for n in names}


class RasterAnimation(FuncAnimation):
    """A :class:`~matplotlib.animation.FuncAnimation` of a raster (see the module docstring).

    Attributes:
        path: the file written (None until saved).
        n_frames: number of frames; ``T``: time steps; ``step``, ``window``: as given.
        collections: one scatter per layer, in order (their offsets show the current frame).
    """

    def __init__(
        self,
        layers: Mapping[str, ArrayLike],
        sample: int,
        fps: int,
        window: int | None,
        step: int,
        dt: float | None,
        marker_size: float,
    ) -> None:
        self.fig = Figure(figsize=(7, 4), layout="constrained")
        ax = self.fig.add_subplot()
        self.ax = ax
        self._points: list[tuple[np.ndarray, np.ndarray]] = []
        self.collections: list[PathCollection] = []
        offset, centres, steps = 0, [], None
        for k, (name, spikes) in enumerate(layers.items()):
            if np.ndim(spikes) and np.shape(spikes)[0] == 0:
                raise ValueError("spikes must have at least one time step, got T=0")
            t, n, num = _events(spikes, sample, f"layers[{name!r}]" if name else "spikes")
            length = int(np.shape(spikes)[0])
            if steps is not None and length != steps:
                raise ValueError(f"layer {name!r} has {length} time steps, the first has {steps}")
            steps = length
            if k > 0:
                ax.axhline(offset - 0.5, color="0.6", linewidth=0.8)
            self._points.append((t, (n + offset).astype(float)))
            self.collections.append(
                ax.scatter([], [], s=marker_size, marker="s", c=f"C{k % 10}", linewidths=0)
            )
            centres.append(offset + (num - 1) / 2)
            offset += num
        if steps is None:
            raise ValueError("layers must hold at least one layer, got an empty mapping")
        self.T, self.step, self.window = steps, step, window
        self.n_frames = math.ceil(steps / step)
        self._scale = 1.0 if dt is None else float(dt)
        self._dt = dt
        ax.set_ylim(-0.5, max(offset, 1) - 0.5)
        if len(layers) > 1 or next(iter(layers)):
            ax.set_yticks(centres, list(layers))
            ax.set_ylabel("layer")
        else:
            ax.set_ylabel("neuron")
        ax.set_xlabel("time step" if dt is None else "time (s)")
        self.path: Path | None = None
        super().__init__(
            self.fig,
            self.show,
            frames=self.n_frames,
            interval=1000.0 / fps,
            repeat=False,
            cache_frame_data=False,
        )

    def bounds(self, frame: int) -> tuple[int, int]:
        """Time steps ``[lo, hi)`` shown in ``frame``."""
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} out of range: valid 0..{self.n_frames - 1}")
        hi = min((frame + 1) * self.step, self.T)
        lo = 0 if self.window is None else max(0, hi - self.window)
        return lo, hi

    def show(self, frame: int) -> list[Any]:
        """Draw ``frame``: each scatter's offsets become its spikes in :meth:`bounds`."""
        lo, hi = self.bounds(frame)
        for (t, y), coll in zip(self._points, self.collections, strict=True):
            keep = (t >= lo) & (t < hi)
            coll.set_offsets(np.column_stack([t[keep] * self._scale, y[keep]]).reshape(-1, 2))
        left = -0.5 if self.window is None else hi - self.window - 0.5
        right = self.T - 0.5 if self.window is None else hi - 0.5
        self.ax.set_xlim(left * self._scale, right * self._scale)
        span = f"steps {lo}..{hi - 1}"
        if self._dt is not None:
            span += f" ({lo * self._dt:.4g}..{(hi - 1) * self._dt:.4g} s)"
        self.ax.set_title(span, fontsize=9)
        return [*self.collections]


def animate_raster(
    spikes: ArrayLike | Mapping[str, ArrayLike] | Recording,
    path: str | os.PathLike[str],
    *,
    layer: str | int | Sequence[str | int] | None = None,
    sample: int = 0,
    fps: int = 10,
    window: int | None = None,
    step: int = 1,
    dt: float | None = None,
    marker_size: float = 9.0,
    dpi: int = 80,
) -> RasterAnimation:
    """Animate the raster of one sample and write it to ``path`` (``.gif`` or ``.mp4``).

    Args:
        spikes: time-first ``[T, B, ...]`` spikes (tensor or array), a mapping of layer name to
            such spikes (stacked as in ``plot_rasters``), or a :class:`neurosim.io.Recording`.
        path: output file; ``.gif`` uses PillowWriter, ``.mp4`` FFMpegWriter (needs ffmpeg).
        layer: for a Recording, the layer name or index (or several); default all layers.
        sample: which sample of the batch.
        fps: frames per second of the written file (integer >= 1).
        window: show only the last ``window`` steps of each frame (None: everything so far).
        step: time steps advanced per frame; the animation has ``ceil(T / step)`` frames.
        dt: seconds per step; time axis in seconds when given.
        marker_size, dpi: point size and output resolution.

    Returns:
        The :class:`RasterAnimation`, already saved (``.path`` is set).

    Raises:
        ValueError: unknown suffix, bad sample/layer/step/window/fps, inconsistent T.
        RuntimeError: ``.mp4`` requested but ffmpeg is not available.
    """
    out = Path(path)
    fps = _positive_int(fps, "fps")
    if dt is not None and not dt > 0:
        raise ValueError(f"dt must be > 0 (seconds per step) or None, got {dt}")
    step = _positive_int(step, "step")
    if window is not None:
        window = _positive_int(window, "window")
    writer = _writer(out, fps)  # fail before any drawing
    from neurosim.io.recording import Recording

    if isinstance(spikes, Recording):
        layers = _from_recording(spikes, layer, sample)
        sample = 0
    elif layer is not None:
        raise ValueError("layer= selects layers of a Recording; pass a mapping for named layers")
    elif isinstance(spikes, Mapping):
        if not spikes:
            raise ValueError("spikes must hold at least one layer, got an empty mapping")
        layers = dict(spikes)
    else:
        layers = {"": spikes}
    anim = RasterAnimation(layers, sample, fps, window, step, dt, marker_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(str(out), writer=writer, dpi=dpi)
    anim.path = out
    return anim
