"""snnTorch: ``snn.Leaky(beta=0.9, spike_grad=surrogate.atan(2.0))``, subtract reset.

Layer by layer: each synaptic layer runs once on the whole sequence (time folded into the
batch), then the neuron loops over T with explicit ``mem`` — the fastest way to drive
snnTorch for a feed-forward net, and the same matrix products as neurosim's (which the
same-spikes check relies on). snnTorch's own defaults: ``reset_delay=True`` (the reset is
applied one step late) and the reset term detached from the graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.cases import Case
from benchmarks.workload import (
    BETA,
    N_IN,
    N_OUT,
    THRESHOLD,
    Bench,
    Unsupported,
    conv_weights,
    copy_into,
    fc_weights,
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


def _fold(module: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    return module(x.flatten(0, 1)).unflatten(0, tuple(x.shape[:2]))


class FC(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        w = fc_weights(hidden)
        self.fc1, self.fc2 = nn.Linear(N_IN, hidden), nn.Linear(hidden, N_OUT)
        copy_into(self.fc1, w["w1"], w["b1"])
        copy_into(self.fc2, w["w2"], w["b2"])
        self.lif1, self.lif2 = _leaky(), _leaky()

    def layers(self, x: Tensor) -> list[Tensor]:
        s1 = _loop(self.lif1, self.fc1(x))
        return [s1, _loop(self.lif2, self.fc2(s1))]

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)[-1]


class Conv(nn.Module):
    def __init__(self, channels: list[int], image: int) -> None:
        super().__init__()
        c0, c1, c2 = channels
        w = conv_weights(channels, image)
        side = image // 4
        self.c1 = nn.Conv2d(c0, c1, 3, padding=1)
        self.c2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * side * side, N_OUT)
        copy_into(self.c1, w["c1.w"], w["c1.b"])
        copy_into(self.c2, w["c2.w"], w["c2.b"])
        copy_into(self.fc, w["fc.w"], w["fc.b"])
        self.pool = nn.AvgPool2d(2)
        self.lif1, self.lif2, self.lif3 = _leaky(), _leaky(), _leaky()

    def forward(self, x: Tensor) -> Tensor:
        s = _loop(self.lif1, _fold(lambda v: self.pool(self.c1(v)), x))
        s = _loop(self.lif2, _fold(lambda v: self.pool(self.c2(v)), s))
        return _loop(self.lif3, self.fc(s.flatten(2)))


def build(case: Case) -> Bench:
    import snntorch  # noqa: F401  (PeerMissing when absent)

    x, y = inputs(case)
    note = "Leaky, reset_delay=True, atan(2)"
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net = FC(case.params["H"])
        return Bench(make_step(net, x, y, case.train, net.parameters()), note)
    if case.group == "conv_train":
        conv = Conv(case.params["channels"], case.params["image"])
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
    net = FC(case.params["H"])
    with torch.no_grad():
        return net.layers(x)
