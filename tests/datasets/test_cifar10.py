"""Tests for neurosim.datasets.cifar10, on tiny CIFAR-layout pickles written here."""

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from neurosim.datasets import (
    DatasetFormatError,
    PickleWarning,
    UnsafePickleError,
    load_cifar10,
    read_cifar10_batch,
)


def batch(n: int, seed: int, label0: int = 0) -> dict[bytes, Any]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return {
        b"batch_label": b"testing batch",
        b"labels": [(label0 + i) % 10 for i in range(n)],
        b"data": data,
        b"filenames": [f"img{i}.png".encode() for i in range(n)],
    }


def write(path: Path, obj: object, protocol: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def write_split_dirs(d: Path) -> list[dict[bytes, Any]]:
    batches = [batch(3, seed=i, label0=i) for i in range(6)]
    for i in range(5):
        write(d / f"data_batch_{i + 1}", batches[i])
    write(d / "test_batch", batches[5])
    return batches


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_read_batch_decodes_channels_row_major(tmp_path: Path, protocol: int) -> None:
    b = batch(4, seed=1)
    images, labels = read_cifar10_batch(write(tmp_path / "b", b, protocol), allow_pickle=True)
    assert images.shape == (4, 3, 32, 32)
    assert images.dtype == np.uint8
    assert labels.tolist() == [0, 1, 2, 3]
    row = b[b"data"][2]
    # channel c, pixel (r, col) is row[c * 1024 + r * 32 + col]
    for c, r, col in [(0, 0, 0), (1, 5, 31), (2, 31, 7), (2, 31, 31)]:
        assert images[2, c, r, col] == row[c * 1024 + r * 32 + col]


def test_python2_style_numpy_core_globals_load(tmp_path: Path) -> None:
    """The released files name numpy.core.multiarray._reconstruct (Python 2, numpy 1.x)."""
    raw = pickle.dumps(batch(2, seed=3), protocol=2).replace(
        b"numpy._core.multiarray", b"numpy.core.multiarray"
    )
    assert b"numpy.core.multiarray" in raw
    path = tmp_path / "legacy"
    path.write_bytes(raw)
    images, labels = read_cifar10_batch(path, allow_pickle=True)
    assert images.reshape(2, -1).tolist() == batch(2, seed=3)[b"data"].tolist()
    assert labels.tolist() == [0, 1]


def test_refused_without_opt_in(isolated: Path) -> None:
    path = write(isolated / "b", batch(1, seed=0))
    with pytest.raises(UnsafePickleError, match=r"refusing to unpickle .*b: .*arbitrary code"):
        read_cifar10_batch(path)
    write_split_dirs(isolated / "cwd" / "datasets" / "cifar10")
    with pytest.raises(UnsafePickleError, match=r"data_batch_1.*pass allow_pickle=True"):
        load_cifar10("train")


class _Exploit:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.target,))


def test_disallowed_global_is_refused_even_with_opt_in(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = write(tmp_path / "evil", {b"data": _Exploit(str(target)), b"labels": []})
    with pytest.raises(UnsafePickleError, match=r"evil: the pickle refers to posix\.mkdir"):
        read_cifar10_batch(path, allow_pickle=True)
    assert not target.exists()


def test_load_with_opt_in_warns_and_concatenates_batches(isolated: Path) -> None:
    batches = write_split_dirs(isolated / "cwd" / "datasets" / "cifar10" / "cifar-10-batches-py")
    with pytest.warns(PickleWarning, match="allow_pickle=True"):
        train = load_cifar10("train", allow_pickle=True)
    x, y = train.tensors
    assert x.shape == (15, 3, 32, 32)
    assert x.dtype == torch.float32
    data = np.concatenate([b[b"data"] for b in batches[:5]])
    torch.testing.assert_close(x.reshape(15, -1), torch.from_numpy(data).float() / 255)
    assert y.tolist() == [lab for b in batches[:5] for lab in b[b"labels"]]
    with pytest.warns(PickleWarning):
        test = load_cifar10(
            "test", root=isolated / "cwd" / "datasets" / "cifar10", allow_pickle=True
        )
    assert test.tensors[1].tolist() == [5, 6, 7]


def test_missing_files_are_listed(isolated: Path) -> None:
    d = isolated / "cwd" / "datasets" / "cifar10"
    write_split_dirs(d)
    (d / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 train batches not found"):
        load_cifar10("train", allow_pickle=True)


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ([1, 2], "expected a pickled dict, got list"),
        ({b"labels": [1]}, r"missing key b'data'; a CIFAR-10 batch needs b'data' and b'labels'"),
        ({b"data": np.zeros((1, 3072), np.uint8)}, "missing key b'labels'"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, r"rows must hold 3072"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "must be a uint8 array"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, "1 labels for 2 images"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, r"labels must be in 0..9"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": ["a"]}, "must be a list of ints"),
    ],
)
def test_malformed_batches_name_the_file(tmp_path: Path, obj: object, match: str) -> None:
    path = write(tmp_path / "bad_batch", obj)
    with pytest.raises(DatasetFormatError, match=match) as err:
        read_cifar10_batch(path, allow_pickle=True)
    assert str(path) in str(err.value)


def test_truncated_pickle(tmp_path: Path) -> None:
    raw = pickle.dumps(batch(2, seed=0), protocol=2)
    path = tmp_path / "cut"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetFormatError, match=r"cut: not a readable pickle"):
        read_cifar10_batch(path, allow_pickle=True)
