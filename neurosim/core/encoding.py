"""Encoders (static input ``[B, ...]`` → time-first ``[T, B, ...]``) and readouts.

Encoders are frozen dataclasses called as ``enc(x, generator=None)``; intensities are
expected in [0, 1] (values outside raise). Readouts reduce ``[T, B, ...]`` over time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from neurosim.core.layers import has_nan

__all__ = [
    "Direct",
    "Encoder",
    "Latency",
    "Poisson",
    "Sequence",
    "count",
    "membrane",
    "rate",
]


def _check_T(T: object) -> None:
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T={T!r} is not valid; expected a number of time steps >= 1")


def _check_static(x: Tensor, unit_range: bool) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"encoder input must be a torch.Tensor [B, ...], got {type(x).__name__}")
    if x.dim() < 1 or not x.is_floating_point():
        raise ValueError(f"encoder input must be a floating tensor [B, ...], got {x.dtype}")
    if has_nan(x):
        raise ValueError("encoder input contains NaN values")
    if unit_range and x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"encoder input must lie in [0, 1], got values in [{x.min():.4g}, {x.max():.4g}]"
        )


class Encoder(ABC):
    """Turns a static batch ``[B, ...]`` into a sequence ``[T, B, ...]``."""

    T: int

    @abstractmethod
    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Encode ``x [B, ...]`` into ``[T, B, ...]``."""


@dataclass(frozen=True)
class Direct(Encoder):
    """Direct-current encoding: the analog input repeated at every step (any real values)."""

    T: int

    def __post_init__(self) -> None:
        _check_T(self.T)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_static(x, unit_range=False)
        return x.unsqueeze(0).expand(self.T, *x.shape)


@dataclass(frozen=True)
class Sequence(Encoder):
    """Input that already is a sequence, batch-first ``[B, T, ...]`` (binned events, rows of
    an image read one per step): moved to time-first ``[T, B, ...]``, values unchanged."""

    T: int

    def __post_init__(self) -> None:
        _check_T(self.T)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_static(x, unit_range=False)
        if x.dim() < 2 or x.shape[1] != self.T:
            raise ValueError(
                f"Sequence(T={self.T}) expects input [B, {self.T}, ...], got {list(x.shape)}"
            )
        return x.transpose(0, 1)


@dataclass(frozen=True)
class Poisson(Encoder):
    """Rate coding: at each step a Bernoulli spike with probability ``gain · x``."""

    T: int
    gain: float = 1.0

    def __post_init__(self) -> None:
        _check_T(self.T)
        if not 0.0 < self.gain <= 1.0:
            raise ValueError(f"gain={self.gain!r} is not valid; expected 0 < gain <= 1")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        _check_static(x, unit_range=True)
        p = (self.gain * x).unsqueeze(0).expand(self.T, *x.shape)
        return torch.bernoulli(p, generator=generator)


@dataclass(frozen=True)
class Latency(Encoder):
    """Time-to-first-spike: one spike per input, earlier for larger values.

    ``linear``: the spike time is ``round((1 − x)·(T − 1))``. ``log``: the RC-circuit time
    ``τ·ln(x / (x − threshold))`` (in steps, ``τ = T``), clipped to ``T − 1``.
    Inputs ``x ≤ threshold`` never spike.
    """

    T: int
    threshold: float = 0.01
    mode: Literal["linear", "log"] = "linear"

    def __post_init__(self) -> None:
        _check_T(self.T)
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold={self.threshold!r} is not valid; expected 0 <= t < 1")
        if self.mode not in ("linear", "log"):
            raise ValueError(f"mode={self.mode!r} is not valid; expected 'linear' or 'log'")

    def spike_times(self, x: Tensor) -> Tensor:
        """Spike step per input (``[B, ...]``, long); ``T`` marks "no spike"."""
        _check_static(x, unit_range=True)
        if self.mode == "linear":
            t = torch.round((1.0 - x) * (self.T - 1))
        else:
            ratio = x / (x - self.threshold).clamp(min=1e-12)
            t = torch.round(self.T * torch.log(ratio)).clamp(max=self.T - 1)
        t = torch.where(x > self.threshold, t, torch.full_like(t, self.T))
        return t.long()

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        t = self.spike_times(x)
        steps = torch.arange(self.T, device=x.device).view(-1, *([1] * x.dim()))
        return (steps == t.unsqueeze(0)).to(x.dtype)


def count(spikes: Tensor) -> Tensor:
    """Spike count per neuron: ``[T, B, ...] → [B, ...]``."""
    return spikes.sum(0)


def rate(spikes: Tensor) -> Tensor:
    """Firing rate per neuron in spikes per step: ``[T, B, ...] → [B, ...]``."""
    return spikes.mean(0)


def membrane(trace: Tensor, reduce: Literal["mean", "max", "last"] = "mean") -> Tensor:
    """Reduce a membrane (or any real-valued output) trace ``[T, B, ...]`` over time."""
    if reduce == "mean":
        return trace.mean(0)
    if reduce == "max":
        return trace.max(0).values
    if reduce == "last":
        return trace[-1]
    raise ValueError(f"reduce={reduce!r} is not valid; expected 'mean', 'max' or 'last'")
