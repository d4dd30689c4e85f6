"""Tests for neurosim.datasets.nmnist, on .bin files hand-encoded here byte by byte."""

from pathlib import Path

import numpy as np
import pytest
import torch

from neurosim.datasets import DatasetFormatError, load_nmnist, read_nmnist_bin
from neurosim.datasets.nmnist import OVERFLOW_INCREMENT_US


def encode(x: int, y: int, p: int, t_us: int) -> bytes:
    """One 40-bit N-MNIST event: x, y, p | t[22:16], t[15:8], t[7:0]."""
    return bytes([x, y, (p << 7) | ((t_us >> 16) & 0x7F), (t_us >> 8) & 0xFF, t_us & 0xFF])


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_literal_bytes_decode(tmp_path: Path) -> None:
    # x=5, y=7, ON, t = 0x01_02_03 µs = 66051; x=33, y=0, OFF, t = 0x7F_FF_FF = 2**23 - 1
    ev = read_nmnist_bin(write(tmp_path / "a.bin", b"\x05\x07\x81\x02\x03\x21\x00\x7f\xff\xff"))
    assert ev.shape == (2, 34, 34)
    assert ev.axes == ("polarity", "y", "x")
    assert ev.coord("x").tolist() == [5, 33]
    assert ev.coord("y").tolist() == [7, 0]
    assert ev.coord("polarity").tolist() == [1, 0]
    np.testing.assert_allclose(ev.times_s, [66051e-6, (2**23 - 1) * 1e-6], rtol=0, atol=1e-12)


def test_overflow_markers_shift_later_events_and_are_dropped(tmp_path: Path) -> None:
    assert OVERFLOW_INCREMENT_US == 8192  # eventvision.py / tonic: 2**13 per marker
    data = (
        encode(1, 2, 0, 100)
        + encode(0, 240, 0, 0)  # overflow marker
        + encode(3, 4, 1, 50)
        + encode(9, 240, 1, 7)  # second marker (its x, p, t are ignored)
        + encode(5, 6, 0, 10)
        + encode(33, 33, 1, 20)
    )
    ev = read_nmnist_bin(write(tmp_path / "o.bin", data))
    assert len(ev) == 4
    t_us = np.rint(ev.times_s * 1e6).astype(int).tolist()
    assert t_us == [100, 50 + 8192, 10 + 2 * 8192, 20 + 2 * 8192]
    assert ev.coord("x").tolist() == [1, 3, 5, 33]
    assert ev.coord("y").tolist() == [2, 4, 6, 33]
    assert ev.coord("polarity").tolist() == [0, 1, 0, 1]


def test_empty_file_has_no_events(tmp_path: Path) -> None:
    assert len(read_nmnist_bin(write(tmp_path / "e.bin", b""))) == 0


def test_corrupt_files_name_the_file(tmp_path: Path) -> None:
    short = write(tmp_path / "short.bin", encode(1, 1, 0, 5) + b"\x01\x02")
    with pytest.raises(DatasetFormatError, match=r"short\.bin: 7 bytes is not a multiple of 5"):
        read_nmnist_bin(short)
    wide = write(tmp_path / "wide.bin", encode(1, 1, 0, 5) + encode(34, 2, 0, 6))
    with pytest.raises(
        DatasetFormatError, match=r"wide\.bin: event 1 \(byte offset 5\) has x=34, y=2"
    ):
        read_nmnist_bin(wide)


def make_tree(base: Path, split: str = "Train") -> None:
    write(base / split / "0" / "00002.bin", encode(0, 0, 1, 1000) + encode(1, 0, 0, 250_000))
    write(base / split / "0" / "00001.bin", encode(2, 3, 0, 0))
    write(base / split / "7" / "00005.bin", encode(10, 20, 1, 150_000) + encode(10, 20, 1, 150_001))
    write(base / split / "7" / "notes.txt", b"ignored")


def test_load_nmnist_labels_order_and_binning(isolated: Path) -> None:
    make_tree(isolated / "cwd" / "datasets" / "nmnist")
    ds = load_nmnist("train", n_bins=3, duration_s=0.3)
    assert len(ds) == 3
    assert ds.labels.tolist() == [0, 0, 7]
    # sorted by digit then name: 00001.bin, 00002.bin, 00005.bin
    assert ds.events(0).coord("x").tolist() == [2]
    x, y = ds[1]  # 1 ms ON at (y0, x0) -> bin 0; 250 ms OFF at (y0, x1) -> bin 2
    assert x.shape == (3, 2, 34, 34)
    assert int(y) == 0
    expected = torch.zeros(3, 2, 34, 34)
    expected[0, 1, 0, 0] = 1
    expected[2, 0, 0, 1] = 1
    torch.testing.assert_close(x, expected)
    xb, yb = next(iter(ds.loader(batch_size=3)))
    assert xb.shape == (3, 3, 2, 34, 34)
    assert yb.tolist() == [0, 0, 7]
    assert xb[1, 2, 1, 20, 10] == 2  # both 150 ms events: bin 1, ON, y=20, x=10
    assert ds.binary is False
    binary = load_nmnist("train", n_bins=3, duration_s=0.3, binary=True)
    assert binary[2][0][1, 1, 20, 10] == 1


def test_root_lowercase_split_and_missing(isolated: Path) -> None:
    make_tree(isolated / "data" / "nmnist", split="test")
    ds = load_nmnist("test", root=isolated / "data", n_bins=2)
    assert ds.labels.tolist() == [0, 0, 7]
    with pytest.raises(FileNotFoundError, match=r"N-MNIST train folder not found(.|\n)*Train/"):
        load_nmnist("train", root=isolated / "data")
    (isolated / "empty" / "Train" / "3").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"holds no <digit>/\*\.bin files"):
        load_nmnist("train", root=isolated / "empty")
    with pytest.raises(FileNotFoundError, match=r"Searched \(in order\)"):
        load_nmnist("train")
