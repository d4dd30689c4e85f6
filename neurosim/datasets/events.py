"""Event streams (address-event data) and their binning into dense time-first tensors.

An :class:`Events` holds one sample: event times in seconds and, per event, integer
coordinates into a fixed per-step ``shape`` (SHD: ``(unit,)`` in ``(700,)``; N-MNIST:
``(polarity, y, x)`` in ``(2, 34, 34)``). :func:`bin_events` turns a batch of samples into a
``[T, B, *shape]`` tensor of event counts per time bin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

__all__ = ["EventDataset", "Events", "bin_events", "collate_time_first"]


@dataclass(frozen=True, eq=False)
class Events:
    """One sample's events.

    Attributes:
        times_s: float64 ``[E]``, event times in seconds (any order).
        coords: int64 ``[E, len(shape)]``, each row a valid index into ``shape``.
        shape: per-step shape of the dense tensor the events index into.
        axes: one name per coordinate column, e.g. ``("polarity", "y", "x")``.
    """

    times_s: np.ndarray
    coords: np.ndarray
    shape: tuple[int, ...]
    axes: tuple[str, ...]

    def __post_init__(self) -> None:
        t, c = self.times_s, self.coords
        if not isinstance(t, np.ndarray) or t.ndim != 1:
            raise ValueError(f"Events.times_s must be a 1-D numpy array, got {_describe(t)}")
        if not isinstance(c, np.ndarray) or c.ndim != 2 or c.shape != (len(t), len(self.shape)):
            raise ValueError(
                f"Events.coords must be a numpy array of shape [{len(t)}, {len(self.shape)}] "
                f"(one row per event, one column per axis of shape {self.shape}), got "
                f"{_describe(c)}"
            )
        if len(self.axes) != len(self.shape):
            raise ValueError(f"Events.axes {self.axes} must name each axis of shape {self.shape}")
        if not np.issubdtype(c.dtype, np.integer):
            raise TypeError(f"Events.coords must be integers, got dtype {c.dtype}")
        if len(t) and not np.all(np.isfinite(t)):
            raise ValueError("Events.times_s must be finite, got NaN or inf")
        for k, (axis, size) in enumerate(zip(self.axes, self.shape, strict=True)):
            if len(c) and (c[:, k].min() < 0 or c[:, k].max() >= size):
                raise ValueError(
                    f"Events.coords[:, {k}] ({axis}) must be in 0..{size - 1}, got range "
                    f"{c[:, k].min()}..{c[:, k].max()}"
                )

    def __len__(self) -> int:
        return len(self.times_s)

    def coord(self, axis: str) -> np.ndarray:
        """The coordinate column named ``axis`` (e.g. ``"x"``), int64 ``[E]``."""
        if axis not in self.axes:
            raise ValueError(f"Events has no axis {axis!r}; axes are {self.axes}")
        return self.coords[:, self.axes.index(axis)]


def _describe(a: object) -> str:
    if isinstance(a, np.ndarray):
        return f"array of shape {a.shape}"
    return type(a).__name__


def _check_bins(n_bins: object, duration_s: object) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    if duration_s is not None and (
        isinstance(duration_s, bool)
        or not isinstance(duration_s, int | float)
        or not math.isfinite(duration_s)
        or duration_s <= 0
    ):
        raise ValueError(
            f"duration_s must be a finite number > 0 (seconds) or None, got {duration_s!r}"
        )


def _bin_index(
    t: np.ndarray, n_bins: int, duration_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """(kept event mask, bin index of each kept event)."""
    if duration_s is None:
        keep = np.ones(len(t), dtype=bool)
        if len(t) == 0:
            return keep, np.zeros(0, dtype=np.int64)
        t0, span = t.min(), t.max() - t.min()
        if span == 0:
            return keep, np.zeros(len(t), dtype=np.int64)
        idx = np.floor((t - t0) * n_bins / span).astype(np.int64)
    else:
        keep = (t >= 0) & (t < duration_s)
        idx = np.floor(t[keep] * n_bins / duration_s).astype(np.int64)
    return keep, np.minimum(idx, n_bins - 1)  # the span's last event, or float rounding


def bin_events(
    samples: Sequence[Events],
    n_bins: int,
    duration_s: float | None = None,
    binary: bool = False,
) -> Tensor:
    """Bin a batch of event samples into a dense time-first tensor.

    Bin ``k`` of ``n_bins`` covers ``[k·w, (k+1)·w)`` with ``w = duration_s / n_bins``,
    starting at time 0; events outside ``[0, duration_s)`` are dropped. With
    ``duration_s=None`` each sample is stretched over its own span ``[t_min, t_max]``
    (``w = (t_max - t_min) / n_bins``, the last event falls into the last bin; a sample whose
    events all share one time puts them into bin 0). Times exactly on a bin edge may land
    in either neighbour by float rounding.

    Args:
        samples: B samples, all with the same ``shape``.
        n_bins: number of time bins T (>= 1).
        duration_s: window length in seconds, or None for each sample's span.
        binary: 1.0 where a bin holds at least one event, instead of the event count.

    Returns:
        float32 ``[T, B, *shape]``: event counts (or 0/1) per bin and coordinate.
    """
    _check_bins(n_bins, duration_s)
    if not samples:
        raise ValueError("bin_events needs at least one sample, got an empty sequence")
    shape = samples[0].shape
    for b, ev in enumerate(samples):
        if not isinstance(ev, Events):
            raise TypeError(f"samples[{b}] must be Events, got {type(ev).__name__}")
        if ev.shape != shape:
            raise ValueError(f"samples[{b}] has shape {ev.shape}, samples[0] has {shape}")
    n = math.prod(shape)
    t_total = int(n_bins)
    out = np.zeros((len(samples), t_total * n), dtype=np.float32)
    for b, ev in enumerate(samples):
        keep, idx = _bin_index(ev.times_s, t_total, duration_s)
        flat = np.ravel_multi_index(tuple(ev.coords[keep].T), shape) if len(shape) else idx * 0
        out[b] = np.bincount(idx * n + flat, minlength=t_total * n)
    if binary:
        np.minimum(out, 1.0, out=out)
    dense = torch.from_numpy(out).reshape(len(samples), t_total, *shape)
    return dense.transpose(0, 1).contiguous()


def collate_time_first(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Collate ``(x [T, *shape], label [])`` items into ``(x [T, B, *shape], labels [B])``."""
    xs, ys = zip(*batch, strict=True)
    return torch.stack(xs, dim=1), torch.stack(ys)


