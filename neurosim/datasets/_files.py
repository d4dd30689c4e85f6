"""Where user-placed dataset files are searched, and the error raised for malformed files."""

import os
from pathlib import Path

from neurosim.datasets import idx as _idx

__all__ = ["DatasetFormatError", "not_found", "search_dirs"]


class DatasetFormatError(ValueError):
    """A dataset file is malformed; the message names the file and what was expected."""


def search_dirs(name: str, root: str | os.PathLike[str] | None, where: str) -> list[Path]:
    """Directories searched for dataset ``name``, in order, without duplicates.

    With ``root``: ``root`` and ``root/<name>`` only (``root`` must exist). Without:
    ``./datasets/<name>``, ``$NEUROSIM_DATA/<name>`` (if set), ``/usr/share/datasets/<name>``,
    the same order as the IDX loaders.
    """
    if root is not None:
        if not Path(root).is_dir():
            raise FileNotFoundError(f"{where}: data directory {root} does not exist")
        return [Path(root), Path(root) / name]
    dirs = [Path("datasets") / name]
    env = os.environ.get(_idx.ENV_VAR)
    if env:
        dirs.append(Path(env) / name)
    dirs.append(_idx.SYSTEM_DATA_ROOT / name)  # read at call time: tests patch it there
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def not_found(where: str, what: str, dirs: list[Path], expected: str, name: str) -> str:
    """The message of a FileNotFoundError listing every directory searched."""
    return "\n".join(
        [
            f"{where}: {what} not found.",
            "Searched (in order): " + ", ".join(str(d.absolute()) for d in dirs),
            f"Expected: {expected}",
            f"Hint: place the files in datasets/{name}/ or ${_idx.ENV_VAR}/{name}/ "
            "(nothing is downloaded).",
        ]
    )
