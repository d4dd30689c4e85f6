"""N-MNIST (Orchard et al. 2015): one ``.bin`` event file per sample, ``Train|Test/<digit>/``.

Each event is 5 bytes (40 bits, big-endian bit order): byte 0 = x, byte 1 = y, byte 2 bit 7 =
polarity (0 OFF, 1 ON), byte 2 bits 6..0 = timestamp bits 22..16, byte 3 = timestamp bits
15..8, byte 4 = timestamp bits 7..0 (microseconds). An event with ``y == 240`` is a timestamp
overflow marker, not a pixel event: from the marker on, :data:`OVERFLOW_INCREMENT_US` is
added to the timestamps, and the marker itself is dropped. This follows Orchard's
``eventvision.read_dataset`` and tonic's ``read_mnist_file``, which both add ``2**13`` µs
per marker (not the ``2**23`` a 23-bit counter wrap would suggest). N-MNIST recordings last
about 0.3 s (three 100 ms saccades, Orchard et al. 2015), well below 2**23 µs ≈ 8.4 s, so
markers are not expected in the released files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurosim.datasets._files import DatasetFormatError, not_found, search_dirs
from neurosim.datasets._split import Split, check_split
from neurosim.datasets.events import EventDataset, Events

__all__ = ["NMNIST_SHAPE", "OVERFLOW_INCREMENT_US", "load_nmnist", "read_nmnist_bin"]

NMNIST_SHAPE = (2, 34, 34)  # (polarity, y, x)
OVERFLOW_INCREMENT_US = 2**13  # as eventvision.py / tonic.io.read_mnist_file
_OVERFLOW_Y = 240
_EVENT_BYTES = 5
_WHERE = "load_nmnist"
_SPLIT_DIRS = {"train": ("Train", "train"), "test": ("Test", "test")}


def read_nmnist_bin(path: str | os.PathLike[str]) -> Events:
    """Decode one N-MNIST ``.bin`` file.

    Returns:
        :class:`Events` with times in seconds (µs · 1e-6, float64), coords ``[E, 3]`` =
        ``(polarity, y, x)``, shape ``(2, 34, 34)``, axes ``("polarity", "y", "x")``;
        events in file order, overflow markers removed.

    Raises:
        DatasetFormatError: the length is not a multiple of 5 bytes, or a (non-marker) event
            has x or y outside 0..33.
    """
    path = Path(path)
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    if len(raw) % _EVENT_BYTES:
        raise DatasetFormatError(
            f"{path}: {len(raw)} bytes is not a multiple of {_EVENT_BYTES} (one N-MNIST event "
            f"is 5 bytes); the file is truncated or not an N-MNIST .bin file"
        )
    ev = raw.reshape(-1, _EVENT_BYTES).astype(np.int64)
    x, y = ev[:, 0], ev[:, 1]
    p = ev[:, 2] >> 7
    t_us = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    marker = y == _OVERFLOW_Y
    t_us = t_us + OVERFLOW_INCREMENT_US * np.cumsum(marker)  # each marker shifts itself onward
    keep = ~marker
    x, y, p, t_us = x[keep], y[keep], p[keep], t_us[keep]
    h, w = NMNIST_SHAPE[1:]
    bad = (x >= w) | (y >= h)
    if bad.any():
        i = int(np.flatnonzero(keep)[np.argmax(bad)])
        raise DatasetFormatError(
            f"{path}: event {i} (byte offset {i * _EVENT_BYTES}) has x={int(ev[i, 0])}, "
            f"y={int(ev[i, 1])}; expected x, y in 0..33 (or y=240 for an overflow marker)"
        )
    return Events(
        t_us.astype(np.float64) * 1e-6,
        np.stack([p, y, x], axis=1),
        NMNIST_SHAPE,
        ("polarity", "y", "x"),
    )


class _Reader:
    """``read(i)`` of the i-th file (a class, not a lambda, so DataLoader workers can pickle it)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __call__(self, i: int) -> Events:
        return read_nmnist_bin(self.files[i])


def _split_dir(d: Path, split: str) -> Path | None:
    for name in _SPLIT_DIRS[split]:
        if (d / name).is_dir():
            return d / name
    return None


def _list_files(split_dir: Path) -> tuple[list[Path], np.ndarray]:
    files: list[Path] = []
    labels: list[int] = []
    for digit in range(10):
        sub = split_dir / str(digit)
        if sub.is_dir():
            found = sorted(sub.glob("*.bin"))
            files += found
            labels += [digit] * len(found)
    return files, np.array(labels, dtype=np.int64)


def load_nmnist(
    split: Split,
    root: str | os.PathLike[str] | None = None,
    *,
    n_bins: int = 100,
    duration_s: float | None = None,
    binary: bool = False,
) -> EventDataset:
    """Load an N-MNIST split as an :class:`EventDataset` (items ``x [n_bins, 2, 34, 34]``).

    Looks for ``Train/`` (or ``Test/``; lower case also accepted) holding digit folders
    ``0``..``9`` of ``*.bin`` files, in ``root`` and ``root/nmnist`` when given (only those),
    else ``./datasets/nmnist/``, ``$NEUROSIM_DATA/nmnist/``, ``/usr/share/datasets/nmnist/``.
    Samples are ordered by digit, then file name; files are read on access. ``n_bins``,
    ``duration_s`` and ``binary`` go to :func:`~neurosim.datasets.events.bin_events`.
    """
    check_split(split, _WHERE)
    dirs = search_dirs("nmnist", root, _WHERE)
    for d in dirs:
        split_dir = _split_dir(d, split)
        if split_dir is None:
            continue
        files, labels = _list_files(split_dir)
        if not files:
            raise FileNotFoundError(
                f"{_WHERE}: {split_dir} holds no <digit>/*.bin files; expected folders 0..9 "
                "of N-MNIST .bin files"
            )
        return EventDataset(
            _Reader(files),
            labels,
            NMNIST_SHAPE,
            10,
            n_bins,
            duration_s,
            binary,
            name=f"nmnist-{split}",
        )
    expected = f"{'/ or '.join(_SPLIT_DIRS[split])}/ with folders 0..9 of *.bin files"
    raise FileNotFoundError(not_found(_WHERE, f"N-MNIST {split} folder", dirs, expected, "nmnist"))
