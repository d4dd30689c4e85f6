"""Tests for neurosim.datasets.digits (sklearn's bundled 8×8 digits)."""

import numpy as np
import pytest
import torch

from neurosim.datasets import DATASETS, info, load, load_digits


def _rows(images: torch.Tensor) -> set[bytes]:
    return {r.tobytes() for r in images.reshape(len(images), -1).numpy()}


def test_default_sizes_shapes_dtypes() -> None:
    train, test = load_digits("train"), load_digits("test")
    x_tr, y_tr = train.tensors
    x_te, y_te = test.tensors
    assert len(train) == 1437
    assert len(test) == 360
    assert x_tr.shape == (1437, 1, 8, 8)
    assert x_te.shape == (360, 1, 8, 8)
    assert x_tr.dtype == torch.float32
    assert y_tr.dtype == torch.int64
    assert y_te.shape == (360,)


def test_value_range() -> None:
    x, y = load_digits("train").tensors
    assert float(x.min()) == 0.0
    assert float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))
    # pixels are k/16 for integer k
    assert torch.equal(x * 16, torch.round(x * 16))


def test_deterministic_for_same_seed() -> None:
    a, b = load_digits("test", seed=3), load_digits("test", seed=3)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert torch.equal(a.tensors[1], b.tensors[1])


def test_different_seed_changes_split() -> None:
    a, b = load_digits("test", seed=0), load_digits("test", seed=1)
    assert _rows(a.tensors[0]) != _rows(b.tensors[0])


def test_train_test_disjoint_and_cover_all() -> None:
    tr, te = load_digits("train", 0.25, 7), load_digits("test", 0.25, 7)
    rows_tr, rows_te = _rows(tr.tensors[0]), _rows(te.tensors[0])
    assert rows_tr.isdisjoint(rows_te)
    assert len(rows_tr) + len(rows_te) == 1797


def test_stratified_class_balance() -> None:
    _, y_tr = load_digits("train").tensors
    _, y_te = load_digits("test").tensors
    frac = np.bincount(y_te.numpy(), minlength=10) / (
        np.bincount(y_tr.numpy(), minlength=10) + np.bincount(y_te.numpy(), minlength=10)
    )
    assert np.all(np.abs(frac - 0.2) < 0.02)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction(bad: float) -> None:
    with pytest.raises(ValueError, match=r"load_digits.*test_fraction"):
        load_digits("train", test_fraction=bad)


def test_test_fraction_too_small_for_stratify() -> None:
    with pytest.raises(ValueError, match=r"load_digits.*stratified"):
        load_digits("test", test_fraction=0.001)


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="test_fraction"):
        load_digits("train", test_fraction="0.2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        load_digits("train", seed=1.5)  # type: ignore[arg-type]


def test_bad_split() -> None:
    with pytest.raises(ValueError, match=r"load_digits.*'valid'"):
        load_digits("valid")  # type: ignore[arg-type]


def test_registry_and_info() -> None:
    assert DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10", "shd", "nmnist")
    assert info("digits").input_shape == (1, 8, 8)
    assert info("fashion-mnist").input_shape == (1, 28, 28)
    assert all(info(n).n_classes == 10 for n in DATASETS if n != "shd")
    with pytest.raises(ValueError, match=r"imagenet.*digits.*mnist.*fashion-mnist"):
        info("imagenet")


def test_load_dispatch_digits() -> None:
    ds = load("digits", "test")
    assert torch.equal(ds.tensors[0], load_digits("test").tensors[0])
    assert ds.tensors[0].shape[1:] == info("digits").input_shape
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'.*expected one of"):
        load("imagenet", "train")
