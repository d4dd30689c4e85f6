"""Shared split-name type and validation for the dataset loaders."""

from typing import Literal

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")


def check_split(split: object, where: str) -> None:
    """Raise if ``split`` is not ``"train"`` or ``"test"``; ``where`` names the caller."""
    if not isinstance(split, str):
        raise TypeError(f"{where}: split must be a str, got {type(split).__name__}")
    if split not in SPLITS:
        raise ValueError(f"{where}: split must be one of {SPLITS}, got {split!r}")
