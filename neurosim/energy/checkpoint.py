"""Energy of a trained checkpoint on its own test data (what ``neurosim energy`` runs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neurosim.energy.baseline import ann_baseline
from neurosim.energy.model import compare
from neurosim.energy.report import EnergyReport
from neurosim.hardware.profile import HardwareProfile
from neurosim.models import build_encoder
from neurosim.training.job import TrainConfig, load_data, load_model

__all__ = ["CheckpointEnergy", "estimate_checkpoint"]


@dataclass(frozen=True)
class CheckpointEnergy:
    config: TrainConfig
    samples: int
    reports: dict[str, EnergyReport]
    ann_reports: dict[str, EnergyReport] | None


def estimate_checkpoint(
    checkpoint: str | os.PathLike[str],
    profiles: Sequence[str | HardwareProfile],
    samples: int = 100,
    baseline: bool = False,
) -> CheckpointEnergy:
    """Price the network in ``checkpoint`` on its first ``samples`` test inputs."""
    if samples < 1:
        raise ValueError(f"samples={samples} is not valid; expected >= 1")
    net, cfg = load_model(checkpoint)
    x = load_data(cfg, "test", samples).tensors[0]
    x_seq = build_encoder(cfg.model)(x, torch.Generator().manual_seed(cfg.seed))
    reports = compare(net, x_seq, profiles)
    ann = None
    if baseline:
        ann_net, ann_x = ann_baseline(net, x_seq)
        ann = compare(ann_net, ann_x, profiles)
    return CheckpointEnergy(cfg, len(x), reports, ann)
