"""Networks: an ordered stack of lifted layers and neuron modules.

``net(x)`` returns the output ``[T, B, ...]``; ``net.run(x)`` returns a ``Run`` with the
output, every layer's input and output (kept in the autograd graph, so an energy penalty
computed from them is differentiable), the final state of every neuron layer, and on
request the membrane traces. A single-step network is the same code with T = 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurosim.core import event
from neurosim.core.layers import (
    ELEMENTWISE,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ShapeError,
    has_nan,
    is_lifted,
)
from neurosim.core.neuron_layers import Neuron

__all__ = [
    "CHUNK_BYTES",
    "LayerActivity",
    "Run",
    "Sequential",
    "check_sequence",
    "layer_kind",
    "time_local",
]

CHUNK_BYTES = 4 << 20
"""Target size of the widest layer's output per chunk when ``forward`` streams (4 MiB)."""

_STEPWISE = (Linear, Conv2d, AvgPool2d, MaxPool2d, Flatten, *ELEMENTWISE)


def time_local(layer: nn.Module) -> bool:
    """Whether ``layer`` maps each step on its own or carries its state explicitly, so that
    running a sequence in consecutive pieces gives the same result as running it at once:
    neuron layers, sequence layers that carry state (``carries_state``), the per-step
    neurosim layers and elementwise activations, and ``Dropout`` when it is off. Not
    ``Lifted`` modules (a BatchNorm in training mode pools statistics over all steps). A layer
    may say so itself with a ``time_local`` attribute (Bayesian layers draw weights per call).
    """
    own = getattr(layer, "time_local", None)
    if own is not None:
        return bool(own)
    if isinstance(layer, Neuron) or getattr(layer, "carries_state", False) is True:
        return True
    if isinstance(layer, Dropout):
        return not layer.training or layer.p == 0.0
    return isinstance(layer, _STEPWISE)


def layer_kind(layer: nn.Module) -> str:
    """The layer's class name; for a layer with torch parametrizations (quantised or
    spectrally normalised weights) the class it was made from, not ``ParametrizedLinear``."""
    cls = type(layer)
    if parametrize.is_parametrized(layer):
        cls = cls.__bases__[0]
    return cls.__name__


