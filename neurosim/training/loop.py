"""The training loop: ``fit`` and ``evaluate``.

Reproducibility: every epoch draws its batch order, encoder noise and dropout masks from
generators seeded by ``(seed, epoch)``, so a run resumed from the checkpoint of epoch k
continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from neurosim.core.encoding import Encoder
from neurosim.core.network import Run, Sequential
from neurosim.energy.model import estimate_run
from neurosim.energy.plan import Plan, make_plan
from neurosim.hardware.profile import HardwareProfile
from neurosim.hardware.profile import load as load_profile
from neurosim.io.checkpoint import load_checkpoint, save_checkpoint
from neurosim.training.distributed import DistContext, RunModule, context
from neurosim.training.losses import LossFn, predict

__all__ = ["EvalResult", "evaluate", "fit", "seed_for"]

Penalty = Callable[[Run], Tensor]


def seed_for(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run seeded ``seed`` (epochs count from 1)."""
    return (seed * 1_000_003 + epoch) % (2**63)


def _tensors(data: Dataset[Any], field: str) -> tuple[Tensor, Tensor]:
    tensors = getattr(data, "tensors", None)
    if tensors is None or len(tensors) != 2:
        raise TypeError(f"{field} must be a TensorDataset(inputs, labels), got {type(data)}")
    x, y = tensors
    if len(x) == 0:
        raise ValueError(f"{field} is empty")
    return x, y


def _batches(n: int, batch_size: int, order: Tensor | None) -> Iterator[Tensor]:
    idx = order if order is not None else torch.arange(n)
    yield from idx.split(batch_size)


def _to(t: Tensor, device: str | torch.device | None) -> Tensor:
    return t if device is None else t.to(device, non_blocking=True)


