"""Training on the event datasets (SHD, N-MNIST) and CIFAR-10 from the config and the CLI,
on tiny files written here in each dataset's own format."""

import json
import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from pydantic import ValidationError
from typer.testing import CliRunner

from neurosim.cli import app
from neurosim.core.encoding import Direct, Sequence
from neurosim.datasets import EventDataset, PickleWarning, UnsafePickleError, info, load
from neurosim.datasets import idx as idx_module
from neurosim.datasets import nmnist as nmnist_module
from neurosim.energy.checkpoint import estimate_checkpoint
from neurosim.io import load_run
from neurosim.models import build_encoder
from neurosim.training.job import TrainConfig, load_data, run_job

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No dataset is found outside what a test writes (cwd, $NEUROSIM_DATA, system dir)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    monkeypatch.setattr(idx_module, "SYSTEM_DATA_ROOT", tmp_path / "system")


def write_shd(path: Path, times: list[np.ndarray], units: list[np.ndarray], labels: Any) -> Path:
    """An SHD-layout HDF5 file: ragged spikes/times (s), spikes/units, labels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i] = np.asarray(ti, dtype=np.float32)
            u[i] = np.asarray(ui, dtype=np.uint16)
        f["labels"] = np.asarray(labels, dtype=np.uint16)
    return path


def banded_shd(path: Path, n: int, seed: int, n_classes: int = 4) -> Path:
    """Class c fires 60 random spikes in units [150c, 150c + 100) at times in [0, 1) s."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    times = [rng.uniform(0.0, 1.0, 60) for _ in labels]
    units = [rng.integers(150 * c, 150 * c + 100, 60) for c in labels]
    return write_shd(path, times, units, labels)


def nmnist_event(x: int, y: int, p: int, t_us: int) -> bytes:
    """One 40-bit N-MNIST event: x, y, p | t[22:16], t[15:8], t[7:0]."""
    return bytes([x, y, (p << 7) | ((t_us >> 16) & 0x7F), (t_us >> 8) & 0xFF, t_us & 0xFF])


def nmnist_tree(root: Path, per_class: dict[str, int]) -> Path:
    """Train/ and Test/ with digit folders 0 and 1; digit d's events sit in column 10 + 10d."""
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for digit in (0, 1):
            for k in range(n):
                ev = b"".join(
                    nmnist_event(10 + 10 * digit, int(rng.integers(0, 34)), 1, int(t))
                    for t in sorted(rng.integers(0, 300_000, 20))
                )
                path = root / split / str(digit) / f"{k:05d}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(ev)
    return root


