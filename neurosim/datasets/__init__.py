"""Datasets by name via :func:`load`: sklearn digits (8×8, bundled), MNIST / Fashion-MNIST
(IDX files), CIFAR-10 (python pickles, opt-in), and the event datasets SHD and N-MNIST
(binned into ``n_bins`` steps, batch-first); plus the readers behind them."""

import os
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from neurosim.datasets._files import DatasetFormatError
from neurosim.datasets._split import SPLITS, Split
from neurosim.datasets.cifar10 import (
    PickleWarning,
    UnsafePickleError,
    load_cifar10,
    read_cifar10_batch,
)
from neurosim.datasets.digits import load_digits
from neurosim.datasets.events import EventDataset, Events, bin_events, collate_time_first
from neurosim.datasets.idx import IDX_NAMES, IdxFormatError, IdxName, load_idx_dataset, read_idx
from neurosim.datasets.nmnist import NMNIST_SHAPE, load_nmnist, read_nmnist_bin
from neurosim.datasets.shd import SHD_CHANNELS, SHD_CLASSES, load_shd, read_shd

__all__ = [
    "DATASETS",
    "EVENT_DATASETS",
    "IDX_NAMES",
    "SPLITS",
    "DatasetFormatError",
    "DatasetInfo",
    "EventDataset",
    "Events",
    "IdxFormatError",
    "IdxName",
    "PickleWarning",
    "Split",
    "UnsafePickleError",
    "bin_events",
    "collate_time_first",
    "info",
    "load",
    "load_cifar10",
    "load_digits",
    "load_idx_dataset",
    "load_nmnist",
    "load_shd",
    "read_cifar10_batch",
    "read_idx",
    "read_nmnist_bin",
    "read_shd",
]

_WHERE = "datasets.load"


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset.

    Attributes:
        name: dataset name as accepted by :func:`load`.
        input_shape: shape of one sample, ``(channels, height, width)``; for event data the
            shape of one time step (SHD ``(700,)``, N-MNIST ``(polarity, y, x)``).
        n_classes: number of label classes (labels are ``0..n_classes-1``).
        events: event data, binned by :func:`load` into ``[N, n_bins, *input_shape]``.
    """

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    events: bool = False


_INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", (1, 8, 8), 10),
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10),
    "fashion-mnist": DatasetInfo("fashion-mnist", (1, 28, 28), 10),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10),
    "shd": DatasetInfo("shd", (SHD_CHANNELS,), SHD_CLASSES, events=True),
    "nmnist": DatasetInfo("nmnist", NMNIST_SHAPE, 10, events=True),
}
DATASETS: tuple[str, ...] = tuple(_INFO)
EVENT_DATASETS: tuple[str, ...] = tuple(n for n, d in _INFO.items() if d.events)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{_WHERE}: dataset name must be a str, got {type(name).__name__}")
    if name not in _INFO:
        raise ValueError(f"{_WHERE}: unknown dataset {name!r}, expected one of {DATASETS}")
    return name


def info(name: str) -> DatasetInfo:
    """Return input shape and class count for a dataset in :data:`DATASETS`."""
    return _INFO[_check_name(name)]


def load(
    name: str,
    split: Split,
    root: str | os.PathLike[str] | None = None,
    *,
    n_bins: int | None = None,
    duration_s: float | None = None,
    limit: int | None = None,
    allow_pickle: bool = False,
) -> TensorDataset:
    """Load a dataset split by name.

    Args:
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"``.
        root: directory searched first for the files; ignored for ``"digits"``.
        n_bins: event datasets (:data:`EVENT_DATASETS`) only, required there: time bins T.
        duration_s: event datasets only: window in seconds binned into ``n_bins``; None bins
            each sample over its own span (see :func:`bin_events`).
        limit: keep ``limit`` samples: the first ones for image data; for event data
            ``limit`` evenly spaced over the file order (N-MNIST is stored class by class),
            and only those are binned.
        allow_pickle: ``"cifar10"`` only: must be True to unpickle its batches (see
            :func:`load_cifar10`, which then issues a :class:`PickleWarning`).

    Returns:
        ``TensorDataset(x, labels)``, labels int64 ``[N]``. Images: x float32
        ``[N, *info(name).input_shape]`` in [0, 1]; digits uses the default 80/20 split with
        seed 0. Event data: x float32 ``[N, n_bins, *info(name).input_shape]`` of event
        counts per bin, batch-first (time-first after ``ns.encoding.Sequence(n_bins)``).

    Raises:
        FileNotFoundError: the files are not found (the message lists where it looked).
        UnsafePickleError: ``"cifar10"`` without ``allow_pickle=True``.
        ValueError: ``n_bins`` missing for event data, or given / ``duration_s`` given for
            image data; ``limit`` < 1.
    """
    name = _check_name(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{_WHERE}({name!r}): limit must be an integer >= 1, got {limit!r}")
    if _INFO[name].events:
        if n_bins is None:
            raise ValueError(f"{_WHERE}({name!r}): event data needs n_bins (time bins T)")
        reader = load_shd if name == "shd" else load_nmnist
        events = reader(split, root, n_bins=n_bins, duration_s=duration_s)
        total = len(events)
        if total == 0:
            raise ValueError(f"{_WHERE}({name!r}): the {split} split holds no samples")
        if limit is None or limit >= total:
            return events.to_tensor_dataset(range(total))
        # evenly spaced over the file order: N-MNIST is stored class by class
        picks = torch.linspace(0, total - 1, limit, dtype=torch.float64).round().long()
        return events.to_tensor_dataset(picks.tolist())
    if n_bins is not None or duration_s is not None:
        raise ValueError(
            f"{_WHERE}({name!r}): n_bins and duration_s apply to event datasets "
            f"{EVENT_DATASETS} only, got n_bins={n_bins!r}, duration_s={duration_s!r}"
        )
    if name == "digits":
        data = load_digits(split)
    elif name == "cifar10":
        data = load_cifar10(split, root, allow_pickle=allow_pickle)
    elif name == "mnist":
        data = load_idx_dataset("mnist", split, root)
    else:
        data = load_idx_dataset("fashion-mnist", split, root)
    return data if limit is None else TensorDataset(*(t[:limit] for t in data.tensors))
