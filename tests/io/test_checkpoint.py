from pathlib import Path

import pytest
import torch

from neurosim.io import CheckpointError, load_checkpoint, save_checkpoint


def _payload(value: float = 1.0) -> dict:
    return {
        "epoch": 3,
        "model_state": {"w": torch.full((2, 2), value)},
        "config": {"kind": "snn", "hidden": [4]},
        "history": [{"epoch": 1, "test_accuracy": 0.5, "firing_rates": {"1.LIF": 0.1}}],
    }


def test_round_trip_with_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ck.pt"
    save_checkpoint(path, _payload(2.0))
    raw = torch.load(path, weights_only=True)  # readable without unpickling code
    assert raw["format"] == "neurosim.checkpoint"
    data = load_checkpoint(path)
    assert torch.equal(data["model_state"]["w"], torch.full((2, 2), 2.0))
    assert data["history"][0]["firing_rates"] == {"1.LIF": 0.1}
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temp files left


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, _payload(1.0))

    def crash(obj: object, f: object) -> None:  # a write that dies half way
        f.write(b"partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _payload(5.0))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model_state"]["w"], torch.full((2, 2), 1.0))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, _payload())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck\.pt cannot be read.*truncated"):
        load_checkpoint(path)


def test_foreign_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not a neurosim checkpoint"):
        load_checkpoint(other)
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(text)


def test_missing_field_and_version(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    torch.save({"format": "neurosim.checkpoint", "version": 1, "epoch": 1}, path)
    with pytest.raises(CheckpointError, match=r"missing field.*model_state"):
        load_checkpoint(path)
    torch.save({"format": "neurosim.checkpoint", "version": 99}, path)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="missing model_state"):
        save_checkpoint(path, {"epoch": 1, "config": {}})
