"""Training penalties on a run's activity.

``EnergyPenalty(profile, weight)`` is ``weight ×`` the energy estimate of the run on that
profile (pJ per inference), computed by the same functions as ``estimate`` from counts kept
in the autograd graph: synaptic operations are spikes × fan-out, so their gradient flows
through the surrogate of every spike; routing is spikes × the plan's packets and hops;
driven neuron updates use a straight-through indicator (the exact 0/1 value forward, the
gradient of ``1 − exp(−(x/ε)²)`` backward); static energy follows the run time. In the
forward pass the value equals ``weight × estimate`` to float precision.

``p ≠ 1`` selects the family ``Σ_i N_i · c_i^p`` of the spiking synaptic penalty paper for
the synaptic term (c_i: spike count of neuron i over the T steps, N_i: its fan-out); only
``p = 1`` equals the energy estimate.

Baselines: ``SpikeCountPenalty`` (every spike weighs 1) and ``RatePenalty`` (L1 on firing
rates, as snnTorch's ``l1_rate_sparsity``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from neurosim.core.network import Run
from neurosim.energy.counts import LayerCounts, count
from neurosim.energy.model import TERMS, network_terms
from neurosim.energy.plan import INPUT, Plan, make_plan
from neurosim.hardware.bitwidth import op_energy
from neurosim.hardware.profile import HardwareProfile, load

__all__ = ["EnergyPenalty", "RatePenalty", "SpikeCountPenalty", "soft_indicator"]


def soft_indicator(x: Tensor, eps: float = 0.1) -> Tensor:
    """``[x ≠ 0]`` forward; gradient of ``1 − exp(−(x/ε)²)`` backward (straight-through)."""
    hard = (x.detach() != 0).to(x.dtype)
    if not x.requires_grad:
        return hard
    smooth = 1.0 - torch.exp(-((x / eps) ** 2))
    return hard + (smooth - smooth.detach())


def _check_run(run: object, who: str) -> Run:
    if not isinstance(run, Run):
        raise TypeError(
            f"{who} needs the Run returned by net.run(x) (per-layer activity), "
            f"got {type(run).__name__}; net(x) returns only the output"
        )
    return run


def _check_weight(weight: float) -> float:
    if not isinstance(weight, int | float) or not weight >= 0:
        raise ValueError(f"penalty weight={weight!r} is not valid; expected a number >= 0")
    return float(weight)


def _weight_masks(run: Run) -> list[Tensor]:
    masks = []
    for a in run.activity:
        for name, p in a.layer.named_parameters():
            if name.endswith("weight"):
                masks.append(p.detach() != 0)
        for m in a.layer.modules():  # quantised weights: the zeros of W_q, not of the latent
            w = m.weight if parametrize.is_parametrized(m, "weight") else None
            if isinstance(w, Tensor):
                masks.append(w.detach() != 0)
    return masks


class EnergyPenalty:
    """``weight × energy per inference (pJ)`` of a run on ``profile``, differentiable.

    terms: which of ``synaptic, dense, neuron, routing, memory, static`` to include
    (default all). The plan (fan-outs, placement) is rebuilt whenever the input shape or
    the zero pattern of the weights changes.
    """

    def __init__(
        self,
        profile: str | HardwareProfile,
        weight: float,
        terms: Sequence[str] = TERMS,
        p: float = 1.0,
    ) -> None:
        self.profile = load(profile)
        self.weight = _check_weight(weight)
        unknown = [t for t in terms if t not in TERMS]
        if unknown or not terms:
            raise ValueError(f"terms={list(terms)!r} is not valid; expected a subset of {TERMS}")
        if not p > 0:
            raise ValueError(f"p={p!r} is not valid; expected p > 0")
        self.terms = tuple(terms)
        self.p = float(p)
        self._plan: Plan | None = None
        self._key: tuple[tuple[int, ...], list[Tensor]] | None = None

    def plan(self, run: Run) -> Plan:
        shape = tuple(run.activity[0].input.shape[2:])
        masks = _weight_masks(run)
        key = self._key
        same = (
            key is not None
            and key[0] == shape
            and len(key[1]) == len(masks)
            and all(torch.equal(a, b) for a, b in zip(key[1], masks, strict=True))
        )
        if not same or self._plan is None:
            self._plan = make_plan(run, self.profile)
            self._key = (shape, masks)
        return self._plan

    def energy(self, run: Run) -> Tensor:
        """Energy per inference (pJ) of the selected terms, as a differentiable scalar."""
        run = _check_run(run, "EnergyPenalty")
        plan = self.plan(run)
        counts = count(run, plan, indicator=soft_indicator)
        steps, batch = run.output.shape[0], run.output.shape[1]
        per_layer, static, _ = network_terms(counts, self.profile, steps, batch)
        total = torch.zeros((), dtype=torch.float64, device=run.output.device)
        for t in self.terms:
            if t == "static":
                total = total + static
            elif t == "synaptic" and self.p != 1.0:
                total = total + self._synaptic_p(run, plan, counts) / batch
            else:
                total = total + sum((layer[t] for layer in per_layer), total.new_zeros(()))
        return total

    def _synaptic_p(self, run: Run, plan: Plan, counts: list[LayerCounts]) -> Tensor:
        out = torch.zeros((), dtype=torch.float64, device=run.output.device)
        for layer_plan, c in zip(plan.layers, counts, strict=True):
            if layer_plan.kind != "synaptic" or c.analog or layer_plan.fanout_src is None:
                continue
            acts = run.activity
            src = (
                acts[0].input if layer_plan.source == INPUT else acts[layer_plan.source or 0].output
            )
            counts_i = src.to(torch.float64).sum(0).clamp(min=0.0) ** self.p  # [B, ...]
            e_synop, _ = op_energy(self.profile, c.weight_bits, c.act_bits, c.name)
            out = out + (counts_i * layer_plan.fanout_src).sum() * e_synop
        return out

    def __call__(self, run: Run) -> Tensor:
        return self.weight * self.energy(run)

    def __repr__(self) -> str:
        return f"EnergyPenalty({self.profile.name!r}, weight={self.weight:g}, p={self.p:g})"


class SpikeCountPenalty:
    """``weight × spikes per inference`` over all spiking layers (every spike weighs 1)."""

    def __init__(self, weight: float) -> None:
        self.weight = _check_weight(weight)

    def __call__(self, run: Run) -> Tensor:
        run = _check_run(run, "SpikeCountPenalty")
        batch = run.output.shape[1]
        spikes = sum((a.output.sum() for a in run.spiking_layers()), run.output.new_zeros(()))
        return self.weight * spikes / batch


class RatePenalty:
    """L1 on firing rates: ``weight × Σ_layers mean(s)`` (``reduction="mean"``), or
    ``weight × Σ s`` over the whole batch (``"sum"``, snnTorch's ``l1_rate_sparsity``)."""

    def __init__(self, weight: float, reduction: Literal["mean", "sum"] = "mean") -> None:
        self.weight = _check_weight(weight)
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction={reduction!r} is not valid; expected 'mean' or 'sum'")
        self.reduction = reduction

    def __call__(self, run: Run) -> Tensor:
        run = _check_run(run, "RatePenalty")
        reduce = Tensor.mean if self.reduction == "mean" else Tensor.sum
        total = sum((reduce(a.output) for a in run.spiking_layers()), run.output.new_zeros(()))
        return self.weight * total
