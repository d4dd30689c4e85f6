"""FC and conv models for peers whose neurons are stepped one time step at a time.

Synaptic layers run once on the whole sequence (time folded into the batch); each neuron
layer is a ``neuron()`` instance driven over T by ``loop(neuron, currents)``. ``gain``
scales the shared weights (Norse's dt/τ input factor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from benchmarks.workload import N_IN, N_OUT, conv_weights, copy_into, fc_weights

Loop = Callable[[Any, Tensor], Tensor]


def fold(module: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Apply ``module`` to ``[T, B, ...]`` as one call on ``[T·B, ...]``."""
    return module(x.flatten(0, 1)).unflatten(0, tuple(x.shape[:2]))


def _copy(layer: nn.Module, w: Tensor, b: Tensor, gain: float) -> None:
    copy_into(layer, w * gain, b * gain)


class FC(nn.Module):
    """784-H-10 with the shared FC weights."""

    def __init__(self, hidden: int, neuron: Callable[[], Any], loop: Loop, gain: float = 1.0):
        super().__init__()
        w = fc_weights(hidden)
        self.fc1, self.fc2 = nn.Linear(N_IN, hidden), nn.Linear(hidden, N_OUT)
        _copy(self.fc1, w["w1"], w["b1"], gain)
        _copy(self.fc2, w["w2"], w["b2"], gain)
        self.lif1, self.lif2 = neuron(), neuron()
        self.loop = loop

    def layers(self, x: Tensor) -> list[Tensor]:
        s1 = self.loop(self.lif1, self.fc1(x))
        return [s1, self.loop(self.lif2, self.fc2(s1))]

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)[-1]


class Conv(nn.Module):
    """c0-c1-c2 3×3 convs with avg-pool 2 after each, then FC 10, shared weights."""

    def __init__(
        self,
        channels: list[int],
        image: int,
        neuron: Callable[[], Any],
        loop: Loop,
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        c0, c1, c2 = channels
        w = conv_weights(channels, image)
        side = image // 4
        self.c1 = nn.Conv2d(c0, c1, 3, padding=1)
        self.c2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc = nn.Linear(c2 * side * side, N_OUT)
        _copy(self.c1, w["c1.w"], w["c1.b"], gain)
        _copy(self.c2, w["c2.w"], w["c2.b"], gain)
        _copy(self.fc, w["fc.w"], w["fc.b"], gain)
        self.pool = nn.AvgPool2d(2)
        self.lif1, self.lif2, self.lif3 = neuron(), neuron(), neuron()
        self.loop = loop

    def forward(self, x: Tensor) -> Tensor:
        s = self.loop(self.lif1, fold(lambda v: self.pool(self.c1(v)), x))
        s = self.loop(self.lif2, fold(lambda v: self.pool(self.c2(v)), s))
        return self.loop(self.lif3, self.fc(s.flatten(2)))