def _gen(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@dataclass(frozen=True)
class EvalResult:
    """Accuracy (fraction), mean loss, mean firing rate per spiking layer, and the energy
    per inference (pJ) on a hardware profile when one was given."""

    accuracy: float
    loss: float
    firing_rates: dict[str, float]
    energy_pj: float | None = None


@torch.no_grad()
def evaluate(
    net: Sequential,
    data: Dataset[Any],
    *,
    encoder: Encoder,
    loss: LossFn,
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device | None = None,
    profile: str | HardwareProfile | None = None,
) -> EvalResult:
    """Evaluate ``net`` on ``data`` (a TensorDataset) in eval mode, on ``device`` if given;
    with ``profile``, also the mean energy per inference on it (``ns.energy.estimate``)."""
    x_all, y_all = _tensors(data, "data")
    was_training = net.training
    net.eval()
    correct, total_loss = 0, 0.0
    spikes: dict[str, float] = {}
    gen: torch.Generator | None = None
    prof = load_profile(profile) if profile is not None else None
    plan: Plan | None = None
    energy = 0.0
    try:
        for idx in _batches(len(x_all), batch_size, None):
            x, y = _to(x_all[idx], device), _to(y_all[idx], device)
            gen = gen or _gen(seed, x.device)
            run = net.run(encoder(x, gen))
            total_loss += float(loss(run.output, y)) * len(idx)
            correct += int((predict(run.output) == y).sum())
            if prof is not None:
                plan = plan or make_plan(run, prof)
                energy += estimate_run(run, prof, plan).total_pj * len(idx)
            for a in run.spiking_layers():
                per_sample = a.output.float().mean(dim=[d for d in range(a.output.dim()) if d != 1])
                spikes[a.name] = spikes.get(a.name, 0.0) + float(per_sample.sum())
    finally:
        net.train(was_training)
    n = len(x_all)
    rates = {k: v / n for k, v in spikes.items()}
    return EvalResult(correct / n, total_loss / n, rates, energy / n if prof else None)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


def fit(
    net: Sequential,
    train: Dataset[Any],
    *,
    encoder: Encoder,
    loss: LossFn,
    epochs: int,
    test: Dataset[Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    penalty: Penalty | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    config: dict[str, Any] | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    energy_profile: str | HardwareProfile | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``net`` for ``epochs`` epochs; return one metrics dict per epoch.

    train/test: ``TensorDataset(inputs [N, ...], labels [N])``; inputs are encoded into
    ``[T, B, ...]`` by ``encoder``. ``penalty(run)`` is added to the task loss (e.g. an
    energy penalty). ``device`` moves the network there and each batch as it is used.
    With ``checkpoint``, the model, optimiser and history are written atomically after
    every epoch; ``resume=True`` continues from that file if it exists.
    ``config`` is stored in the checkpoint (JSON-like values) so the model can be rebuilt.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not valid; expected an integer >= 1")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not valid; expected an integer >= 1")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    x_all, y_all = _tensors(train, "train")
    if device is not None:
        net.to(device)
    opt = optimizer or torch.optim.Adam(net.parameters(), lr=lr)
    history: list[dict[str, Any]] = []
    start = 1
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        net.load_state_dict(state["model_state"])
        opt.load_state_dict(state["optimizer_state"])
        history = list(state.get("history", []))
        start = int(state["epoch"]) + 1
    ctx = context()
    runner = RunModule(net, penalty)
    step = DistributedDataParallel(runner) if ctx.world > 1 else runner
    with _progress(progress and ctx.is_main) as bar:
        for epoch in range(start, epochs + 1):
            metrics = _train_epoch(
                net,
                opt,
                x_all,
                y_all,
                encoder,
                loss,
                penalty,
                batch_size,
                seed_for(seed, epoch),
                bar,
                epoch,
                device,
                step,
                ctx,
            )
            if test is not None:
                res = evaluate(
                    net,
                    test,
                    encoder=encoder,
                    loss=loss,
                    seed=seed,
                    device=device,
                    profile=energy_profile,
                )
                metrics |= {
                    "test_accuracy": res.accuracy,
                    "test_loss": res.loss,
                    "firing_rates": res.firing_rates,
                }
                if res.energy_pj is not None:
                    metrics["energy_pj"] = res.energy_pj
            history.append(metrics)
            if checkpoint is not None and ctx.is_main:
                save_checkpoint(
                    checkpoint,
                    {
                        "epoch": epoch,
                        "model_state": net.state_dict(),
                        "optimizer_state": opt.state_dict(),
                        "history": history,
                        "config": config or {},
                        "seed": seed,
                    },
                )
            if on_epoch is not None:
                on_epoch(metrics)
    return history


def _train_epoch(
    net: Sequential,
    opt: torch.optim.Optimizer,
    x_all: Tensor,
    y_all: Tensor,
    encoder: Encoder,
    loss: LossFn,
    penalty: Penalty | None,
    batch_size: int,
    epoch_seed: int,
    bar: Progress,
    epoch: int,
    device: str | torch.device | None,
    step: Callable[[Tensor], tuple[Tensor, Tensor | None]],
    ctx: DistContext,
) -> dict[str, Any]:
    order = torch.randperm(len(x_all), generator=_gen(epoch_seed, torch.device("cpu")))
    torch.manual_seed(epoch_seed)  # dropout and other layers that use the global generator
    dev = torch.device(device) if device is not None else x_all.device
    gen = _gen(epoch_seed + 1, dev)  # encoder noise, drawn where the batch lives
    net.train()
    task = bar.add_task("train", total=math.ceil(len(x_all) / batch_size), epoch=epoch, loss=0.0)
    t0 = time.perf_counter()
    total, total_pen, correct, seen = 0.0, 0.0, 0, 0
    for global_idx in _batches(len(x_all), batch_size, order):
        if len(global_idx) < ctx.world:
            continue  # a trailing batch too small to give every rank a sample
        idx = ctx.shard(global_idx)
        x, y = _to(x_all[idx], device), _to(y_all[idx], device)
        output, pen = step(encoder(x, gen))
        task_loss = loss(output, y)
        objective = task_loss + pen if pen is not None else task_loss
        if ctx.world > 1:  # DDP averages over ranks: weight each rank by its share
            objective = objective * (len(idx) * ctx.world / len(global_idx))
        value = objective.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"epoch {epoch}: the training loss became {value}")
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        total += task_loss.item() * len(idx)
        total_pen += pen.item() * len(idx) if pen is not None else 0.0
        correct += int((predict(output.detach()) == y).sum())
        seen += len(idx)
        bar.update(task, advance=1, loss=value)
    bar.remove_task(task)
    n, total, total_pen, correct_f = ctx.sum([seen, total, total_pen, correct])
    correct = int(correct_f)
    metrics: dict[str, Any] = {
        "epoch": epoch,
        "train_loss": total / n,
        "train_accuracy": correct / n,
        "seconds": time.perf_counter() - t0,
    }
    if penalty is not None:
        metrics["train_penalty"] = total_pen / n
    return metrics
