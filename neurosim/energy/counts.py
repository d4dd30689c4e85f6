"""Operation counts of a run, per layer, as tensors (summed over the run's T steps and B
samples; divide by B for per-inference figures).

* ``synops``: input events × exact fan-out, for synaptic layers whose event source is
  binary (spikes, max-pooled spikes, or a binary network input), pulled back through
  flatten/average-pool/dropout; plus the recurrent synapses of ``RecurrentLIF`` (spikes of
  steps 0…T−2 reach the next step). An ``IRNN``'s recurrent input ``W_h h[t−1]`` is graded:
  nonzero ``h`` of steps 0…T−2 × fan-out go to ``macs`` (all ``n²`` synapses to
  ``dense_macs``), and the layer counts as analog.
* ``macs`` (non-binary input): nonzero input elements × fan-out; ``dense_macs``: every
  synapse, zero weights included, every step — what dense hardware computes (for binary
  inputs the dense count of synaptic operations, recurrent synapses included).
* ``updates`` (neurons × steps), split into ``driven`` (the neuron received nonzero input
  that step) and idle; ``spikes`` emitted; ``packets``, ``hops_x``, ``hops_y`` of the
  layer's spikes from the plan's placement.

Every count is a sum of activity tensors times static maps, so counts taken from a run kept
in the autograd graph are differentiable in the spikes (the energy penalty uses this);
``driven`` goes through ``indicator``, a hard ``x ≠ 0`` by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from neurosim.core.network import LayerActivity, Run
from neurosim.core.neuron_layers import RecurrentLIF
from neurosim.core.rnn import IRNN
from neurosim.energy.plan import INPUT, LayerPlan, Plan
from neurosim.energy.scan import scan_events

__all__ = ["COUNT_FIELDS", "LayerCounts", "count", "hard_indicator", "is_binary"]

Indicator = Callable[[Tensor], Tensor]


def hard_indicator(x: Tensor) -> Tensor:
    """1 where ``x ≠ 0``, else 0 (not differentiable)."""
    return (x.detach() != 0).to(x.dtype)


def is_binary(x: Tensor) -> bool:
    """Whether every element of ``x`` is 0 or 1 (events, not graded values)."""
    scanned = scan_events(x, x.shape[-1]) if x.dim() > 0 else None
    if scanned is not None:
        return scanned[0]
    d = x.detach()
    return bool(((d == 0) | (d == 1)).all())


@dataclass(frozen=True)
class LayerCounts:
    """Counts of one layer over a whole run (scalars as 0-d float64 tensors)."""

    index: int
    name: str
    kind: str
    units: int  # neurons (or activation units) per sample
    n_cores: int  # cores the layer's work runs on (synaptic: its destination's cores)
    analog: bool  # synaptic layer fed non-binary input (priced as MACs)
    weight_bits: int | None  # the layer's own weight precision (quantised), else None
    act_bits: int | None  # precision of the layer's input values (quantised), else None
    synops: Tensor
    macs: Tensor
    dense_macs: Tensor
    updates: Tensor
    driven: Tensor
    spikes: Tensor
    packets: Tensor
    hops_x: Tensor
    hops_y: Tensor

    @property
    def idle(self) -> Tensor:
        return self.updates - self.driven

    def as_floats(self, per: float = 1.0) -> dict[str, float]:
        """The counts as plain numbers, divided by ``per`` (e.g. the batch size)."""
        return {f: float(getattr(self, f).detach()) / per for f in COUNT_FIELDS} | {
            "idle": float(self.idle.detach()) / per
        }


COUNT_FIELDS = tuple(
    f.name
    for f in fields(LayerCounts)
    if f.name
    not in ("index", "name", "kind", "units", "n_cores", "analog", "weight_bits", "act_bits")
)


def _zero(like: Tensor) -> Tensor:
    return torch.zeros((), dtype=torch.float64, device=like.device)


_EXACT_F32 = 2.0**24  # integers up to this are exact in float32


def _weighted(events: Tensor, per_unit: list[Tensor]) -> list[Tensor]:
    """``[Σ_{t,b,i} events[t,b,i] · w[i] for w in per_unit]`` as float64 scalars: the events
    are summed per unit first (one reduction over ``events``, differentiable; exact for 0/1
    events in float32 while the number of rows stays below 2²⁴), then weighted in float64.
    A product with the stacked vectors instead costs ~17x more for 5 vectors (a skinny
    matmul: 1.79 ms against 0.11 ms on [3200, 1000] float32 spikes; ``python -m
    benchmarks.probe scan``)."""
    n = per_unit[0].numel()
    rows = events.reshape(-1, n)
    exact32 = rows.shape[0] <= _EXACT_F32 and events.dtype == torch.float32
    per_unit_sum = rows.sum(0) if exact32 else rows.sum(0, dtype=torch.float64)
    w = torch.stack([v.reshape(n) for v in per_unit], 1).to(events.device, torch.float64)
    return list((per_unit_sum.to(torch.float64) @ w).unbind())


def _consumers(plan: Plan) -> dict[int, list[int]]:
    """Event source index → the synaptic layers counting synops on its output."""
    out: dict[int, list[int]] = {}
    for p in plan.layers:
        if p.kind == "synaptic" and p.source is not None and p.source != INPUT:
            out.setdefault(p.source, []).append(p.index)
    return out


def _driven(x: Tensor, indicator: Indicator) -> Tensor:
    if indicator is hard_indicator:  # fast path: no float copy of the input
        return torch.count_nonzero(x.detach()).to(torch.float64)
    return indicator(x).sum(dtype=torch.float64)


def _drive(layer: object, x: Tensor, out: Tensor) -> Tensor:
    """What a neuron receives each step: its input, plus recurrent input if it has any."""
    if not isinstance(layer, RecurrentLIF | IRNN) or x.shape[0] < 2:
        return x
    w = (layer.recurrent.weight.detach() != 0).to(out.dtype)
    rec = torch.nn.functional.linear(out[:-1].detach(), w)
    return x.detach().abs() + torch.cat([torch.zeros_like(rec[:1]), rec])


def _pool_events(p: LayerPlan, acts: tuple[LayerActivity, ...]) -> bool:
    return p.events if p.events is not None else is_binary(acts[p.index].output)


def count(run: Run, plan: Plan, indicator: Indicator = hard_indicator) -> list[LayerCounts]:
    """Per-layer counts of ``run`` (see the module docstring)."""
    acts = run.activity
    if len(acts) != len(plan.layers):
        raise ValueError(
            f"the plan has {len(plan.layers)} layers but the run has {len(acts)}; "
            "make the plan from a run of the same network"
        )
    consumers = _consumers(plan)
    synops_from: dict[int, Tensor] = {}  # synaptic layer → synops counted at its source
    result = []
    for a, p in zip(acts, plan.layers, strict=True):
        if tuple(a.input.shape[2:]) != p.in_shape:
            raise ValueError(
                f"layer {a.name}: input shape {list(a.input.shape[2:])} differs from the "
                f"plan's {list(p.in_shape)}; make a plan for this input shape"
            )
        steps, batch = a.input.shape[0], a.input.shape[1]
        z = _zero(a.input)
        synops = macs = dense = updates = driven = spikes = z
        packets = hops_x = hops_y = z
        units = 0
        analog = False
        if p.kind == "synaptic":
            if p.fanout_in is None or p.fanout_src is None or p.source is None:
                raise ValueError(f"layer {a.name}: the plan has no fan-out for it")
            src = acts[0].input if p.source == INPUT else acts[p.source].output
            dense = torch.tensor(p.synapses * steps * batch, dtype=torch.float64)
            # the network input: binary or not, and its events per input, in one pass
            scanned = None
            if p.source == INPUT and p.events is None:
                scanned = scan_events(src, p.fanout_src.numel())
            if scanned is not None:
                analog = not scanned[0]
            else:
                analog = not (p.events if p.events is not None else is_binary(src))
            if analog:
                (macs,) = _weighted(indicator(a.input), [p.fanout_in])
            elif p.index in synops_from:
                synops = synops_from[p.index]
            elif scanned is not None and scanned[1] is not None:
                fan = p.fanout_src.reshape(-1).to(torch.float64)
                synops = (scanned[1].to(fan.device, torch.float64) * fan).sum()
            else:
                (synops,) = _weighted(src, [p.fanout_src])
        elif p.kind in ("neuron", "activation", "pool"):
            units = int(torch.tensor(p.out_shape).prod()) if p.out_shape else 1
            out = a.output
            if p.kind != "pool":
                updates = torch.tensor(float(units * steps * batch), dtype=torch.float64)
                driven = _driven(_drive(a.layer, a.input, out), indicator)
            spiking = p.kind == "neuron" or (p.kind == "pool" and _pool_events(p, acts))
            if spiking:
                # one pass over the spikes: their count, routes, and the synops downstream
                users = consumers.get(p.index, [])
                maps = [torch.ones(p.out_shape, dtype=torch.float64)]
                if p.route is not None:
                    maps += [p.route.packets, p.route.hops_x, p.route.hops_y]
                maps += [plan.layers[j].fanout_src for j in users]  # type: ignore[misc]
                sums = _weighted(out, maps)
                spikes = sums[0]
                if p.route is not None:
                    packets, hops_x, hops_y = sums[1:4]
                synops_from |= dict(zip(users, sums[len(sums) - len(users) :], strict=True))
            if p.rec_fanout is not None and p.kind == "activation" and steps > 1:  # IRNN
                (rec_macs,) = _weighted(indicator(out[:-1]), [p.rec_fanout])
                macs, analog = macs + rec_macs, True
                dense = dense + p.synapses * (steps - 1) * batch
            elif p.rec_fanout is not None and p.rec_route is not None and steps > 1:
                route = p.rec_route
                rs = _weighted(out[:-1], [p.rec_fanout, route.packets, route.hops_x, route.hops_y])
                synops = synops + rs[0]
                dense = dense + p.synapses * (steps - 1) * batch
                packets, hops_x, hops_y = packets + rs[1], hops_x + rs[2], hops_y + rs[3]
        result.append(
            LayerCounts(
                a.index,
                a.name,
                p.kind,
                units,
                p.n_cores,
                analog,
                getattr(a.layer, "weight_bits", None),
                getattr(a.layer, "act_bits", None),
                synops,
                macs,
                dense,
                updates,
                driven,
                spikes,
                packets,
                hops_x,
                hops_y,
            )
        )
    return result
