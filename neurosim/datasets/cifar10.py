"""CIFAR-10 "python version" batches (``data_batch_1``..``5``, ``test_batch``; pickles).

Each batch is a pickled dict with ``b"data"`` (uint8 ``[N, 3072]``: 1,024 red, then green,
then blue values of a 32×32 image, row-major) and ``b"labels"`` (N ints in 0..9).

Unpickling can execute arbitrary code chosen by whoever made the file, so nothing here
unpickles unless the caller opts in with ``allow_pickle=True`` (``load_cifar10`` then issues
a :class:`PickleWarning`; ``read_cifar10_batch`` does not warn). Even then the unpickler
only resolves the few globals a CIFAR batch needs (numpy array reconstruction,
``_codecs.encode``); any other global in the stream is refused. That narrows, but does not
make safe, loading a file from an untrusted source: only load files you trust.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from neurosim.datasets._files import DatasetFormatError, not_found, search_dirs
from neurosim.datasets._split import Split, check_split

__all__ = [
    "CIFAR10_CLASSES",
    "PickleWarning",
    "UnsafePickleError",
    "load_cifar10",
    "read_cifar10_batch",
]

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_SUBDIRS = ("", "cifar-10-batches-py")
_ROW = 3 * 32 * 32
_WHERE = "load_cifar10"
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class UnsafePickleError(ValueError):
    """Refused to unpickle: the caller did not opt in, or the stream names a disallowed global."""


class PickleWarning(UserWarning):
    """Pickled files are being loaded because the caller passed ``allow_pickle=True``."""


class _CifarUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self._path}: the pickle refers to {module}.{name}, which a CIFAR-10 batch "
                f"never needs; refusing to load it (allowed: numpy array reconstruction)"
            )
        return super().find_class(module, name)


def _refuse(paths: list[Path]) -> UnsafePickleError:
    return UnsafePickleError(
        f"{_WHERE}: refusing to unpickle {', '.join(str(p) for p in paths)}: CIFAR-10 python "
        "batches are Python pickles, and loading a pickle can run arbitrary code. If you trust "
        "these files, pass allow_pickle=True."
    )


def _get(batch: dict[Any, Any], key: str) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DatasetFormatError(f"missing key b{key!r}")


def read_cifar10_batch(
    path: str | os.PathLike[str], *, allow_pickle: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch.

    Args:
        path: a ``data_batch_*`` or ``test_batch`` file.
        allow_pickle: must be True: the file is a pickle (see the module docstring).

    Returns:
        ``(images, labels)``: images uint8 ``[N, 3, 32, 32]`` (channels R, G, B), labels
        int64 ``[N]`` in 0..9.

    Raises:
        UnsafePickleError: ``allow_pickle`` is False, or the pickle names a disallowed global.
        DatasetFormatError: not a dict with ``b"data"`` uint8 ``[N, 3072]`` and ``b"labels"``
            of N ints in 0..9.
    """
    path = Path(path)
    if allow_pickle is not True:
        raise _refuse([path])
    with path.open("rb") as f:
        try:
            batch = _CifarUnpickler(f, path).load()
        except UnsafePickleError:
            raise
        except Exception as err:  # any unpickling failure is a malformed file here
            raise DatasetFormatError(
                f"{path}: not a readable pickle ({type(err).__name__}: {err})"
            ) from None
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    try:
        data, labels_raw = _get(batch, "data"), _get(batch, "labels")
    except DatasetFormatError as err:
        keys = ", ".join(repr(k) for k in batch)
        raise DatasetFormatError(
            f"{path}: {err}; a CIFAR-10 batch needs b'data' and b'labels', found {keys}"
        ) from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DatasetFormatError(
            f"{path}: b'data' must be a uint8 array [N, {_ROW}], got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if data.shape[1] != _ROW:
        raise DatasetFormatError(
            f"{path}: b'data' rows must hold {_ROW} values (3×32×32), got shape {data.shape}"
        )
    labels = np.asarray(labels_raw)
    if labels.ndim != 1 or (len(labels) and not np.issubdtype(labels.dtype, np.integer)):
        raise DatasetFormatError(
            f"{path}: b'labels' must be a list of ints, got {labels_raw!r:.80}"
        )
    if len(labels) != len(data):
        raise DatasetFormatError(
            f"{path}: {len(labels)} labels for {len(data)} images in b'data'; expected equal"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetFormatError(
            f"{path}: labels must be in 0..9, got range {labels.min()}..{labels.max()}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _locate(split: str, root: str | os.PathLike[str] | None) -> list[Path]:
    names = _FILES[split]
    dirs = [d / sub for d in search_dirs("cifar10", root, _WHERE) for sub in _SUBDIRS]
    for d in dirs:
        if all((d / n).is_file() for n in names):
            return [d / n for n in names]
    expected = ", ".join(names) + " (the cifar-10-batches-py folder)"
    raise FileNotFoundError(
        not_found(_WHERE, f"CIFAR-10 {split} batches", dirs, expected, "cifar10")
    )


def load_cifar10(
    split: Split, root: str | os.PathLike[str] | None = None, *, allow_pickle: bool = False
) -> TensorDataset:
    """Load a CIFAR-10 split from the python batches (pickles; opt-in, see the module doc).

    Searched: ``root``, ``root/cifar10`` when given (only those), else ``./datasets/cifar10``,
    ``$NEUROSIM_DATA/cifar10``, ``/usr/share/datasets/cifar10``; each also with a
    ``cifar-10-batches-py/`` subfolder. Train = ``data_batch_1``..``5`` in order, test =
    ``test_batch``.

    Returns:
        ``TensorDataset(images, labels)``: images float32 ``[N, 3, 32, 32]`` in [0, 1]
        (value / 255), labels int64 ``[N]`` in 0..9 (names in :data:`CIFAR10_CLASSES`).

    Raises:
        FileNotFoundError: no directory holds every batch of the split.
        UnsafePickleError: ``allow_pickle`` is not True (checked after the files are found,
            so the message names them), or a batch names a disallowed global.
        DatasetFormatError: a batch is malformed (the message names it).
    """
    check_split(split, _WHERE)
    paths = _locate(split, root)
    if allow_pickle is not True:
        raise _refuse(paths)
    warnings.warn(
        f"{_WHERE}: unpickling {len(paths)} CIFAR-10 batch file(s) from {paths[0].parent} "
        "because allow_pickle=True; pickles can run code, load only files you trust",
        PickleWarning,
        stacklevel=2,
    )
    parts = [read_cifar10_batch(p, allow_pickle=True) for p in paths]
    images = np.concatenate([im for im, _ in parts])
    labels = np.concatenate([lab for _, lab in parts])
    x = torch.from_numpy(images).to(torch.float32).div_(255.0)
    return TensorDataset(x, torch.from_numpy(labels))
