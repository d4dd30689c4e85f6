"""Tests for neurosim.datasets.idx, using IDX files written here with struct."""

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from neurosim.datasets import IdxFormatError, load, load_idx_dataset, read_idx

_FMT = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(code: int, dims: tuple[int, ...], values: list[float] | list[int]) -> bytes:
    """Encode an IDX file independently of the reader."""
    header = struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    return header + struct.pack(f">{len(values)}{_FMT[code]}", *values)


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_split(
    directory: Path,
    prefix: str = "train",
    n: int = 3,
    dotted: bool = False,
    gz: bool = False,
    labels: list[int] | None = None,
    hw: tuple[int, int] = (28, 28),
    n_labels: int | None = None,
) -> tuple[list[int], list[int]]:
    """Write a small image/label IDX pair; returns (pixel values, labels)."""
    pixels = [(i * 7) % 256 for i in range(n * hw[0] * hw[1])]
    labels = labels if labels is not None else [i % 10 for i in range(n_labels or n)]
    sep = "." if dotted else "-"
    ext = ".gz" if gz else ""
    write(directory / f"{prefix}-images{sep}idx3-ubyte{ext}", idx_bytes(8, (n, *hw), pixels), gz)
    write(
        directory / f"{prefix}-labels{sep}idx1-ubyte{ext}", idx_bytes(8, (len(labels),), labels), gz
    )
    return pixels, labels


# --- read_idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_roundtrip_ubyte(tmp_path: Path, gz: bool) -> None:
    values = list(range(256)) * 2
    p = write(tmp_path / "a-idx3-ubyte", idx_bytes(0x08, (2, 16, 16), values), gz)
    arr = read_idx(p)
    assert arr.dtype == np.uint8
    assert arr.shape == (2, 16, 16)
    assert arr.ravel().tolist() == values


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("code", [0x0D, 0x0E])
def test_roundtrip_float(tmp_path: Path, gz: bool, code: int) -> None:
    values = [0.0, -1.5, 3.25, 1e-3, 65504.0, -2.0e10]
    p = write(tmp_path / "f.idx", idx_bytes(code, (3, 2), values), gz)
    arr = read_idx(str(p))
    expected = np.array(values, dtype=np.float32 if code == 0x0D else np.float64)
    assert arr.dtype == expected.dtype
    assert arr.dtype.isnative
    np.testing.assert_array_equal(arr.ravel(), expected)


@pytest.mark.parametrize(
    ("code", "dtype", "values"),
    [
        (0x09, np.int8, [-128, -1, 0, 127]),
        (0x0B, np.int16, [-32768, -2, 3, 32767]),
        (0x0C, np.int32, [-(2**31), -5, 6, 2**31 - 1]),
    ],
)
def test_roundtrip_signed(tmp_path: Path, code: int, dtype: type, values: list[int]) -> None:
    arr = read_idx(write(tmp_path / "s", idx_bytes(code, (4,), values)))
    assert arr.dtype == dtype
    assert arr.tolist() == values


def test_gzip_detected_by_magic_not_extension(tmp_path: Path) -> None:
    data = idx_bytes(0x08, (3,), [1, 2, 3])
    gz_no_ext = write(tmp_path / "plain-name", data, gz=True)
    plain_gz_ext = write(tmp_path / "named.gz", data, gz=False)
    assert read_idx(gz_no_ext).tolist() == [1, 2, 3]
    assert read_idx(plain_gz_ext).tolist() == [1, 2, 3]


def _bad_files() -> list[tuple[str, bytes, bool, str]]:
    good = idx_bytes(0x08, (2, 3), [1, 2, 3, 4, 5, 6])
    return [
        ("bad_magic", b"\x01\x00" + good[2:], False, "bad magic"),
        ("unknown_type", b"\x00\x00\x0a\x01" + good[4:], False, "unknown type code 0x0A"),
        ("truncated_data", good[:-1], False, "truncated data"),
        ("truncated_dims", good[:9], False, "truncated header"),
        ("empty", b"", False, "truncated header"),
        ("trailing", good + b"\x00", False, "trailing garbage"),
        ("truncated_in_gzip", good[:-2], True, "truncated data"),
        ("truncated_gzip", gzip.compress(good)[:-6], False, "truncated gzip"),
    ]


@pytest.mark.parametrize(("fname", "data", "gz", "msg"), _bad_files())
def test_format_errors(tmp_path: Path, fname: str, data: bytes, gz: bool, msg: str) -> None:
    p = write(tmp_path / fname, data, gz)
    with pytest.raises(IdxFormatError, match=msg) as info:
        read_idx(p)
    assert str(p) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_gzip(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(idx_bytes(0x08, (4,), [1, 2, 3, 4])))
    blob[-8] ^= 0xFF  # break the CRC
    p = write(tmp_path / "crc.gz", bytes(blob))
    with pytest.raises(IdxFormatError, match="gzip") as info:
        read_idx(p)
    assert str(p) in str(info.value)


# --- load_idx_dataset -----------------------------------------------------------------------