def cifar_dir(d: Path) -> Path:
    """data_batch_1..5 and test_batch, 2 images each (pickled dicts as distributed)."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch = {
            b"labels": [i % 10, (i + 1) % 10],
            b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
        }
        (d / name).write_bytes(pickle.dumps(batch, protocol=2))
    return d


# --- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "classes", "encoder"),
    [
        ("shd", (700,), 20, "sequence"),
        ("nmnist", (2, 34, 34), 10, "sequence"),
        ("cifar10", (3, 32, 32), 10, "direct"),
        ("digits", (1, 8, 8), 10, "direct"),
    ],
)
def test_for_dataset_shapes_classes_encoder(
    name: str, shape: tuple[int, ...], classes: int, encoder: str
) -> None:
    assert info(name).input_shape == shape
    assert info(name).n_classes == classes
    cfg = TrainConfig.for_dataset(name, model={"T": 7})
    assert cfg.model.input_shape == shape
    assert cfg.model.n_classes == classes
    assert cfg.model.encoder == encoder
    enc = build_encoder(cfg.model)
    assert enc == (Sequence(7) if encoder == "sequence" else Direct(7))


@pytest.mark.parametrize("kind", ["s2nn", "ann", "bnn"])
@pytest.mark.parametrize("name", ["shd", "nmnist"])
def test_single_step_models_on_event_data_are_refused(kind: str, name: str) -> None:
    with pytest.raises(ValidationError, match=f"dataset '{name}' is event data.*kind '{kind}'"):
        TrainConfig.for_dataset(name, model={"kind": kind, "T": 100})


def test_encoder_and_duration_must_fit_the_dataset() -> None:
    with pytest.raises(ValidationError, match=r"model.encoder must be 'sequence'.*'direct'"):
        TrainConfig.for_dataset("shd", model={"encoder": "direct"})
    with pytest.raises(ValidationError, match="encoder 'sequence' needs an event dataset"):
        TrainConfig.for_dataset("digits", model={"encoder": "sequence"})
    with pytest.raises(ValidationError, match=r"encoder 'sequence'.*needs kind 'snn'"):
        TrainConfig.for_dataset("digits", model={"kind": "ann", "encoder": "sequence"})
    with pytest.raises(ValidationError, match="duration_s applies to event datasets"):
        TrainConfig.for_dataset("mnist", duration_s=1.0)
    with pytest.raises(ValidationError, match="duration_s"):
        TrainConfig.for_dataset("shd", duration_s=0.0)


def test_load_needs_n_bins_for_event_data_only(tmp_path: Path) -> None:
    banded_shd(tmp_path / "d" / "shd_train.h5", 4, seed=0)
    with pytest.raises(ValueError, match="event data needs n_bins"):
        load("shd", "train", tmp_path / "d")
    with pytest.raises(ValueError, match="apply to event datasets"):
        load("digits", "train", n_bins=4)


# --- data ----------------------------------------------------------------------------------


def test_shd_binned_to_hand_counts(tmp_path: Path) -> None:
    # sample 0: unit 5 at 0.05 s and 0.15 s, unit 699 at 0.95 s; sample 1: unit 0 at 0.5 s
    times = [np.array([0.05, 0.15, 0.95]), np.array([0.5])]
    units = [np.array([5, 5, 699]), np.array([0])]
    write_shd(tmp_path / "shd_test.h5", times, units, [2, 19])
    cfg = TrainConfig.for_dataset("shd", data_dir=str(tmp_path), model={"T": 4}, duration_s=1.0)
    x, y = load_data(cfg, "test").tensors
    assert x.shape == (2, 4, 700)
    assert y.tolist() == [2, 19]
    expected = torch.zeros(2, 4, 700)
    expected[0, 0, 5] = 2  # 0.05 and 0.15 s both in [0, 0.25)
    expected[0, 3, 699] = 1
    expected[1, 2, 0] = 1  # 0.5 s opens bin [0.5, 0.75)
    torch.testing.assert_close(x, expected)
    # duration_s=None: each sample over its own span (sample 0: bins of 0.9 s / 4 = 0.225 s
    # from 0.05 s, the last event in the last bin); a lone event goes to bin 0
    x_span = load_data(cfg.model_copy(update={"duration_s": None}), "test").tensors[0]
    expected[1, 2, 0], expected[1, 0, 0] = 0, 1
    torch.testing.assert_close(x_span, expected)


def test_max_train_bins_only_the_selected_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = nmnist_tree(tmp_path / "nm", {"Train": 5, "Test": 3})
    reads: list[str] = []
    real = nmnist_module.read_nmnist_bin

    def counting(path: Any) -> Any:
        reads.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(nmnist_module, "read_nmnist_bin", counting)
    cfg = TrainConfig.for_dataset(
        "nmnist", data_dir=str(root), model={"T": 3, "hidden": (4,)}, epochs=1
    )
    cfg = cfg.model_copy(update={"max_train": 2, "max_test": 1})
    run_job(cfg, tmp_path / "out", progress=False)
    assert len(reads) == 3  # 2 train + 1 test of the 10 + 6 files

    shd = banded_shd(tmp_path / "s" / "shd_train.h5", 50, seed=0)
    binned: list[int] = []
    real_events = EventDataset.events

    def counting_events(self: EventDataset, i: int) -> Any:
        binned.append(i)
        return real_events(self, i)

    monkeypatch.setattr(EventDataset, "events", counting_events)
    data = load("shd", "train", shd.parent, n_bins=5, limit=3)
    assert len(data) == 3
    assert binned == [0, 24, 49]  # evenly spaced over the file order, only those binned

    # N-MNIST is stored class by class: a limit still reaches every class
    labels = load("nmnist", "train", root, n_bins=3, limit=2).tensors[1]
    assert sorted(labels.tolist()) == sorted(set(labels.tolist()))
    assert len(set(labels.tolist())) == 2


# --- training ------------------------------------------------------------------------------


def test_snn_learns_banded_shd(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    banded_shd(tmp_path / "shd" / "shd_train.h5", 80, seed=1)
    banded_shd(tmp_path / "shd" / "shd_test.h5", 40, seed=2)
    cfg = TrainConfig.for_dataset(
        "shd",
        data_dir=str(tmp_path),
        model={"T": 10, "hidden": (32,)},
        epochs=6,
        batch_size=16,
        lr=5e-3,
        duration_s=1.0,
    )
    result = run_job(cfg, tmp_path / "out", progress=False)
    assert result.test_accuracy >= 0.9  # chance: 0.25 over the 4 classes present
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["model"]["encoder"] == "sequence"
    assert metrics["config"]["duration_s"] == 1.0


def test_cli_trains_on_nmnist(tmp_path: Path) -> None:
    root = nmnist_tree(tmp_path / "nm", {"Train": 4, "Test": 2})
    out = tmp_path / "out"
    args = ["train", "--dataset", "nmnist", "--data-dir", str(root), "--epochs", "2", "--T", "5"]
    args += ["--hidden", "8", "--batch-size", "4", "--out", str(out), "--no-progress"]
    args += ["--max-train", "6", "--max-test", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "T = 5" in result.output
    model = json.loads((out / "metrics.json").read_text())["config"]["model"]
    assert model["encoder"] == "sequence"
    assert model["T"] == 5
    assert model["input_shape"] == [2, 34, 34]
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert (config["max_train"], config["max_test"]) == (6, 4)

    # the checkpoint is recorded and priced on the same binned event data
    rec = tmp_path / "run.h5"
    ckpt = str(out / "checkpoint.pt")
    recorded = runner.invoke(
        app, ["record", "-o", str(rec), "--samples", "2", "--checkpoint", ckpt]
    )
    assert recorded.exit_code == 0, recorded.output

    with load_run(rec) as r:
        assert (r.T, r.B) == (5, 2)
    priced = estimate_checkpoint(ckpt, ["loihi"], samples=2)
    assert priced.samples == 2
    assert priced.reports["loihi"].total_pj > 0


def test_cli_refuses_single_step_model_on_shd(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--dataset", "shd", "--model", "s2nn", "--T", "100"])
    assert result.exit_code == 2
    assert "dataset 'shd' is event data" in result.output
    assert "'s2nn'" in result.output
    assert "Traceback" not in result.output


def test_cli_cifar10_needs_allow_pickle(tmp_path: Path) -> None:
    d = cifar_dir(tmp_path / "cifar")
    args = ["train", "--dataset", "cifar10", "--data-dir", str(d), "--epochs", "1"]
    args += ["--hidden", "8", "--T", "2", "--batch-size", "4", "--out", str(tmp_path / "o")]
    args += ["--no-progress"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert "refusing to unpickle" in refused.output
    assert "allow_pickle=True" in refused.output
    assert isinstance(refused.exception, SystemExit)
    with pytest.warns(PickleWarning, match="because allow_pickle=True"):
        ok = runner.invoke(app, [*args, "--allow-pickle"])
    assert ok.exit_code == 0, ok.output
    assert "test accuracy" in ok.output


def test_config_cifar10_without_allow_pickle_raises(tmp_path: Path) -> None:
    d = cifar_dir(tmp_path / "cifar")
    cfg = TrainConfig.for_dataset("cifar10", data_dir=str(d), epochs=1)
    with pytest.raises(UnsafePickleError, match="refusing to unpickle"):
        run_job(cfg, tmp_path / "out", progress=False)


@pytest.mark.parametrize(("name", "what"), [("shd", "SHD train file"), ("nmnist", "N-MNIST")])
def test_cli_missing_files_name_where_it_looked(tmp_path: Path, name: str, what: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        app, ["train", "--dataset", name, "--data-dir", str(empty), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert result.output.startswith("error:")
    assert f"{what}" in result.output
    assert "not found" in result.output
    assert str(empty.absolute()) in result.output
    assert "Traceback" not in result.output
