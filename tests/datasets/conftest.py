"""Shared fixtures of the dataset-reader tests."""

from pathlib import Path

import pytest

from neurosim.datasets import idx as idx_module


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty ``tmp_path/cwd``, with no NEUROSIM_DATA and no system data dir."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("NEUROSIM_DATA", raising=False)
    monkeypatch.setattr(idx_module, "SYSTEM_DATA_ROOT", tmp_path / "system")
    return tmp_path
