"""Penalty configuration for training jobs (what ``--penalty``/``--energy-*`` select)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from neurosim.energy.penalty import EnergyPenalty, RatePenalty, SpikeCountPenalty
from neurosim.hardware.profile import available

__all__ = ["PenaltyConfig", "build_penalty", "check_profile"]


def check_profile(spec: str) -> str:
    """A bundled profile name or an existing YAML path; ``ValueError`` otherwise."""
    if spec in available() or Path(spec).is_file():
        return spec
    raise ValueError(
        f"unknown hardware profile {spec!r}; bundled: {', '.join(available())} "
        "(or give the path of a profile YAML file)"
    )


class PenaltyConfig(BaseModel):
    """kind: ``energy`` (the estimate on ``profile``), ``spikes`` (spike count), ``rate``
    (L1 on firing rates) or ``none``; ``weight`` scales it; ``p`` the synaptic family."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["none", "energy", "spikes", "rate"] = "none"
    weight: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    profile: str | None = None
    p: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PenaltyConfig:
        if self.kind == "energy" and self.profile is None:
            raise ValueError("penalty 'energy' needs a hardware profile (--energy-profile)")
        if self.profile is not None:
            check_profile(self.profile)
        return self


def build_penalty(cfg: PenaltyConfig) -> EnergyPenalty | SpikeCountPenalty | RatePenalty | None:
    """The penalty callable of ``cfg`` (``None`` for kind ``none`` or weight 0)."""
    if cfg.kind == "none" or cfg.weight == 0.0:
        return None
    if cfg.kind == "energy":
        return EnergyPenalty(cfg.profile or "", cfg.weight, p=cfg.p)  # profile set: validated
    if cfg.kind == "spikes":
        return SpikeCountPenalty(cfg.weight)
    return RatePenalty(cfg.weight)
