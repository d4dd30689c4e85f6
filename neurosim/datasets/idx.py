"""IDX file reader (plain or gzip) and MNIST / Fashion-MNIST loaders."""

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from neurosim.datasets._split import Split, check_split

__all__ = ["IDX_NAMES", "IdxFormatError", "IdxName", "load_idx_dataset", "read_idx"]

IdxName = Literal["mnist", "fashion-mnist"]
IDX_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist")

# IDX type byte -> big-endian numpy dtype
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_STEMS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_HW = (28, 28)
_N_CLASSES = 10
ENV_VAR = "NEUROSIM_DATA"
SYSTEM_DATA_ROOT = Path("/usr/share/datasets")  # Debian dataset-* packages install here
_WHERE = "load_idx_dataset"


class IdxFormatError(ValueError):
    """An IDX file is malformed; the message names the file and the problem."""


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file, plain or gzip-compressed (detected by magic bytes, not extension).

    Args:
        path: file to read.

    Returns:
        Array with the shape given by the file's dims, in native byte order; dtype uint8, int8,
        int16, int32, float32 or float64 per the type byte.

    Raises:
        IdxFormatError: bad magic, unknown type code, truncated header/data/gzip stream, or
            trailing bytes after the data.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise IdxFormatError(f"{path}: truncated gzip stream ({exc})") from exc
        except (OSError, zlib.error) as exc:
            raise IdxFormatError(f"{path}: corrupt gzip stream ({exc})") from exc

    if len(raw) < 4:
        raise IdxFormatError(f"{path}: truncated header: {len(raw)} bytes, expected at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(
            f"{path}: bad magic: first two bytes are {raw[:2].hex()}, expected 0000"
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise IdxFormatError(f"{path}: unknown type code 0x{code:02X}, expected one of {known}")
    dtype = _DTYPES[code]

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IdxFormatError(
            f"{path}: truncated header: {ndim} dims need {header_len} bytes, file has {len(raw)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(dims) * dtype.itemsize
    actual = len(raw) - header_len
    if actual < expected:
        raise IdxFormatError(
            f"{path}: truncated data: dims {dims} of {dtype.itemsize}-byte items need "
            f"{expected} bytes, got {actual}"
        )
    if actual > expected:
        raise IdxFormatError(
            f"{path}: trailing garbage: {actual - expected} bytes after the {expected} data bytes "
            f"for dims {dims}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header_len)
    return data.reshape(dims).astype(dtype.newbyteorder("="))


def _spellings(stem: str) -> list[str]:
    """Accepted file names for a stem: ``a-idx3-ubyte``, ``a.idx3-ubyte``, each plain or .gz."""
    dotted = stem.replace("-idx", ".idx", 1)
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def _search_dirs(name: str, root: str | os.PathLike[str] | None) -> list[Path]:
    """Directories searched, in order, without duplicates; a given ``root`` is the only place."""
    dirs: list[Path] = []
    if root is not None:
        if not Path(root).is_dir():
            raise FileNotFoundError(f"{_WHERE}: data directory {root} does not exist")
        return [Path(root), Path(root) / name]
    dirs.append(Path("datasets") / name)
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env) / name)
    dirs.append(SYSTEM_DATA_ROOT / name)
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find(directory: Path, stem: str) -> Path | None:
    for fname in _spellings(stem):
        candidate = directory / fname
        if candidate.is_file():
            return candidate
    return None


def _locate(name: str, split: str, root: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """Return (images, labels) paths from the first directory holding both."""
    image_stem, label_stem = _STEMS[split]
    dirs = _search_dirs(name, root)
    partial: list[str] = []
    for d in dirs:
        images, labels = _find(d, image_stem), _find(d, label_stem)
        if images is not None and labels is not None:
            return images, labels
        found = images or labels
        if found is not None:
            partial.append(f"{d} has only {found.name}")

    if name == "fashion-mnist":
        hint = "run `apt-get install dataset-fashion-mnist`, or place the files in"
    else:
        hint = "place the files in"
    lines = [
        f"{_WHERE}: {name} {split} files not found.",
        "Searched (in order): " + ", ".join(str(d.absolute()) for d in dirs),
        "Accepted image names: " + ", ".join(_spellings(image_stem)),
        "Accepted label names: " + ", ".join(_spellings(label_stem)),
    ]
    if partial:
        lines.append("Incomplete: " + "; ".join(partial))
    lines.append(f"Hint: {hint} datasets/{name}/ or ${ENV_VAR}/{name}/.")
    raise FileNotFoundError("\n".join(lines))


def load_idx_dataset(
    name: IdxName, split: Split, root: str | os.PathLike[str] | None = None
) -> TensorDataset:
    """Load MNIST or Fashion-MNIST from IDX files.

    Search order: ``root`` and ``root/<name>`` when given (and only those), else
    ``./datasets/<name>/``, ``$NEUROSIM_DATA/<name>/`` (if set),
    ``/usr/share/datasets/<name>/``. The first directory holding both the image and label
    file wins. File names: ``train-images-idx3-ubyte`` /
    ``train-labels-idx1-ubyte`` (``t10k-`` for test), also with ``.idx`` instead of ``-idx``,
    each plain or ``.gz``.

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"``.
        split: ``"train"`` or ``"test"``.
        root: optional directory; when given, nothing else is searched.

    Returns:
        ``TensorDataset(images, labels)``: images float32 ``[N, 1, 28, 28]`` in [0, 1]
        (pixel / 255), labels int64 ``[N]`` in 0..9.

    Raises:
        FileNotFoundError: no directory holds both files (lists every directory searched).
        IdxFormatError: a file is malformed.
        ValueError: wrong image type/shape, label count mismatch, or label out of 0..9.
    """
    if not isinstance(name, str) or name not in IDX_NAMES:
        raise ValueError(f"{_WHERE}: name must be one of {IDX_NAMES}, got {name!r}")
    check_split(split, _WHERE)
    image_path, label_path = _locate(name, split, root)

    images = read_idx(image_path)
    if images.dtype != np.uint8:
        raise ValueError(f"{image_path}: images must be ubyte (type 0x08), got {images.dtype}")
    if images.ndim != 3 or images.shape[1:] != _IMAGE_HW:
        raise ValueError(f"{image_path}: images must have dims [N, 28, 28], got {images.shape}")

    labels = read_idx(label_path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{label_path}: labels must be a 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    if len(labels) != len(images):
        raise ValueError(
            f"{label_path}: {len(labels)} labels but {image_path} has {len(images)} images"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= _N_CLASSES):
        raise ValueError(
            f"{label_path}: labels must be in 0..{_N_CLASSES - 1}, "
            f"got range {labels.min()}..{labels.max()}"
        )

    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return TensorDataset(x, y)
