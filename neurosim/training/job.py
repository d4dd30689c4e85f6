"""A training job from a validated config: data, model, fit, and files on disk.

``run_job(cfg, out_dir)`` writes ``out_dir/checkpoint.pt`` (atomic, rewritten every epoch,
``weights_only``-loadable) and ``out_dir/metrics.json`` (config, per-epoch history, final
test accuracy and firing rates). ``load_model(checkpoint)`` rebuilds the trained network.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from torch.utils.data import TensorDataset

from neurosim.core.network import Sequential
from neurosim.datasets import DATASETS, EVENT_DATASETS, Split, info, load
from neurosim.io.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint
from neurosim.models import ModelConfig, build_encoder, build_model
from neurosim.training.distributed import context
from neurosim.training.loop import evaluate, fit
from neurosim.training.losses import LOSSES, get_loss
from neurosim.training.penalties import PenaltyConfig, build_penalty, check_profile

__all__ = ["JobResult", "TrainConfig", "load_data", "load_model", "run_job"]


class TrainConfig(BaseModel):
    """A training job: which data, which model, how long.

    Event datasets (``shd``, ``nmnist``) are binned into ``model.steps`` time bins over
    ``duration_s`` seconds (None: each sample over its own first-to-last event span) and
    need an ``snn`` with ``encoder="sequence"`` (what :meth:`for_dataset` picks).
    ``cifar10`` is stored as pickles: it loads only with ``allow_pickle=True``. Data is held
    in memory as float32; binned event data takes ``N · steps · prod(input_shape) · 4`` bytes
    (all 8,156 SHD train samples at T = 100: 2.3 GB), so ``max_train`` bins only N samples
    (evenly spaced over the files: N-MNIST is stored class by class).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "digits"
    data_dir: str | None = None
    model: ModelConfig
    loss: str | None = Field(default=None, description="default: ce_count (snn), ce_mean")
    epochs: int = Field(default=15, ge=1)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    seed: int = Field(default=0, ge=0)
    max_train: int | None = Field(
        default=None, ge=1, description="use N samples (images: the first; events: evenly spaced)"
    )
    max_test: int | None = Field(
        default=None, ge=1, description="use N samples (images: the first; events: evenly spaced)"
    )
    penalty: PenaltyConfig = PenaltyConfig()
    energy_profile: str | None = Field(
        default=None, description="profile whose energy per inference is logged each epoch"
    )
    duration_s: float | None = Field(
        default=None,
        gt=0,
        description="event data: seconds binned into model.steps bins; None: each sample's span",
    )
    allow_pickle: bool = Field(default=False, description="cifar10: unpickle its batches")

    @field_validator("energy_profile")
    @classmethod
    def _known_profile(cls, v: str | None) -> str | None:
        return None if v is None else check_profile(v)

    @property
    def logged_profile(self) -> str | None:
        """The profile energy is logged on: ``energy_profile``, else the penalty's."""
        return self.energy_profile or self.penalty.profile

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown dataset {v!r}; expected one of {', '.join(DATASETS)}")
        return v

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str | None) -> str | None:
        if v is not None and v not in LOSSES:
            raise ValueError(f"unknown loss {v!r}; expected one of {', '.join(LOSSES)}")
        return v

    @model_validator(mode="after")
    def _fits_dataset(self) -> TrainConfig:
        m, name = self.model, self.dataset
        if name in EVENT_DATASETS:
            if m.kind != "snn":
                raise ValueError(
                    f"dataset {name!r} is event data binned into T time steps; it needs model "
                    f"kind 'snn', got kind {m.kind!r} (single-step)"
                )
            if m.encoder != "sequence":
                raise ValueError(
                    f"dataset {name!r} is event data: model.encoder must be 'sequence' "
                    f"(the binned events, one bin per step), got {m.encoder!r}"
                )
        else:
            if m.encoder == "sequence":
                raise ValueError(
                    f"encoder 'sequence' needs an event dataset ({', '.join(EVENT_DATASETS)}), "
                    f"got dataset {name!r}"
                )
            if self.duration_s is not None:
                raise ValueError(
                    f"duration_s applies to event datasets ({', '.join(EVENT_DATASETS)}) only, "
                    f"got dataset {name!r}"
                )
        return self

    @property
    def loss_name(self) -> str:
        return self.loss or ("ce_count" if self.model.kind == "snn" else "ce_mean")

    @classmethod
    def for_dataset(cls, dataset: str = "digits", **kwargs: Any) -> TrainConfig:
        """Config whose model input shape and classes come from ``dataset``; for event data
        an ``snn`` also gets ``encoder="sequence"`` (T = ``model.steps`` bins)."""
        model_kw = dict(kwargs.pop("model", {}))
        if dataset not in DATASETS:  # let the validator word the error
            return cls(dataset=dataset, model=ModelConfig(input_shape=(1,), n_classes=2))
        ds = info(dataset)
        if ds.events:
            kind = model_kw.get("kind", "snn")
            if kind != "snn":  # let the validator word the error (naming dataset and kind)
                model_kw = {"kind": kind}
            else:
                model_kw.setdefault("encoder", "sequence")
        model = ModelConfig(input_shape=ds.input_shape, n_classes=ds.n_classes, **model_kw)
        return cls(dataset=dataset, model=model, **kwargs)