class EventDataset(Dataset[tuple[Tensor, Tensor]]):
    """Labelled event samples, binned on access.

    ``ds[i]`` is ``(x, label)``: x float32 ``[n_bins, *shape]`` from :func:`bin_events`
    (a single sample, so time-first without a batch axis), label an int64 scalar tensor.
    ``ds.events(i)`` gives the raw :class:`Events`. ``ds.loader(...)`` batches time-first.

    Args:
        read: ``read(i)`` returns sample ``i``'s events (called lazily, on each access).
        labels: int ``[N]``, one class index per sample.
        shape: per-step shape every sample's events index into.
        n_classes: labels are in ``0..n_classes-1``.
        n_bins, duration_s, binary: as in :func:`bin_events`.
        name: dataset name used in messages and ``repr``.
    """

    def __init__(
        self,
        read: Callable[[int], Events],
        labels: np.ndarray,
        shape: tuple[int, ...],
        n_classes: int,
        n_bins: int,
        duration_s: float | None = None,
        binary: bool = False,
        name: str = "events",
    ) -> None:
        _check_bins(n_bins, duration_s)
        self._read = read
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.shape = tuple(shape)
        self.n_classes = int(n_classes)
        self.n_bins = int(n_bins)
        self.duration_s = None if duration_s is None else float(duration_s)
        self.binary = bool(binary)
        self.name = name

    def __len__(self) -> int:
        return len(self.labels)

    def _check_index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, int | np.integer):
            raise TypeError(f"{self.name}: index must be an int, got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{self.name}: index {i} out of range for {n} samples")
        return int(i) % n

    def events(self, i: int) -> Events:
        """Raw events of sample ``i``."""
        ev = self._read(self._check_index(i))
        if ev.shape != self.shape:
            raise ValueError(f"{self.name}: sample {i} has shape {ev.shape}, expected {self.shape}")
        return ev

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x = bin_events([self.events(i)], self.n_bins, self.duration_s, self.binary)[:, 0]
        return x, self.labels[self._check_index(i)]

    def loader(self, batch_size: int = 32, shuffle: bool = False, seed: int = 0) -> DataLoader:
        """DataLoader yielding ``(x [T, B, *shape], labels [B])``; shuffling seeded by ``seed``."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        gen = torch.Generator().manual_seed(int(seed))
        return DataLoader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=gen,
            collate_fn=collate_time_first,
        )

    def to_tensor_dataset(self, indices: Sequence[int] | None = None) -> TensorDataset:
        """The binned samples (all, or ``indices``) in memory, batch-first for training:
        ``TensorDataset(x [N, n_bins, *shape], labels [N])``; train with
        ``fit(..., encoder=ns.encoding.Sequence(T=n_bins))``."""
        idx = list(range(len(self))) if indices is None else [self._check_index(i) for i in indices]
        if not idx:
            raise ValueError(f"{self.name}: no samples selected")
        x = bin_events([self.events(i) for i in idx], self.n_bins, self.duration_s, self.binary)
        return TensorDataset(x.transpose(0, 1).contiguous(), self.labels[idx])

    def __repr__(self) -> str:
        return (
            f"EventDataset({self.name!r}, N={len(self)}, shape={self.shape}, "
            f"n_bins={self.n_bins}, duration_s={self.duration_s}, binary={self.binary})"
        )
