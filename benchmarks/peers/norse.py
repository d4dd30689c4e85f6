"""Norse: ``LIFBoxCell`` (LIF without a synaptic current), looped over T.

Norse integrates ``v ← v + dt/τ·(x − v)`` (Euler): with ``dt/τ = 0.1`` that is
``0.9·v + 0.1·x``, the decay β = 0.9 with the input scaled by 0.1, so the synaptic layers
get the shared weights ×10 to run the same dynamics ``0.9·v + x`` as the others. Reset:
``reset_subtract`` (immediate). Norse offers no arctan surrogate: ``method="super"``
(SuperSpike, α = 100, Norse's default) is used instead. Synaptic layers run once on the
whole sequence.
"""

from __future__ import annotations

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

DT = 1e-3
GAIN = 1.0 / (1.0 - BETA)  # cancels Norse's dt/τ factor on the input


def _copy(layer: nn.Module, w: Tensor, b: Tensor) -> None:
    copy_into(layer, w * GAIN, b * GAIN)


def _cell() -> Any:
    import norse.torch as nt
    from norse.torch.functional.reset import reset_subtract

    p = nt.LIFBoxParameters(
        tau_mem_inv=torch.as_tensor((1.0 - BETA) / DT),
        v_th=torch.as_tensor(THRESHOLD),
        method="super",
        alpha=torch.as_tensor(100.0),
        reset_method=reset_subtract,
    )
    return nt.LIFBoxCell(p, dt=DT)


def _loop(cell: Any, cur: Tensor) -> Tensor:
    state = None
    out = []
    for c in cur:
        z, state = cell(c, state)
        out.append(z)
    return torch.stack(out)


def _fold(module: Any, x: Tensor) -> Tensor:
    return module(x.flatten(0, 1)).unflatten(0, tuple(x.shape[:2]))


class FC(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        w = fc_weights(hidden)
        self.fc1, self.fc2 = nn.Linear(N_IN, hidden), nn.Linear(hidden, N_OUT)
        _copy(self.fc1, w["w1"], w["b1"])
        _copy(self.fc2, w["w2"], w["b2"])
        self.lif1, self.lif2 = _cell(), _cell()

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
        _copy(self.c1, w["c1.w"], w["c1.b"])
        _copy(self.c2, w["c2.w"], w["c2.b"])
        _copy(self.fc, w["fc.w"], w["fc.b"])
        self.pool = nn.AvgPool2d(2)
        self.lif1, self.lif2, self.lif3 = _cell(), _cell(), _cell()

    def forward(self, x: Tensor) -> Tensor:
        s = _loop(self.lif1, _fold(lambda v: self.pool(self.c1(v)), x))
        s = _loop(self.lif2, _fold(lambda v: self.pool(self.c2(v)), s))
        return _loop(self.lif3, self.fc(s.flatten(2)))


def build(case: Case) -> Bench:
    import norse.torch  # noqa: F401  (PeerMissing when absent)

    x, y = inputs(case)
    note = "LIFBoxCell (weights x10 for its dt/tau input factor), reset_subtract, SuperSpike(100)"
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net: nn.Module = FC(case.params["H"])
    elif case.group == "conv_train":
        net = Conv(case.params["channels"], case.params["image"])
    elif case.group == "neuron_train":
        cell = _cell()
        x = (x * GAIN).requires_grad_(True)
        return Bench(make_step(lambda v: _loop(cell, v), x, y, True, [], loss="mean"), note)
    else:
        raise Unsupported(f"no Norse builder for group {case.group!r}")
    return Bench(make_step(net, x, y, case.train, net.parameters()), note)


def spikes(case: Case) -> list[Tensor]:
    """Spikes of both LIF layers of the FC net on the case's input."""
    x, _ = inputs(case)
    with torch.no_grad():
        return FC(case.params["H"]).layers(x)
