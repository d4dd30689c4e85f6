"""Datasets: sklearn digits (8×8, bundled) and MNIST / Fashion-MNIST (IDX files) via
:func:`load`; readers for SHD, N-MNIST (event data, binned time-first) and CIFAR-10."""

import os
from dataclasses import dataclass

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
from neurosim.datasets.nmnist import load_nmnist, read_nmnist_bin
from neurosim.datasets.shd import load_shd, read_shd

__all__ = [
    "DATASETS",
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
        input_shape: shape of one sample, ``(channels, height, width)``.
        n_classes: number of label classes (labels are ``0..n_classes-1``).
    """

    name: str
    input_shape: tuple[int, int, int]
    n_classes: int


_INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo("digits", (1, 8, 8), 10),
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10),
    "fashion-mnist": DatasetInfo("fashion-mnist", (1, 28, 28), 10),
}
DATASETS: tuple[str, ...] = tuple(_INFO)


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{_WHERE}: dataset name must be a str, got {type(name).__name__}")
    if name not in _INFO:
        raise ValueError(f"{_WHERE}: unknown dataset {name!r}, expected one of {DATASETS}")
    return name


def info(name: str) -> DatasetInfo:
    """Return input shape and class count for a dataset in :data:`DATASETS`."""
    return _INFO[_check_name(name)]


def load(name: str, split: Split, root: str | os.PathLike[str] | None = None) -> TensorDataset:
    """Load a dataset split by name.

    Args:
        name: one of :data:`DATASETS` (``"digits"``, ``"mnist"``, ``"fashion-mnist"``).
        split: ``"train"`` or ``"test"``.
        root: directory searched first for IDX files; ignored for ``"digits"``.

    Returns:
        ``TensorDataset(images, labels)``: images float32 ``[N, *info(name).input_shape]`` in
        [0, 1], labels int64 ``[N]``. Digits uses the default 80/20 split with seed 0.
    """
    name = _check_name(name)
    if name == "digits":
        return load_digits(split)
    if name == "mnist":
        return load_idx_dataset("mnist", split, root)
    return load_idx_dataset("fashion-mnist", split, root)
