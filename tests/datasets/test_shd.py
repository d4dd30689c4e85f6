"""Tests for neurosim.datasets.shd, on tiny SHD-layout HDF5 files written here with h5py."""

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

from neurosim.datasets import DatasetFormatError, load_shd, read_shd

TIMES = [[0.05, 0.3, 0.31, 0.9], [], [0.5]]
UNITS = [[0, 699, 699, 12], [], [350]]
LABELS = [3, 19, 0]


def write_shd(
    path: Path,
    times: list[list[float]] = TIMES,
    units: list[list[int]] = UNITS,
    labels: list[int] = LABELS,
    skip: tuple[str, ...] = (),
    ragged: bool = True,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            if ragged:
                d = f.create_dataset(
                    "spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float16)
                )
                for i, t in enumerate(times):
                    d[i] = np.array(t, dtype=np.float16)
            else:
                f["spikes/times"] = np.zeros((len(times), 4))
        if "spikes/units" not in skip:
            d = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
            for i, u in enumerate(units):
                d[i] = np.array(u, dtype=np.uint16)
        if "labels" not in skip:
            f["labels"] = np.array(labels, dtype=np.uint16)
    return path


def test_read_shd_returns_the_values_written(tmp_path: Path) -> None:
    events, labels = read_shd(write_shd(tmp_path / "shd_train.h5"))
    assert labels.tolist() == LABELS
    assert labels.dtype == np.int64
    assert len(events) == 3
    for ev, t, u in zip(events, TIMES, UNITS, strict=True):
        assert ev.shape == (700,)
        assert ev.axes == ("unit",)
        np.testing.assert_array_equal(ev.times_s, np.array(t, dtype=np.float16).astype(float))
        assert ev.coord("unit").tolist() == u


def test_load_shd_bins_to_hand_counts(isolated: Path) -> None:
    write_shd(isolated / "cwd" / "datasets" / "shd" / "shd_test.h5")
    ds = load_shd("test", n_bins=10, duration_s=1.0)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (10, 700)
    assert int(y) == 3
    # float16 in the file: 0.0500 -> bin 0 (unit 0), 0.3000 and 0.3101 -> bin 3 (unit 699),
    # 0.8999 -> bin 8 (unit 12); 100 ms bins
    expected = torch.zeros(10, 700)
    expected[0, 0] = 1
    expected[3, 699] = 2
    expected[8, 12] = 1
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(
        load_shd("test", n_bins=10, duration_s=1.0, binary=True)[0][0], expected.clamp(max=1)
    )
    assert x.sum() == 4
    assert ds[1][0].sum() == 0
    xb, yb = next(iter(ds.loader(batch_size=3)))
    assert xb.shape == (10, 3, 700)
    assert yb.tolist() == LABELS
    assert xb[:, 2, 350].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]


def test_search_order_root_env_and_missing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_shd(isolated / "env" / "shd" / "shd_train.h5", labels=[1, 1, 1])
    monkeypatch.setenv("NEUROSIM_DATA", str(isolated / "env"))
    assert load_shd("train").labels.tolist() == [1, 1, 1]
    write_shd(isolated / "mine" / "shd_train.h5", labels=[2, 2, 2])
    assert load_shd("train", root=isolated / "mine").labels.tolist() == [2, 2, 2]
    with pytest.raises(FileNotFoundError, match=r"SHD test file not found(.|\n)*shd_test\.h5"):
        load_shd("test")
    (isolated / "mine" / "shd_test.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(FileNotFoundError, match="decompress it first"):
        load_shd("test", root=isolated / "mine")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_shd("test", root=isolated / "nowhere")
    with pytest.raises(ValueError, match="split must be one of"):
        load_shd("valid")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"skip": ("spikes/units",)}, r"missing HDF5 key\(s\) spikes/units"),
        ({"skip": ("labels", "spikes/times")}, r"missing HDF5 key\(s\) spikes/times, labels"),
        ({"ragged": False}, r"'spikes/times' must be a 1-D dataset"),
        ({"labels": [1, 2]}, "sample counts differ: spikes/times has 3, spikes/units 3, labels 2"),
        ({"units": [[0, 1, 2], [], [350]]}, "sample 0 has 4 spike times but 3 units"),
        (
            {"units": [[0, 1, 2, 700], [], [3]]},
            r"sample 0: units must be in 0..699, got range 0..700",
        ),
        ({"labels": [0, 20, 1]}, r"labels must be in 0..19, got range 0..20"),
        ({"times": [[0.1, -0.2, 0.3, 0.4], [], [0.5]]}, "sample 0: times must be finite"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(
    tmp_path: Path, kwargs: dict[str, Any], match: str
) -> None:
    path = write_shd(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(DatasetFormatError, match=match) as err:
        read_shd(path)
    assert str(path) in str(err.value)


def test_not_hdf5_and_non_ragged_rows(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(DatasetFormatError, match=r"junk\.h5: cannot open as HDF5"):
        read_shd(junk)
    flat = tmp_path / "flat.h5"
    with h5py.File(flat, "w") as f:
        f["spikes/times"] = np.zeros(3)
        f["spikes/units"] = np.zeros(3, dtype=np.int64)
        f["labels"] = np.zeros(3, dtype=np.int64)
    with pytest.raises(DatasetFormatError, match="must be ragged"):
        read_shd(flat)