@pytest.mark.parametrize("dotted", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_load_spellings_roundtrip(isolated: Path, dotted: bool, gz: bool) -> None:
    root = isolated / "data"
    pixels, labels = write_split(root, "t10k", n=4, dotted=dotted, gz=gz)
    x, y = load_idx_dataset("mnist", "test", root=root).tensors
    assert x.shape == (4, 1, 28, 28)
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert y.tolist() == labels
    expected = torch.tensor(pixels, dtype=torch.float32).reshape(4, 1, 28, 28) / 255
    assert torch.equal(x, expected)
    assert float(x.min()) >= 0.0
    assert float(x.max()) <= 1.0


def test_root_subdir_and_search_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_split(isolated / "root" / "fashion-mnist", n=1)
    write_split(isolated / "cwd" / "datasets" / "fashion-mnist", n=2)
    write_split(isolated / "env" / "fashion-mnist", n=3)
    write_split(isolated / "system" / "fashion-mnist", n=4)
    monkeypatch.setenv("NEUROSIM_DATA", str(isolated / "env"))
    assert len(load_idx_dataset("fashion-mnist", "train", root=isolated / "root")) == 1
    assert len(load_idx_dataset("fashion-mnist", "train")) == 2
    os.rename(isolated / "cwd" / "datasets", isolated / "cwd" / "moved")
    assert len(load_idx_dataset("fashion-mnist", "train")) == 3
    monkeypatch.delenv("NEUROSIM_DATA")
    assert len(load("fashion-mnist", "train")) == 4


def test_env_var_honoured(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, labels = write_split(isolated / "env" / "mnist", "train", n=5, gz=True)
    monkeypatch.setenv("NEUROSIM_DATA", str(isolated / "env"))
    assert load("mnist", "train").tensors[1].tolist() == labels


def test_missing_files_lists_searched_dirs(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSIM_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_idx_dataset("mnist", "test")
    msg = str(info.value)
    for d in [
        isolated / "cwd" / "datasets" / "mnist",
        isolated / "env" / "mnist",
        isolated / "system" / "mnist",
    ]:
        assert str(d) in msg
    for fname in ["t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte.gz", "t10k-labels-idx1-ubyte"]:
        assert fname in msg
    assert "datasets/mnist" in msg


def test_explicit_root_is_the_only_place_searched(isolated: Path) -> None:
    write_split(isolated / "system" / "fashion-mnist", n=2)  # would be found without root
    root = isolated / "myroot"
    with pytest.raises(FileNotFoundError, match=r"myroot does not exist"):
        load_idx_dataset("fashion-mnist", "train", root=root)
    root.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        load_idx_dataset("fashion-mnist", "train", root=root)
    assert str(root / "fashion-mnist") in str(info.value)
    assert str(isolated / "system") not in str(info.value)


def test_missing_fashion_hint_and_partial(isolated: Path) -> None:
    write(isolated / "r" / "train-images-idx3-ubyte", idx_bytes(8, (1, 28, 28), [0] * 784))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        load_idx_dataset("fashion-mnist", "train", root=isolated / "r")
    assert "has only train-images-idx3-ubyte" in str(info.value)


def test_count_mismatch(isolated: Path) -> None:
    write_split(isolated, n=3, n_labels=2)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*2 labels.*3 images"):
        load_idx_dataset("mnist", "train", root=isolated)


def test_wrong_image_dims(isolated: Path) -> None:
    write_split(isolated, n=2, hw=(27, 28))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*28, 28"):
        load_idx_dataset("mnist", "train", root=isolated)


def test_label_out_of_range(isolated: Path) -> None:
    write_split(isolated, n=2, labels=[3, 10])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*0\.\.9"):
        load_idx_dataset("mnist", "train", root=isolated)


def test_non_ubyte_images(isolated: Path) -> None:
    write_split(isolated, n=1)
    write(isolated / "train-images-idx3-ubyte", idx_bytes(0x0D, (1, 28, 28), [0.5] * 784))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*ubyte"):
        load_idx_dataset("mnist", "train", root=isolated)


def test_malformed_file_in_dataset(isolated: Path) -> None:
    write_split(isolated, n=1)
    p = isolated / "train-labels-idx1-ubyte"
    p.write_bytes(p.read_bytes() + b"xx")
    with pytest.raises(IdxFormatError, match="trailing garbage") as info:
        load_idx_dataset("mnist", "train", root=isolated)
    assert str(p) in str(info.value)


def test_bad_name_and_split(isolated: Path) -> None:
    with pytest.raises(ValueError, match="'emnist'"):
        load_idx_dataset("emnist", "train")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'val'"):
        load_idx_dataset("mnist", "val")  # type: ignore[arg-type]


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    for split, n in [("train", 60_000), ("test", 10_000)]:
        x, y = load("fashion-mnist", split).tensors  # type: ignore[arg-type]
        assert x.shape == (n, 1, 28, 28)
        assert x.dtype == torch.float32
        assert float(x.min()) >= 0.0
        assert float(x.max()) <= 1.0
        assert int(y.min()) == 0
        assert int(y.max()) == 9
        assert torch.bincount(y).tolist() == [n // 10] * 10
