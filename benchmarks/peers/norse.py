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
from benchmarks.peers.steploop import FC, Conv
from benchmarks.workload import (
    BETA,
    THRESHOLD,
    Bench,
    Unsupported,
    copy_into,
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


def build(case: Case) -> Bench:
    import norse.torch  # noqa: F401  (PeerMissing when absent)

    x, y = inputs(case)
    note = "LIFBoxCell (weights x10 for its dt/tau input factor), reset_subtract, SuperSpike(100)"
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net: nn.Module = FC(case.params["H"], _cell, _loop, gain=GAIN)
    elif case.group == "conv_train":
        net = Conv(case.params["channels"], case.params["image"], _cell, _loop, gain=GAIN)
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
        return FC(case.params["H"], _cell, _loop, gain=GAIN).layers(x)
