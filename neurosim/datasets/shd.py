"""Spiking Heidelberg Digits (SHD): HDF5 files ``shd_train.h5`` / ``shd_test.h5``.

File layout (Cramer et al. 2020, as distributed): ``spikes/times`` (ragged float, seconds),
``spikes/units`` (ragged int, input channel 0..699), one row per sample, and ``labels``
(int, class 0..19). Files are read whole on load (8,156 train / 2,264 test samples per
the paper).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from neurosim.datasets._files import DatasetFormatError, not_found, search_dirs
from neurosim.datasets._split import Split, check_split
from neurosim.datasets.events import EventDataset, Events

__all__ = ["SHD_CHANNELS", "SHD_CLASSES", "load_shd", "read_shd"]

SHD_CHANNELS = 700
SHD_CLASSES = 20
_WHERE = "load_shd"
_KEYS = ("spikes/times", "spikes/units", "labels")


def _ragged(f: h5py.File, key: str, path: Path) -> np.ndarray:
    ds = f[key]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1:
        raise DatasetFormatError(
            f"{path}: '{key}' must be a 1-D dataset with one variable-length row per sample, "
            f"got {ds!r}"
        )
    if h5py.check_vlen_dtype(ds.dtype) is None:
        raise DatasetFormatError(
            f"{path}: '{key}' must be ragged (variable-length dtype), got dtype {ds.dtype}"
        )
    return ds[:]


def read_shd(path: str | os.PathLike[str]) -> tuple[list[Events], np.ndarray]:
    """Read an SHD HDF5 file.

    Returns:
        ``(events, labels)``: one :class:`Events` per sample (times in seconds as float64,
        coords ``[E, 1]`` = unit, shape ``(700,)``, axes ``("unit",)``), labels int64 ``[N]``.

    Raises:
        DatasetFormatError: a key is missing, rows are not ragged, the sample counts of
            times/units/labels differ, a sample's times and units differ in length, a unit is
            outside 0..699, a time is negative or not finite, or a label is outside 0..19.
    """
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DatasetFormatError(f"{path}: cannot open as HDF5 ({err})") from None
    with f:
        missing = [k for k in _KEYS if k not in f]
        if missing:
            raise DatasetFormatError(
                f"{path}: missing HDF5 key(s) {', '.join(missing)}; an SHD file needs "
                f"{', '.join(_KEYS)}"
            )
        if not isinstance(f["labels"], h5py.Dataset):
            raise DatasetFormatError(f"{path}: 'labels' must be a dataset, got {f['labels']!r}")
        try:
            times = _ragged(f, "spikes/times", path)
            units = _ragged(f, "spikes/units", path)
            labels = np.asarray(f["labels"][:])
        except OSError as err:
            raise DatasetFormatError(f"{path}: cannot read the data (truncated?): {err}") from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetFormatError(
            f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    if not len(times) == len(units) == len(labels):
        raise DatasetFormatError(
            f"{path}: sample counts differ: spikes/times has {len(times)}, spikes/units "
            f"{len(units)}, labels {len(labels)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= SHD_CLASSES):
        raise DatasetFormatError(
            f"{path}: labels must be in 0..{SHD_CLASSES - 1}, got range "
            f"{labels.min()}..{labels.max()}"
        )
    events = [_sample(path, i, t, u) for i, (t, u) in enumerate(zip(times, units, strict=True))]
    return events, labels.astype(np.int64)


def _sample(path: Path, i: int, t: np.ndarray, u: np.ndarray) -> Events:
    if len(t) != len(u):
        raise DatasetFormatError(
            f"{path}: sample {i} has {len(t)} spike times but {len(u)} units; expected equal"
        )
    t = np.asarray(t, dtype=np.float64)
    if not np.issubdtype(u.dtype, np.integer):
        raise DatasetFormatError(f"{path}: sample {i}: units must be integers, got {u.dtype}")
    u = np.asarray(u, dtype=np.int64)
    if len(t) and (not np.all(np.isfinite(t)) or t.min() < 0):
        raise DatasetFormatError(f"{path}: sample {i}: times must be finite seconds >= 0")
    if len(u) and (u.min() < 0 or u.max() >= SHD_CHANNELS):
        raise DatasetFormatError(
            f"{path}: sample {i}: units must be in 0..{SHD_CHANNELS - 1}, got range "
            f"{u.min()}..{u.max()}"
        )
    return Events(t, u.reshape(-1, 1), (SHD_CHANNELS,), ("unit",))


def _locate(split: str, root: str | os.PathLike[str] | None) -> Path:
    fname = f"shd_{split}.h5"
    dirs = search_dirs("shd", root, _WHERE)
    for d in dirs:
        if (d / fname).is_file():
            return d / fname
    msg = not_found(_WHERE, f"SHD {split} file", dirs, fname, "shd")
    packed = [d / (fname + ".gz") for d in dirs if (d / (fname + ".gz")).is_file()]
    if packed:
        msg += f"\nFound {packed[0]}: decompress it first (gunzip), h5py reads plain HDF5 only."
    raise FileNotFoundError(msg)


def load_shd(
    split: Split,
    root: str | os.PathLike[str] | None = None,
    *,
    n_bins: int = 100,
    duration_s: float | None = None,
    binary: bool = False,
) -> EventDataset:
    """Load an SHD split as an :class:`EventDataset` (items ``x [n_bins, 700]``, label).

    Search order as for MNIST: ``root`` and ``root/shd`` when given (only those), else
    ``./datasets/shd/``, ``$NEUROSIM_DATA/shd/``, ``/usr/share/datasets/shd/``; the file is
    ``shd_train.h5`` or ``shd_test.h5`` (decompressed). ``n_bins``, ``duration_s`` and
    ``binary`` are passed to :func:`~neurosim.datasets.events.bin_events` on access
    (``duration_s=None``: each sample over its own span).
    """
    check_split(split, _WHERE)
    events, labels = read_shd(_locate(split, root))
    return EventDataset(
        events.__getitem__,
        labels,
        (SHD_CHANNELS,),
        SHD_CLASSES,
        n_bins,
        duration_s,
        binary,
        name=f"shd-{split}",
    )
