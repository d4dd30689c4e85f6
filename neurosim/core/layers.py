"""Stateless layers lifted over time.

Every layer takes a time-first tensor ``[T, B, ...]``. Synaptic and pooling layers fold
time into the batch (``[T·B, ...]``), run one big matmul/conv, and unfold again, so a
T-step run costs one kernel call, not T of them. Shape errors name the layer and the
expected shape instead of surfacing from inside torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neurosim.core import dense, event

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Lifted",
    "Linear",
    "MaxPool2d",
    "ShapeError",
    "has_nan",
    "same_shape",
]


class ShapeError(ValueError):
    """An input's shape does not fit the layer it is fed to."""


def has_nan(x: Tensor) -> bool:
    """Whether ``x`` holds a NaN: one sum (NaN propagates through it) instead of a boolean
    tensor of ``x``'s size; only when the sum is NaN (a NaN, or +inf and −inf both present)
    is ``x`` searched element by element."""
    if not x.is_floating_point() or x.numel() == 0:
        return False
    return bool(torch.isnan(x.sum())) and bool(torch.isnan(x).any())


def _shape(x: Tensor) -> str:
    return "[" + ", ".join(str(d) for d in x.shape) + "]"


def _fold(module: nn.Module, x: Tensor) -> Tensor:
    """Apply ``module`` to ``[T, B, ...]`` as one call on ``[T·B, ...]``."""
    t, b = x.shape[0], x.shape[1]
    y = module(x.flatten(0, 1))
    return y.unflatten(0, (t, b))


def _check_image(layer: nn.Module, x: Tensor, channels: int | None = None) -> None:
    if x.dim() != 5:
        raise ShapeError(f"{layer} expects input [T, B, C, H, W], got shape {_shape(x)}")
    if channels is not None and x.shape[2] != channels:
        raise ShapeError(
            f"{layer} expects {channels} input channels ([T, B, {channels}, H, W]), "
            f"got shape {_shape(x)}"
        )


class Linear(nn.Linear):
    """Fully connected synapses: ``[T, B, in_features] → [T, B, out_features]``.

    Without gradients, sparse binary input takes the event-driven path
    (``neurosim.core.event``) below ``event_threshold`` spike density (``None``: measured
    default for the layer's shape)."""

    event_threshold: float | None = None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear({self.in_features}→{self.out_features}) expects input "
                f"[T, B, {self.in_features}], got shape {_shape(x)}"
            )
        y = event.maybe_linear(self, x)  # event-driven when x is sparse spikes and no grad
        return dense.linear(x, self.weight, self.bias) if y is None else y


class Conv2d(nn.Conv2d):
    """2-D convolution over ``[T, B, C, H, W]`` (time folded into the batch); event-driven
    for sparse binary input without gradients, as ``Linear``."""

    event_threshold: float | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_image(self, x, self.in_channels)
        y = event.maybe_conv2d(self, x)  # event-driven when x is sparse spikes and no grad
        return _fold(super().forward, x) if y is None else y  # type: ignore[arg-type]


class AvgPool2d(nn.AvgPool2d):
    """Average pooling over ``[T, B, C, H, W]``."""

    def forward(self, x: Tensor) -> Tensor:
        _check_image(self, x)
        return _fold(super().forward, x)  # type: ignore[arg-type]


class MaxPool2d(nn.MaxPool2d):
    """Max pooling over ``[T, B, C, H, W]``."""

    def forward(self, x: Tensor) -> Tensor:
        _check_image(self, x)
        return _fold(super().forward, x)  # type: ignore[arg-type]


class Flatten(nn.Module):
    """``[T, B, d1, d2, ...] → [T, B, d1·d2·...]``."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ShapeError(f"Flatten expects input [T, B, ...], got shape {_shape(x)}")
        return x.flatten(2)


class Dropout(nn.Module):
    """Dropout with one mask per sample shared by all T steps (as SpikingJelly's).

    A unit dropped at step 0 stays dropped for the whole sequence, so dropout removes
    neurons from a run rather than adding per-step noise to their input.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p={p!r} is not valid; expected 0 <= p < 1")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x[0]).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Lifted(nn.Module):
    """Lift any per-sample module (``[B, ...] → [B, ...]``) over time."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise ShapeError(f"{self.module} expects input [T, B, ...], got shape {_shape(x)}")
        return _fold(self.module, x)


ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.GELU,
    nn.Identity,
)
"""torch modules that act per element and so need no lifting."""


def is_lifted(module: Any) -> bool:
    """Whether ``module`` can take ``[T, B, ...]`` input as it is."""
    lifted = (Linear, Conv2d, AvgPool2d, MaxPool2d, Flatten, Dropout, Lifted)
    # sequence layers (e.g. IRNN) own their time loop and say so with a class flag
    sequence = getattr(module, "takes_sequences", False) is True
    return isinstance(module, lifted + ELEMENTWISE) or sequence


def same_shape(layer: nn.Linear | nn.Conv2d, cls: Any = None, bias: bool | None = None) -> Any:
    """A new, freshly initialised layer of class ``cls`` (default: ``layer``'s own) with
    ``layer``'s geometry: features, or channels, kernel, stride, padding, dilation, groups and
    padding mode; with a bias when ``layer`` has one (or as ``bias`` says)."""
    cls = type(layer) if cls is None else cls
    has_bias = layer.bias is not None if bias is None else bias
    if isinstance(layer, nn.Linear):
        return cls(layer.in_features, layer.out_features, bias=has_bias)
    return cls(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        bias=has_bias,
        padding_mode=layer.padding_mode,
    )
