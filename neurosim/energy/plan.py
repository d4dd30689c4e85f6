"""The static part of operation counting: fan-outs, placement and routes of a network.

``make_plan(run, profile)`` walks the layers once (with the per-sample shapes seen in a
run) and precomputes, for every layer, what does not depend on the activity:

* synaptic layers: where their input events come from (a neuron layer, a max-pool, or the
  network input, through pass-through layers), the exact fan-out of every input element
  and of every source element;
* neuron layers (and max-pools, whose outputs are events too): a placement on cores — layers
  fill ``neurons_per_core`` cores in order, cores fill tiles of ``cores_per_tile``, tiles
  fill a mesh ``mesh_width`` wide — and per source unit the number of destination cores its
  spike is sent to (one packet each) and the X and Y router hops of those packets
  (dimension-order routing; cores on one tile are 0 hops apart). Spikes of the last layer
  leave the chip and are not routed; input events arrive from the host and are not routed.

The counts of a run are then weighted sums of its activity with these maps (``counts.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from neurosim.core.layers import ELEMENTWISE, MaxPool2d
from neurosim.core.network import Run
from neurosim.core.neuron_layers import Neuron, RecurrentLIF
from neurosim.core.rnn import IRNN
from neurosim.energy.connectivity import fanout, is_passthrough, is_synaptic, pullback
from neurosim.hardware.profile import HardwareProfile

__all__ = ["INPUT", "LayerPlan", "Plan", "Route", "make_plan"]

INPUT = -1
"""Source index of the network input."""


@dataclass(frozen=True)
class Route:
    """Per source unit (per-sample shape): packets sent and router hops, per spike."""

    packets: Tensor
    hops_x: Tensor
    hops_y: Tensor


@dataclass(frozen=True)
class LayerPlan:
    index: int
    name: str
    kind: str  # synaptic | neuron | activation | pool | passthrough
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    source: int | None = None  # synaptic: activity index whose output holds the events
    fanout_in: Tensor | None = None  # synaptic: fan-out of each element of its own input
    fanout_src: Tensor | None = None  # synaptic: fan-out pulled back to the event source
    synapses: float = 0.0  # synaptic: Σ structural fan-out (zero weights included)
    first_core: int | None = None  # placed layers
    n_cores: int = 0
    route: Route | None = None  # routing of this layer's output events
    rec_fanout: Tensor | None = None  # recurrent LIF: fan-out of each neuron's recurrence
    rec_route: Route | None = None
    events: bool | None = None  # synaptic/pool: source emits spikes (None: check the input)


@dataclass(frozen=True)
class Plan:
    layers: tuple[LayerPlan, ...]
    n_cores: int
    input_shape: tuple[int, ...]


def _kind(layer: nn.Module) -> str:
    if isinstance(layer, Neuron):
        return "neuron"
    if isinstance(layer, ELEMENTWISE) and not isinstance(layer, nn.Identity):
        return "activation"
    if isinstance(layer, IRNN):  # graded units with dense recurrent synapses
        return "activation"
    if isinstance(layer, MaxPool2d):
        return "pool"
    if is_synaptic(layer):
        return "synaptic"
    if is_passthrough(layer):
        return "passthrough"
    raise TypeError(
        f"no operation-counting rule for {type(layer).__name__}; register one with "
        "neurosim.energy.connectivity.register_synaptic / register_passthrough"
    )


def _source(kinds: list[str], layers: list[nn.Module], j: int) -> tuple[int, list[int]]:
    """Event source of synaptic layer ``j`` and the pass-through layers in between."""
    chain: list[int] = []
    i = j - 1
    while i >= 0 and kinds[i] == "passthrough":
        chain.append(i)
        i -= 1
    return (i if i >= 0 else INPUT), chain


def _emits_events(kinds: list[str], layers: list[nn.Module], j: int) -> bool | None:
    """Whether the input of layer ``j`` (through pass-through layers) is a spike train:
    spiking neurons emit spikes, a max-pool passes on what it pools; ``None``: the network
    input, which is checked for 0/1 values when counting."""
    src, _ = _source(kinds, layers, j)
    if src == INPUT:
        return None
    if kinds[src] == "pool":
        return _emits_events(kinds, layers, src)
    return kinds[src] == "neuron"


def _pull_chain(
    layers: list[nn.Module], shapes: list[tuple[int, ...]], chain: list[int], m: Tensor
) -> Tensor:
    """Pull maps ``[K, *shape after chain]`` back through the pass-through ``chain``."""
    for i in chain:  # chain is ordered from the synaptic layer backwards
        m = pullback(layers[i], m, shapes[i])
    return m


def _coords(cores: Tensor, profile: HardwareProfile) -> tuple[Tensor, Tensor]:
    tile = torch.div(cores, profile.cores_per_tile, rounding_mode="floor")
    return tile % profile.mesh_width, torch.div(tile, profile.mesh_width, rounding_mode="floor")


def _route(reach: Tensor, src_cores: Tensor, dst_cores: Tensor, profile: HardwareProfile) -> Route:
    """``reach [K, n_src]``: whether source unit i sends to destination core k."""
    sx, sy = _coords(src_cores, profile)
    dx, dy = _coords(dst_cores, profile)
    r = (reach > 0).to(torch.float64)
    hx = (sx.unsqueeze(0) - dx.unsqueeze(1)).abs().to(torch.float64)
    hy = (sy.unsqueeze(0) - dy.unsqueeze(1)).abs().to(torch.float64)
    return Route(r.sum(0), (r * hx).sum(0), (r * hy).sum(0))


def _unit_cores(first: int, n: int, npc: int) -> Tensor:
    return first + torch.div(torch.arange(n), npc, rounding_mode="floor")


def _dest_masks(n_dest: int, npc: int) -> Tensor:
    """``[K, n_dest]`` one-hot map of destination neurons per destination core."""
    k = math.ceil(n_dest / npc)
    core_of = torch.div(torch.arange(n_dest), npc, rounding_mode="floor")
    return (core_of.unsqueeze(0) == torch.arange(k).unsqueeze(1)).to(torch.float64)


def make_plan(run: Run, profile: HardwareProfile) -> Plan:
    """Fan-outs, placement and routes for the network and input shapes of ``run``."""
    acts = run.activity
    layers = [a.layer for a in acts]
    kinds = [_kind(layer) for layer in layers]
    in_shapes = [tuple(a.input.shape[2:]) for a in acts]
    out_shapes = [tuple(a.output.shape[2:]) for a in acts]
    npc = profile.neurons_per_core

    # placement of every event-producing layer
    first: dict[int, int] = {}
    cores = 0
    for i, kind in enumerate(kinds):
        if kind in ("neuron", "activation", "pool"):
            first[i] = cores
            cores += math.ceil(math.prod(out_shapes[i]) / npc)

    plans: dict[int, dict[str, object]] = {i: {} for i in range(len(layers))}
    for i, kind in enumerate(kinds):
        if kind == "pool":
            plans[i]["events"] = _emits_events(kinds, layers, i)
    for j, kind in enumerate(kinds):
        if kind != "synaptic":
            continue
        src, chain = _source(kinds, layers, j)
        fan_in = fanout(layers[j], in_shapes[j])
        fan_src = _pull_chain(layers, in_shapes, chain, fan_in.unsqueeze(0))[0]
        synapses = float(fanout(layers[j], in_shapes[j], structural=True).sum())
        plans[j] |= {
            "source": src,
            "fanout_in": fan_in,
            "fanout_src": fan_src,
            "synapses": synapses,
            "events": _emits_events(kinds, layers, j),
        }
        dest = next((k for k in range(j + 1, len(kinds)) if kinds[k] != "passthrough"), None)
        if dest is not None and dest in first:
            plans[j]["n_cores"] = math.ceil(math.prod(out_shapes[dest]) / npc)
        if src == INPUT or dest is None or dest not in first:
            continue
        n_dest = math.prod(out_shapes[dest])
        if n_dest != math.prod(out_shapes[j]):
            raise ValueError(f"layer {acts[dest].name} does not take the output of {acts[j].name}")
        masks = _dest_masks(n_dest, npc).view(-1, *out_shapes[j])
        reach = _pull_chain(layers, in_shapes, chain, pullback(layers[j], masks, in_shapes[j]))
        n_src = math.prod(out_shapes[src])
        src_cores = _unit_cores(first[src], n_src, npc)
        dst_cores = first[dest] + torch.arange(masks.shape[0])
        route = _route(reach.reshape(-1, n_src), src_cores, dst_cores, profile)
        shape = out_shapes[src]
        plans[src]["route"] = Route(*(v.view(shape) for v in vars(route).values()))

    for i, layer in enumerate(layers):
        if isinstance(layer, RecurrentLIF | IRNN):
            w = (layer.recurrent.weight.detach() != 0).to(torch.float64)  # [post, pre]
            n = layer.n
            own = _unit_cores(first[i], n, npc)
            masks = _dest_masks(n, npc)
            reach = masks @ w  # [K, pre]: connections from pre into core k
            dst = first[i] + torch.arange(masks.shape[0])
            plans[i] |= {
                "rec_fanout": w.sum(0),
                "rec_route": _route(reach, own, dst, profile),
                "synapses": float(n * n),
            }

    out = []
    for i in range(len(layers)):
        p = plans[i]
        if i in first:
            p["n_cores"] = math.ceil(math.prod(out_shapes[i]) / npc)
        out.append(
            LayerPlan(
                i,
                acts[i].name,
                kinds[i],
                in_shapes[i],
                out_shapes[i],
                first_core=first.get(i),
                **p,  # type: ignore[arg-type]
            )
        )
    return Plan(tuple(out), cores, in_shapes[0])
