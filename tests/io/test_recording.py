from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

import neurosim as ns
from neurosim.io.recording import FORMAT, Recording, RecordingError, load_run, save_run


class _Report:
    def to_dict(self) -> dict[str, Any]:
        return {"format": "neurosim.energy", "energy_total_pj": 12.5, "terms": {"syn": 1.0}}


def _mlp_run(B: int = 5, T: int = 7) -> tuple[ns.Sequential, ns.Run]:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(6, 8), ns.LIF(v_th=0.3), ns.Linear(8, 4), ns.LIF(v_th=0.2))
    with torch.no_grad():
        run = net.run(torch.rand(T, B, 6) * 2, record_membrane=True)
    return net, run


def _conv_run() -> tuple[ns.Sequential, ns.Run]:
    torch.manual_seed(1)
    net = ns.Sequential(
        ns.Conv2d(1, 3, 3, padding=1),
        ns.LIF(v_th=0.2),
        ns.Flatten(),
        ns.Linear(3 * 5 * 5, 4),
        ns.LIF(v_th=0.2),
    )
    with torch.no_grad():
        run = net.run(torch.rand(4, 3, 1, 5, 5) * 2, record_membrane=True)
    return net, run


@pytest.mark.parametrize("make", [_mlp_run, _conv_run])
def test_round_trip_every_field(tmp_path: Path, make: Any) -> None:
    net, run = make()
    path = tmp_path / "sub" / "rec.h5"
    meta = {"seed": 0, "profile": "loihi2"}
    save_run(run, path, network=net, energy_report=_Report(), metadata=meta)
    assert [p.name for p in path.parent.iterdir()] == ["rec.h5"]  # no temp files left
    T, B = run.output.shape[:2]
    with load_run(path) as rec:
        assert (rec.T, rec.B) == (T, B)
        spiking = run.spiking_layers()
        assert rec.layers == [a.name for a in spiking]
        for act in spiking:
            assert act.output.sum() > 0  # the test exercises real events
            assert rec.shape(act.name) == tuple(act.output.shape[2:])
            assert rec.kind(act.name) == "LIF"
            assert torch.equal(rec.spikes(act.name), act.output)
            assert torch.equal(rec.spikes(act.index), act.output)
            assert torch.equal(rec.spikes(act.name, slice(1, 3)), act.output[:, 1:3])
            assert torch.equal(rec.membrane(act.name), run.membranes[act.index].float())
            assert torch.equal(
                rec.membrane(act.name, slice(0, None, 2)), run.membranes[act.index][:, ::2]
            )
        assert rec.metadata["seed"] == 0
        assert rec.metadata["profile"] == "loihi2"
        assert rec.metadata["neurosim_version"] == ns.__version__
        assert rec.metadata["torch_version"] == torch.__version__
        assert rec.network is not None
        assert rec.network["repr"] == repr(net)
        assert rec.network["layer_names"] == net.layer_names()
        assert rec.energy_report == _Report().to_dict()
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT
        assert int(f.attrs["version"]) == 1
        g = f["layers"][run.spiking_layers()[0].name]
        for name in ("t", "unit", "sample", "membrane"):
            assert g[name].compression == "gzip"
            assert g[name].chunks is not None
        assert g["t"].dtype == np.int32
        assert g["unit"].dtype == np.int64
        assert g["sample"].dtype == np.int32
        assert g["membrane"].dtype == np.float32


def test_events_sorted_and_counted(tmp_path: Path) -> None:
    _, run = _conv_run()
    path = tmp_path / "rec.h5"
    save_run(run, path)
    with load_run(path) as rec:
        for act in run.spiking_layers():
            t, unit, sample = rec.events(act.name)
            assert len(t) == len(unit) == len(sample) == int(act.output.sum())
            keys = np.stack([sample.astype(np.int64), t.astype(np.int64), unit])
            order = np.lexsort(keys[::-1])
            assert np.array_equal(order, np.arange(len(t)))  # already sorted by (sample, t, unit)
            n = int(np.prod(rec.shape(act.name)))
            flat = act.output.reshape(*act.output.shape[:2], n)
            assert bool(
                (
                    flat[
                        torch.from_numpy(t).long(),
                        torch.from_numpy(sample).long(),
                        torch.from_numpy(unit),
                    ]
                    == 1
                ).all()
            )


def test_partial_read_reads_only_the_requested_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, run = _mlp_run(B=6)
    path = tmp_path / "rec.h5"
    save_run(run, path, membranes=False)
    act = run.spiking_layers()[0]
    rec = load_run(path)  # usable without `with`
    try:
        t_all, _, sample_all = rec.events(act.name)
        want = int((sample_all == 4).sum())
        reads: list[tuple[str, int]] = []
        original = h5py.Dataset.__getitem__

        def spy(self: h5py.Dataset, key: Any) -> Any:
            out = original(self, key)
            reads.append((self.name.rsplit("/", 1)[-1], np.size(out)))
            return out

        monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
        got = rec.spikes(act.name, slice(4, 5))
        assert torch.equal(got, act.output[:, 4:5])
        sizes = dict(reads)
        assert sizes["t"] == sizes["unit"] == want < len(t_all)
        with pytest.raises(ValueError, match="no membrane trace"):
            rec.membrane(act.name)
        assert rec.spikes(act.name, slice(3, 3)).shape == (run.output.shape[0], 0, 8)
    finally:
        rec.close()
    rec.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        rec.events(act.name)


def test_unknown_layer_lists_layers(tmp_path: Path) -> None:
    _, run = _mlp_run()
    path = tmp_path / "rec.h5"
    save_run(run, path)
    with load_run(path) as rec, pytest.raises(ValueError, match=r"1\.LIF, 3\.LIF"):
        rec.spikes("2.LIF")
    assert isinstance(rec, Recording)


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, run = _mlp_run()
    path = tmp_path / "rec.h5"
    save_run(run, path, metadata={"seed": 1})
    before = path.read_bytes()

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_run(run, path, metadata={"seed": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["rec.h5"]
    with load_run(path) as rec:
        assert rec.metadata["seed"] == 1


def test_truncated_file_is_a_recording_error(tmp_path: Path) -> None:
    _, run = _mlp_run()
    path = tmp_path / "rec.h5"
    save_run(run, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"rec\.h5.*truncated"):
        load_run(path)
    path.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(RecordingError, match="corrupt"):
        load_run(path)


def test_foreign_hdf5_is_a_recording_error(tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(RecordingError, match="attribute 'format'"):
        load_run(path)
    with h5py.File(path, "a") as f:
        f.attrs["format"] = "something.else"
    with pytest.raises(RecordingError, match=r"something\.else"):
        load_run(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.h5"):
        load_run(tmp_path / "nope.h5")


def test_metadata_must_be_json(tmp_path: Path) -> None:
    _, run = _mlp_run()
    with pytest.raises(TypeError, match="metadata"):
        save_run(run, tmp_path / "rec.h5", metadata={"obj": object()})
    assert list(tmp_path.iterdir()) == []