@dataclass(frozen=True)
class JobResult:
    net: Sequential
    history: list[dict[str, Any]]
    test_accuracy: float
    firing_rates: dict[str, float]
    energy_pj: float | None
    seconds: float
    checkpoint: Path


def load_data(cfg: TrainConfig, split: Split, limit: int | None = None) -> TensorDataset:
    """The ``split`` of ``cfg.dataset`` as the model of ``cfg`` takes it (``limit`` samples:
    the first images, or evenly spaced event samples): images ``[N, *input_shape]``; event
    data binned into ``cfg.model.steps`` bins over ``cfg.duration_s``,
    ``[N, steps, *input_shape]`` (for the ``sequence`` encoder)."""
    events = cfg.dataset in EVENT_DATASETS
    return load(
        cfg.dataset,
        split,
        cfg.data_dir,
        n_bins=cfg.model.steps if events else None,
        duration_s=cfg.duration_s,
        limit=limit,
        allow_pickle=cfg.allow_pickle,
    )


def run_job(
    cfg: TrainConfig,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> JobResult:
    """Train the model of ``cfg``; checkpoint and metrics go to ``out_dir``."""
    out = Path(out_dir)
    train = load_data(cfg, "train", cfg.max_train)
    test = load_data(cfg, "test", cfg.max_test)
    torch.manual_seed(cfg.seed)  # weight initialisation
    net = build_model(cfg.model)
    encoder, loss = build_encoder(cfg.model), get_loss(cfg.loss_name)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        _check_same_job(ckpt, cfg)
    t0 = time.perf_counter()
    history = fit(
        net,
        train,
        test=test,
        encoder=encoder,
        loss=loss,
        epochs=cfg.epochs,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        checkpoint=ckpt,
        resume=resume,
        config=cfg.model_dump(mode="json"),
        progress=progress,
        device=device,
        penalty=build_penalty(cfg.penalty),
        energy_profile=cfg.logged_profile,
    )
    seconds = time.perf_counter() - t0
    final = evaluate(
        net,
        test,
        encoder=encoder,
        loss=loss,
        seed=cfg.seed,
        device=device,
        profile=cfg.logged_profile,
    )
    summary = {
        "config": cfg.model_dump(mode="json"),
        "history": history,
        "test_accuracy": final.accuracy,
        "firing_rates": final.firing_rates,
        "energy_pj": final.energy_pj,
        "energy_profile": cfg.logged_profile,
        "train_seconds": seconds,
    }
    if context().is_main:
        atomic_write_bytes(out / "metrics.json", json.dumps(summary, indent=2).encode())
    return JobResult(
        net, history, final.accuracy, final.firing_rates, final.energy_pj, seconds, ckpt
    )


def _check_same_job(ckpt: Path, cfg: TrainConfig) -> None:
    stored = load_checkpoint(ckpt)["config"]
    now = cfg.model_dump(mode="json")
    stored = {"duration_s": None, **stored}  # checkpoints written before the field existed
    keys = (now.keys() | stored.keys()) - {"epochs", "allow_pickle"}
    differ = sorted(k for k in keys if now.get(k) != stored.get(k))
    if differ:
        raise ValueError(
            f"cannot resume from {ckpt}: it was trained with a different "
            f"{', '.join(differ)} (stored {[stored.get(k) for k in differ]}, "
            f"now {[now.get(k) for k in differ]}); use another --out or drop --resume"
        )


def load_model(checkpoint: str | os.PathLike[str]) -> tuple[Sequential, TrainConfig]:
    """Rebuild the trained network stored in ``checkpoint`` (written by ``run_job``)."""
    state = load_checkpoint(checkpoint)
    try:
        cfg = TrainConfig.model_validate(state["config"])
    except ValidationError as err:
        raise CheckpointError(
            f"{checkpoint}: field 'config' is not a valid TrainConfig: {err}"
        ) from None
    net = build_model(cfg.model)
    try:
        net.load_state_dict(state["model_state"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{checkpoint}: weights do not fit the stored config: {err}"
        ) from None
    net.eval()
    return net, cfg
