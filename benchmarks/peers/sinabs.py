"""sinabs: ``layers.LIF`` (batch-first ``[B, T, ...]``) and ``LIFSqueeze`` for the conv net.

``tau_mem = −1/ln 0.9`` gives ``α = exp(−1/τ) = 0.9``; ``norm_input=False`` (``v = α·v + x``),
``SingleSpike`` (one spike per step, as the others; sinabs' default is ``MultiSpike``),
``MembraneSubtract`` (immediate), and an arctan surrogate with α = 2 written for sinabs'
``surrogate_grad_fn`` hook. The time-first input is transposed to batch-first once,
outside the timed step; ``reset_states()`` clears the membranes each step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.cases import Case
from benchmarks.workload import (
    ATAN_ALPHA,
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


@dataclass
class ATanGrad:
    """Arctan surrogate ``(α/2) / (1 + (π/2·α·(v − θ))²)`` in sinabs' call convention."""

    alpha: float = ATAN_ALPHA

    def __call__(self, v_mem: Tensor, spike_threshold: Tensor | float) -> Tensor:
        z = (math.pi / 2 * self.alpha) * (v_mem - spike_threshold)
        return (self.alpha / 2) / (1 + z * z)


def _kwargs() -> dict[str, Any]:
    from sinabs.activation import MembraneSubtract, SingleSpike

    return {
        "tau_mem": -1.0 / math.log(BETA),
        "spike_threshold": torch.tensor(THRESHOLD),
        "spike_fn": SingleSpike,
        "reset_fn": MembraneSubtract(),
        "surrogate_grad_fn": ATanGrad(),
        "norm_input": False,
    }


def _fc(hidden: int) -> nn.Sequential:
    import sinabs.layers as sl

    w = fc_weights(hidden)
    net = nn.Sequential(
        nn.Linear(N_IN, hidden), sl.LIF(**_kwargs()), nn.Linear(hidden, N_OUT), sl.LIF(**_kwargs())
    )
    copy_into(net[0], w["w1"], w["b1"])
    copy_into(net[2], w["w2"], w["b2"])
    return net


def build(case: Case) -> Bench:
    import sinabs.layers as sl

    x, y = inputs(case)
    note = "LIF(norm_input=False), SingleSpike, MembraneSubtract, atan(2), batch-first"
    p = case.params
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net: nn.Module = _fc(p["H"])
        xb = x.transpose(0, 1).contiguous()  # [B, T, 784]
        time_dim = 1
    elif case.group == "conv_train":
        c0, c1, c2 = p["channels"]
        b, side = p["B"], p["image"] // 4
        w = conv_weights(p["channels"], p["image"])
        net = nn.Sequential(
            nn.Conv2d(c0, c1, 3, padding=1),
            nn.AvgPool2d(2),
            sl.LIFSqueeze(batch_size=b, **_kwargs()),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.AvgPool2d(2),
            sl.LIFSqueeze(batch_size=b, **_kwargs()),
            nn.Flatten(),
            nn.Linear(c2 * side * side, N_OUT),
            sl.LIFSqueeze(batch_size=b, **_kwargs()),
            sl.UnflattenTime(batch_size=b),
        )
        copy_into(net[0], w["c1.w"], w["c1.b"])
        copy_into(net[3], w["c2.w"], w["c2.b"])
        copy_into(net[7], w["fc.w"], w["fc.b"])
        xb = x.transpose(0, 1).flatten(0, 1).contiguous()  # [B·T, C, H, W], batch-major
        time_dim = 1
    elif case.group == "neuron_train":
        net = sl.LIF(**_kwargs())
        xb = x.transpose(0, 1).contiguous().requires_grad_(True)
        time_dim = 1
    else:
        raise Unsupported(f"no sinabs builder for group {case.group!r}")

    stateful = [m for m in net.modules() if isinstance(m, sl.StatefulLayer)]

    def reset() -> None:
        for m in stateful:
            m.reset_states()

    loss = "mean" if case.group == "neuron_train" else "ce"
    train = case.train
    step = make_step(net, xb, y, train, net.parameters(), time_dim, before=reset, loss=loss)
    return Bench(step, note)


def spikes(case: Case) -> list[Tensor]:
    """Spikes of both LIF layers of the FC net, back in time-first layout."""
    x, _ = inputs(case)
    net = _fc(case.params["H"])
    with torch.no_grad():
        s1 = net[1](net[0](x.transpose(0, 1).contiguous()))
        s2 = net[3](net[2](s1))
    return [s1.transpose(0, 1), s2.transpose(0, 1)]
