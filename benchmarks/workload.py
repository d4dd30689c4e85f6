"""What every library is fed: the same seeded weights, inputs and targets, and the step.

Weights are drawn once here (uniform ±3/√fan_in, bias U(0, 0.1), which keeps the hidden
layers firing at roughly 10–25 % on the benchmark input) and copied into each library's
layers, so every library runs the same network on the same data. Inputs are time-first
``[T, B, ...]``; a batch-first library transposes them once, outside the timed step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.cases import Case

__all__ = [
    "BETA",
    "N_IN",
    "N_OUT",
    "THRESHOLD",
    "Bench",
    "PeerMissing",
    "Unsupported",
    "conv_weights",
    "copy_into",
    "fc_weights",
    "inputs",
    "make_step",
]

BETA = 0.9
THRESHOLD = 1.0
ATAN_ALPHA = 2.0
N_IN = 784
N_OUT = 10


class PeerMissing(RuntimeError):
    """The library is not installed (or fails to import beside this torch)."""


class Unsupported(RuntimeError):
    """The library has no way to express this case."""


@dataclass
class Bench:
    """A built workload: ``step()`` runs one timed iteration.

    ``spikes()`` (optional) returns every spiking layer's output ``[T, B, ...]`` for the
    same-spikes check; ``note`` says how the library was configured.
    """

    step: Callable[[], None]
    note: str = ""
    spikes: Callable[[], list[Tensor]] | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _uniform(shape: tuple[int, ...], fan_in: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    a = 3.0 / fan_in**0.5
    w = (torch.rand(shape, generator=g) * 2 - 1) * a
    b = torch.rand(shape[0], generator=g) * 0.1
    return w, b


def fc_weights(hidden: int, seed: int = 2) -> dict[str, Tensor]:
    """``w1 [H, 784]``, ``b1``, ``w2 [10, H]``, ``b2``."""
    g = _gen(seed)
    w1, b1 = _uniform((hidden, N_IN), N_IN, g)
    w2, b2 = _uniform((N_OUT, hidden), hidden, g)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def conv_weights(channels: list[int], image: int, seed: int = 3) -> dict[str, Tensor]:
    """Two 3×3 convolutions (``c1``, ``c2``) and the final ``fc`` of the conv case."""
    g = _gen(seed)
    c0, c1, c2 = channels
    out = {}
    out["c1.w"], out["c1.b"] = _uniform((c1, c0, 3, 3), c0 * 9, g)
    out["c2.w"], out["c2.b"] = _uniform((c2, c1, 3, 3), c1 * 9, g)
    side = image // 4
    out["fc.w"], out["fc.b"] = _uniform((N_OUT, c2 * side * side), c2 * side * side, g)
    return out


def copy_into(layer: nn.Module, w: Tensor, b: Tensor) -> None:
    """Set a Linear/Conv layer's weight and bias."""
    with torch.no_grad():
        layer.weight.copy_(w)  # type: ignore[operator]
        layer.bias.copy_(b)  # type: ignore[operator]


def inputs(case: Case) -> tuple[Tensor, Tensor]:
    """``(x, y)``: time-first input and integer targets ``[B]`` (seeded by the case)."""
    p = case.params
    t, b = p["T"], p["B"]
    g = _gen(0)
    if case.group == "neuron_train":
        x = torch.randn((t, b, p["N"]), generator=g) * 0.5 + 0.2
    elif case.group == "conv_train":
        c, s = p["channels"][0], p["image"]
        x = (torch.rand((t, b, c, s, s), generator=g) < p["rate"]).float()
    else:
        x = (torch.rand((t, b, N_IN), generator=g) < p["rate"]).float()
    y = torch.randint(0, N_OUT, (b,), generator=_gen(1))
    return x, y


def make_step(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    train: bool,
    params: Iterable[Tensor],
    time_dim: int = 0,
    before: Callable[[], None] | None = None,
    loss: str = "ce",
) -> Callable[[], None]:
    """One iteration: ``before()`` (state reset), forward, and for training the loss and
    backward. ``loss="ce"``: cross-entropy of the spike counts (summed over ``time_dim``)
    against ``y``; ``loss="mean"``: the mean spike (the neuron-only case)."""
    params = list(params)
    if x.requires_grad:
        params.append(x)

    def step() -> None:
        if before is not None:
            before()
        if not train:
            with torch.no_grad():
                forward(x)
            return
        for p in params:
            p.grad = None
        out = forward(x)
        value = F.cross_entropy(out.sum(time_dim), y) if loss == "ce" else out.mean()
        value.backward()

    return step
