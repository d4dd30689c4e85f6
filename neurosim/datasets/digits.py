"""sklearn's embedded 8×8 handwritten digits (1,797 real images), split deterministically."""

import numpy as np
import torch
from sklearn.datasets import load_digits as _sk_load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from neurosim.datasets._split import Split, check_split

__all__ = ["load_digits"]

_WHERE = "load_digits"
_MAX_PIXEL = 16.0  # sklearn digits pixels are integer counts 0..16


def load_digits(split: Split, test_fraction: float = 0.2, seed: int = 0) -> TensorDataset:
    """Load one split of the sklearn digits dataset.

    The split is stratified by class and fixed by ``seed``: the same arguments always give the
    same samples, and the train and test splits for one (test_fraction, seed) are disjoint.

    Args:
        split: ``"train"`` or ``"test"``.
        test_fraction: fraction of the 1,797 samples in the test split, in (0, 1).
        seed: ``random_state`` passed to ``sklearn.model_selection.train_test_split``.

    Returns:
        ``TensorDataset(images, labels)``: images float32 ``[N, 1, 8, 8]`` in [0, 1]
        (pixel / 16), labels int64 ``[N]`` in 0..9. Default split: N = 1,437 train / 360 test.
    """
    check_split(split, _WHERE)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float):
        raise TypeError(
            f"{_WHERE}: test_fraction must be a float, got {type(test_fraction).__name__}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"{_WHERE}: test_fraction must be in (0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{_WHERE}: seed must be an int, got {type(seed).__name__}")

    x, y = _sk_load_digits(return_X_y=True)
    indices = np.arange(len(y))
    try:
        train_idx, test_idx = train_test_split(
            indices, test_size=float(test_fraction), stratify=y, random_state=int(seed)
        )
    except ValueError as exc:  # e.g. too few test samples to hold every class
        raise ValueError(
            f"{_WHERE}: cannot make a stratified split with test_fraction={test_fraction!r}: {exc}"
        ) from exc

    idx = np.sort(train_idx if split == "train" else test_idx)
    images = torch.from_numpy(x[idx] / _MAX_PIXEL).to(torch.float32).reshape(-1, 1, 8, 8)
    labels = torch.from_numpy(y[idx]).to(torch.int64)
    return TensorDataset(images, labels)