def check_sequence(x: Any, where: str = "input") -> None:
    """Validate a time-first input ``[T, B, ...]``: a finite floating tensor with T, B ≥ 1."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where} must be a torch.Tensor [T, B, ...], got {type(x).__name__}")
    if x.dim() < 2:
        raise ShapeError(f"{where} must be time-first [T, B, ...], got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise ShapeError(f"{where} has T = 0 time steps (shape {list(x.shape)}); expected T >= 1")
    if x.shape[1] == 0:
        raise ShapeError(f"{where} has an empty batch (shape {list(x.shape)}); expected B >= 1")
    if not x.is_floating_point():
        raise TypeError(f"{where} must be a floating tensor, got dtype {x.dtype}")
    if has_nan(x):
        raise ValueError(f"{where} contains NaN values (shape {list(x.shape)})")


@dataclass(frozen=True)
class LayerActivity:
    """What went into and came out of one layer during a run (``[T, B, ...]`` each)."""

    index: int
    name: str
    layer: nn.Module
    input: Tensor
    output: Tensor

    @property
    def spiking(self) -> bool:
        return isinstance(self.layer, Neuron)


@dataclass(frozen=True)
class Run:
    """Result of ``Sequential.run``.

    output: the last layer's output ``[T, B, ...]``.
    activity: one ``LayerActivity`` per layer, in order.
    states: final state of every layer (``None`` for stateless ones); pass it as
        ``state=`` to the next ``run`` to continue.
    membranes: layer index → membrane trace ``[T, B, ...]`` when ``record_membrane``.
    """

    output: Tensor
    activity: tuple[LayerActivity, ...]
    states: tuple[Any, ...]
    membranes: dict[int, Tensor] = field(default_factory=dict)

    def spiking_layers(self) -> tuple[LayerActivity, ...]:
        return tuple(a for a in self.activity if a.spiking)

    def save(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Write this run to an HDF5 recording (``neurosim.io.save_run``; keywords pass on)."""
        from neurosim.io.recording import save_run  # io builds on core, not the reverse

        save_run(self, path, **kwargs)

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step for every spiking layer, by layer name."""
        return {a.name: float(a.output.detach().float().mean()) for a in self.spiking_layers()}


class Sequential(nn.Module):
    """An ordered stack of layers over time-first tensors.

    Layers are neurosim layers (``Linear``, ``Conv2d``, pools, ``Flatten``, ``Dropout``,
    ``Lifted``), neuron modules (``LIF``, ``IF``, ``RecurrentLIF``, ``S2NN``) or elementwise
    torch activations (``nn.ReLU``, ...). Wrap any other per-sample module in ``Lifted``.
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        for i, layer in enumerate(layers):
            if not (isinstance(layer, Neuron) or is_lifted(layer)):
                raise TypeError(
                    f"layer {i} ({type(layer).__name__}) does not take [T, B, ...] input; "
                    "use a neurosim layer or wrap it: ns.Lifted(module)"
                )
        self.layers = nn.ModuleList(layers)
        self._widest_step: int | None = None  # bytes of the widest output per step, last run

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.layers)

    def __getitem__(self, i: int) -> nn.Module:
        return self.layers[i]

    def layer_names(self) -> list[str]:
        """``"<index>.<ClassName>"`` for every layer, e.g. ``"1.LIF"``."""
        return [f"{i}.{layer_kind(layer)}" for i, layer in enumerate(self.layers)]

    def _check_states(self, state: Sequence[Any] | None) -> Sequence[Any]:
        if state is None:
            return [None] * len(self.layers)
        if len(state) != len(self.layers):
            raise ValueError(
                f"state has {len(state)} entries but the network has {len(self.layers)} layers;"
                " pass run.states from a previous run of this network, or None"
            )
        return state

    def _apply_layer(self, i: int, layer: nn.Module, x: Tensor, state: Any, record: bool) -> Any:
        try:
            if isinstance(layer, Neuron):
                return layer.trace(x, state) if record else (*layer(x, state), None)
            if getattr(layer, "carries_state", False) is True:  # e.g. IRNN: (output, state)
                return (*layer.forward_state(x, state), None)  # type: ignore[operator]
            return layer(x), None, None
        except ShapeError as err:
            raise ShapeError(f"layer {i} ({type(layer).__name__}): {err}") from None

    def forward(
        self, x: Tensor, state: Sequence[Any] | None = None, chunk: int | None = None
    ) -> Tensor:
        """``[T, B, ...] → [T, B, ...]``; intermediate activity is not kept.

        ``chunk``: run the whole network on ``chunk`` steps at a time, carrying every layer's
        state from one chunk to the next, so intermediate activity takes memory for
        ``chunk`` steps instead of T (a stream). By default (``None``) this happens when no
        gradient is needed and every layer is local in time (see ``time_local``), with
        chunks of about ``CHUNK_BYTES`` of the widest layer's output: on the CPU, large
        buffers freed and allocated again on every call cost a page fault per 4 KiB, small
        ones are recycled. ``chunk=0`` runs all T steps at once. Spikes and states are the
        same either way; a dense matmul may round differently for a different number of
        rows, and the event path is chosen per call (``neurosim.core.event``).
        """
        check_sequence(x)
        states = list(self._check_states(state))
        n_steps = x.shape[0]
        if chunk is None:
            chunk = self._auto_chunk(x)
        elif not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 0:
            raise ValueError(f"chunk={chunk!r} is not valid; expected a number of steps >= 0")
        if chunk == 0 or chunk >= n_steps:
            return self._forward_all(x, states)
        outputs, t0 = [], 0
        with event.reuse_tables():  # weights cannot change between the chunks of one call
            while t0 < n_steps:
                # the first chunk measures the widest output per step; the rest follow it
                outputs.append(self._forward_all(x[t0 : t0 + chunk], states))
                t0 += chunk
                if len(outputs) == 1 and self._widest_step is not None:
                    chunk = max(1, CHUNK_BYTES // self._widest_step)
        return torch.cat(outputs)

    def _forward_all(self, x: Tensor, states: list[Any]) -> Tensor:
        """All layers on ``x``; ``states`` is updated in place (each layer's final state)."""
        widest = 0
        for i, layer in enumerate(self.layers):
            x, states[i], _ = self._apply_layer(i, layer, x, states[i], record=False)
            widest = max(widest, x[0].numel() * x.element_size())
        self._widest_step = widest
        return x

    def _auto_chunk(self, x: Tensor) -> int:
        """Steps per chunk for ``forward`` (0: all at once); see ``forward``."""
        grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        if grad or x.device.type != "cpu" or not all(time_local(m) for m in self.layers):
            return 0
        return max(1, CHUNK_BYTES // max(1, x[0].numel() * x.element_size()))

    def run(
        self, x: Tensor, state: Sequence[Any] | None = None, record_membrane: bool = False
    ) -> Run:
        """Run over ``x [T, B, ...]`` keeping every layer's input and output (see ``Run``)."""
        check_sequence(x)
        states = self._check_states(state)
        names = self.layer_names()
        activity, new_states, membranes = [], [], {}
        for i, layer in enumerate(self.layers):
            y, st, mem = self._apply_layer(i, layer, x, states[i], record_membrane)
            activity.append(LayerActivity(i, names[i], layer, x, y))
            new_states.append(st)
            if mem is not None:
                membranes[i] = mem
            x = y
        return Run(x, tuple(activity), tuple(new_states), membranes)
