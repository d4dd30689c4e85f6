"""snnTorch: ``snn.Leaky(beta=0.9, spike_grad=surrogate.atan(2.0))``, subtract reset.

Layer by layer: each synaptic layer runs once on the whole sequence (time folded into the
batch), then the neuron loops over T with explicit ``mem`` — the fastest way to drive
snnTorch for a feed-forward net, and the same matrix products as neurosim's (which the
same-spikes check relies on). snnTorch's own defaults: ``reset_delay=True`` (the reset is
applied one step late) and the reset term detached from the graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchmarks.cases import Case
from benchmarks.peers.steploop import FC, Conv
from benchmarks.workload import (
    BETA,
    THRESHOLD,
    Bench,
    Unsupported,
    inputs,
    make_step,
)


def _leaky() -> Any:
    import snntorch as snn
    from snntorch import surrogate

    return snn.Leaky(
        beta=BETA, threshold=THRESHOLD, spike_grad=surrogate.atan(2.0), reset_mechanism="subtract"
    )


def _loop(neuron: Any, cur: Tensor) -> Tensor:
    mem = torch.zeros_like(cur[0])
    out = []
    for c in cur:
        spk, mem = neuron(c, mem)
        out.append(spk)
    return torch.stack(out)


def build(case: Case) -> Bench:
    import snntorch  # noqa: F401  (PeerMissing when absent)

    x, y = inputs(case)
    note = "Leaky, reset_delay=True, atan(2)"
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net = FC(case.params["H"], _leaky, _loop)
        return Bench(make_step(net, x, y, case.train, net.parameters()), note)
    if case.group == "conv_train":
        conv = Conv(case.params["channels"], case.params["image"], _leaky, _loop)
        return Bench(make_step(conv, x, y, True, conv.parameters()), note)
    if case.group == "neuron_train":
        neuron = _leaky()
        x.requires_grad_(True)
        return Bench(make_step(lambda v: _loop(neuron, v), x, y, True, [], loss="mean"), note)
    raise Unsupported(f"no snnTorch builder for group {case.group!r}")


def spikes(case: Case) -> list[Tensor]:
    """Spikes of both Leaky layers on the case's input (same weights as neurosim)."""
    import snntorch  # noqa: F401

    x, _ = inputs(case)
    net = FC(case.params["H"], _leaky, _loop)
    with torch.no_grad():
        return net.layers(x)
