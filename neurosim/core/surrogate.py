"""Surrogate gradients for the Heaviside spike function.

The forward pass of a spike is ``H(x) = 1 if x > 0 else 0`` (strictly greater, as snnTorch,
Norse and Brian2's ``v > v_th``), with ``x = v - v_th``. The backward pass replaces the
Dirac delta ``H'(x)`` by ``surrogate.grad(x)``.

Each surrogate is a small frozen dataclass with two methods:

* ``grad(x)``: the surrogate derivative used in the backward pass;
* ``smooth(x)``: a smooth step whose true derivative is ``grad(x)``. It is what the
  surrogate "pretends" the spike function is; ``spike(x, s, smooth_forward=True)``
  evaluates it in the forward pass (useful for finite-difference checks of gradients).

One shared ``autograd.Function`` does the plumbing for all of them. Surrogates are looked up
by name in a registry (``get("atan", alpha=2.0)``); ``register`` rejects duplicates.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

__all__ = [
    "S2NN",
    "ATan",
    "FastSigmoid",
    "Sigmoid",
    "StraightThrough",
    "Surrogate",
    "Triangle",
    "available",
    "get",
    "register",
    "spike",
]


class Surrogate(ABC):
    """Base class: subclasses are frozen dataclasses defining ``grad`` and ``smooth``."""

    name: ClassVar[str] = ""

    @abstractmethod
    def grad(self, x: Tensor) -> Tensor:
        """Surrogate derivative of the step at ``x``."""

    @abstractmethod
    def smooth(self, x: Tensor) -> Tensor:
        """A smooth step whose derivative is ``grad``."""

    def __call__(self, x: Tensor) -> Tensor:
        return spike(x, self)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """``1 / (slope·|x| + 1)²`` (Zenke & Ganguli 2018; snnTorch ``fast_sigmoid``)."""

    name: ClassVar[str] = "fast_sigmoid"
    slope: float = 25.0

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (self.slope * x.abs() + 1.0) ** 2

    def smooth(self, x: Tensor) -> Tensor:
        return 0.5 + x / (1.0 + self.slope * x.abs())


@dataclass(frozen=True)
class ATan(Surrogate):
    """``(α/2) / (1 + (π/2·α·x)²)`` (Fang et al. 2021; snnTorch ``atan``, its default)."""

    name: ClassVar[str] = "atan"
    alpha: float = 2.0

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2.0) / (1.0 + (math.pi / 2.0 * self.alpha * x) ** 2)

    def smooth(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2.0 * self.alpha * x) / math.pi + 0.5


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """``slope·σ(slope·x)·(1 − σ(slope·x))`` (snnTorch ``sigmoid``)."""

    name: ClassVar[str] = "sigmoid"
    slope: float = 25.0

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.slope * x)
        return self.slope * s * (1.0 - s)

    def smooth(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.slope * x)


@dataclass(frozen=True)
class Triangle(Surrogate):
    """``max(0, 1 − |x|/width) / width`` (Esser et al. 2016; Bellec et al. 2018)."""

    name: ClassVar[str] = "triangle"
    width: float = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(1.0 - x.abs() / self.width, min=0.0) / self.width

    def smooth(self, x: Tensor) -> Tensor:
        u = torch.clamp(x / self.width, -1.0, 1.0)
        return 0.5 + u - 0.5 * u * u.abs()


@dataclass(frozen=True)
class S2NN(Surrogate):
    """The two-branch surrogate of the S2NN paper (Suetake et al., arXiv 2201.10879).

    ``α·σ(αx)(1 − σ(αx))`` for ``x < 0`` and ``β/(x + 1)`` for ``x ≥ 0``; the smooth step is
    ``σ(αx)`` for ``x < 0`` and ``β·ln(x + 1) + 1/2`` for ``x ≥ 0``. With the defaults α = 4,
    β = 1 both branches and their derivatives meet at 0 (value 1/2, slope 1).
    """

    name: ClassVar[str] = "s2nn"
    alpha: float = 4.0
    beta: float = 1.0

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        left = self.alpha * s * (1.0 - s)
        right = self.beta / (x.clamp(min=0.0) + 1.0)
        return torch.where(x < 0, left, right)

    def smooth(self, x: Tensor) -> Tensor:
        left = torch.sigmoid(self.alpha * x.clamp(max=0.0))
        right = self.beta * torch.log1p(x.clamp(min=0.0)) + 0.5
        return torch.where(x < 0, left, right)


@dataclass(frozen=True)
class StraightThrough(Surrogate):
    """Straight-through estimator: gradient 1 (within ``|x| ≤ clip`` when ``clip`` is set).

    With ``clip=None`` this is snnTorch's ``straight_through_estimator``; with a clip it is
    the hard-tanh STE used by binarised networks (Courbariaux et al. 2016).
    """

    name: ClassVar[str] = "straight_through"
    clip: float | None = None

    def grad(self, x: Tensor) -> Tensor:
        if self.clip is None:
            return torch.ones_like(x)
        return (x.abs() <= self.clip).to(x.dtype)

    def smooth(self, x: Tensor) -> Tensor:
        if self.clip is None:
            return x + 0.5
        return x.clamp(-self.clip, self.clip) + 0.5


class _Spike(torch.autograd.Function):
    """Heaviside (or the smooth step) forward, ``surrogate.grad`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: Surrogate, smooth_forward: bool) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        if smooth_forward:
            return surrogate.smooth(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


def spike(x: Tensor, surrogate: Surrogate, smooth_forward: bool = False) -> Tensor:
    """Spike function ``H(x)`` with the surrogate's gradient. ``x = v − v_th``, any shape.

    ``smooth_forward=True`` returns ``surrogate.smooth(x)`` instead of the step, with the same
    backward: the differentiable relaxation the surrogate gradient is the exact gradient of.
    """
    return _Spike.apply(x, surrogate, smooth_forward)


_REGISTRY: dict[str, Callable[..., Surrogate]] = {}


def register(name: str, factory: Callable[..., Surrogate]) -> None:
    """Register a surrogate under ``name``; a name already taken raises ``ValueError``."""
    if name in _REGISTRY:
        raise ValueError(f"surrogate {name!r} is already registered ({_REGISTRY[name]!r})")
    _REGISTRY[name] = factory


def available() -> tuple[str, ...]:
    """Names of the registered surrogates."""
    return tuple(sorted(_REGISTRY))


def get(spec: str | Surrogate, **params: float) -> Surrogate:
    """Return a surrogate from a name (with optional parameters) or pass one through."""
    if isinstance(spec, Surrogate):
        if params:
            raise TypeError("parameters can only be given with a surrogate name, not an instance")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"surrogate must be a name or a Surrogate, got {type(spec).__name__}")
    try:
        factory = _REGISTRY[spec]
    except KeyError:
        raise ValueError(
            f"unknown surrogate {spec!r}; expected one of {', '.join(available())}"
        ) from None
    try:
        return factory(**params)
    except TypeError as err:
        raise TypeError(f"surrogate {spec!r}: {err}") from None


for _cls in (FastSigmoid, ATan, Sigmoid, Triangle, S2NN, StraightThrough):
    register(_cls.name, _cls)
