"""Checkpoints: atomic writes, ``weights_only`` loads, clear errors.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so
``torch.load(path, weights_only=True)`` reads it without unpickling code. It is written to a
temporary file in the target folder, flushed to disk, and renamed over the target: a crash
mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT",
    "CheckpointError",
    "atomic_path",
    "atomic_write_bytes",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "neurosim.checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "epoch", "model_state", "config")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or is not a neurosim checkpoint."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, the file written
    there is fsynced and renamed over ``path``; when it fails, it is removed and ``path``
    keeps its previous content."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # persist the rename itself
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    _atomic_write(Path(path), lambda f: f.write(data))


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (with format and version added) atomically to ``path``."""
    data = {"format": FORMAT, "version": VERSION, **payload}
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ValueError(f"checkpoint payload is missing {', '.join(missing)}")
    _atomic_write(Path(path), lambda f: torch.save(data, f))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {p} does not exist")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {p} cannot be read ({type(err).__name__}: {str(err)[:200]}); "
            "the file is truncated, corrupt or not a torch checkpoint"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a neurosim checkpoint (field 'format' != {FORMAT!r})")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{p}: checkpoint version {data.get('version')!r} is not supported; expected {VERSION}"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{p}: checkpoint is missing field(s) {', '.join(missing)}")
    return data
