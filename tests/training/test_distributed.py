"""torchrun with 2 CPU processes trains exactly like one process on the same global batch."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from neurosim.io import load_checkpoint
from neurosim.training.job import TrainConfig, run_job

ARGS = ["--epochs", "2", "--T", "3", "--hidden", "24", "--batch-size", "32", "--seed", "5"]
ARGS += ["--energy-profile", "loihi", "--energy-weight", "1e-6", "--no-progress"]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun") or pytest.skip("torchrun not on PATH")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--nproc-per-node", "2", "--master-port", "29531", "-m", "neurosim.cli"]
    out = subprocess.run(
        [*cmd, "train", *ARGS, "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("test accuracy") == 1  # only rank 0 reports

    cfg = TrainConfig.for_dataset(
        epochs=2, batch_size=32, seed=5, energy_profile="loihi",
        model={"T": 3, "hidden": (24,)},
        penalty={"kind": "energy", "weight": 1e-6, "profile": "loihi"},
    )  # fmt: skip
    single = run_job(cfg, tmp_path / "one", progress=False)
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    for name, w in single.net.state_dict().items():
        torch.testing.assert_close(ddp["model_state"][name], w, rtol=1e-4, atol=1e-5)
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(single.test_accuracy, abs=0.01)
    hist_one = single.history[-1]
    assert metrics["history"][-1]["train_penalty"] == pytest.approx(
        hist_one["train_penalty"], rel=1e-4
    )
