"""Binarised-network layers (the BNN baseline): sign activations, binary weights, batch norm.

* ``sign_ste(x)``: ``+1`` for ``x ≥ 0``, ``−1`` otherwise; backward the hard-tanh
  straight-through estimator (Courbariaux, Hubara et al. 2016): the incoming gradient passes
  where ``|x| ≤ 1`` and is zero outside — the derivative of ``hardtanh(x) = clamp(x, −1, 1)``.
* ``BinarySign``: that activation as a layer over ``[T, B, ...]``.
* ``BNNLinear`` / ``BNNConv2d``: with ``binary_weights`` the weights are used as
  ``α · sign(W)``, one scale ``α = mean |W|`` per layer (XNOR-Net's scale, kept in the
  graph), trained through the same estimator on the real-valued ``W``. For the energy model
  (``neurosim/hardware/bitwidth.py``) they carry ``weight_bits`` (1 with binary weights,
  else ``None``: the profile's) and ``act_bits``, the precision of their input values
  (1 behind a sign activation: a MAC on a ±1 input is an accumulate).
* ``BatchNorm``: per-feature batch normalisation over ``[T, B, C]`` or ``[T, B, C, H, W]``
  (time folded into the batch). Before a sign it folds into a per-neuron threshold at
  inference, so the operation counter treats it as a pass-through (no cost of its own).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurosim.core.layers import Conv2d, Lifted, Linear, ShapeError, _check_image

__all__ = ["BNNConv2d", "BNNLinear", "BatchNorm", "BinarySign", "binary_weight", "sign_ste"]


class _SignSTE(torch.autograd.Function):
    """``sign`` forward (0 ↦ +1), hard-tanh straight-through backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad_out * (x.abs() <= 1.0).to(grad_out.dtype)


def sign_ste(x: Tensor) -> Tensor:
    """``±1`` elementwise (``+1`` at 0); gradient 1 inside ``[−1, 1]``, 0 outside."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"sign_ste expects a floating tensor, got {type(x).__name__}")
    return _SignSTE.apply(x)


def binary_weight(weight: Tensor) -> Tensor:
    """``α · sign(W)`` with ``α = mean |W|`` (a scalar), straight-through to ``W``."""
    return weight.abs().mean() * sign_ste(weight)


class BinarySign(nn.Hardtanh):
    """Sign activation ``[T, B, ...] → [T, B, ...]`` with values ``±1``.

    Its backward pass is hard-tanh's, and it subclasses ``nn.Hardtanh`` so that networks
    and the operation counter treat it as the element-wise activation it is (one update per
    unit and step). Its ``±1`` outputs are not spike events: the next layer is priced as
    MACs, accumulates when that layer carries ``act_bits = 1`` (``BNNLinear``).
    """

    def __init__(self) -> None:
        super().__init__(-1.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return sign_ste(x)

    def extra_repr(self) -> str:
        return "±1, hard-tanh STE"


def _bits(layer: str, binary_weights: object, act_bits: object) -> int | None:
    if not isinstance(binary_weights, bool):
        raise TypeError(f"{layer}: binary_weights must be a bool, got {binary_weights!r}")
    if act_bits is not None and (
        isinstance(act_bits, bool) or not isinstance(act_bits, int) or not 1 <= act_bits <= 64
    ):
        raise ValueError(f"{layer}: act_bits={act_bits!r} is not valid; expected 1 to 64 or None")
    return 1 if binary_weights else None


class BNNLinear(Linear):
    """``Linear`` of a binarised network: weights act as ``α · sign(W)`` when
    ``binary_weights``; ``act_bits`` is the precision of its input values for the energy
    model (1 behind a sign activation), ``weight_bits`` is 1 with binary weights."""

    weight_bits: int | None
    act_bits: int | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        binary_weights: bool = True,
        act_bits: int | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias)
        self.weight_bits = _bits("BNNLinear", binary_weights, act_bits)
        self.act_bits = act_bits

    def forward(self, x: Tensor) -> Tensor:
        if self.weight_bits is None:
            return super().forward(x)
        if x.dim() < 3 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"BNNLinear({self.in_features}→{self.out_features}) expects input "
                f"[T, B, {self.in_features}], got shape {list(x.shape)}"
            )
        return F.linear(x, binary_weight(self.weight), self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_bits={self.weight_bits}, act_bits={self.act_bits}"


class BNNConv2d(Conv2d):
    """``Conv2d`` over ``[T, B, C, H, W]`` of a binarised network (see ``BNNLinear``)."""

    weight_bits: int | None
    act_bits: int | None

    def __init__(
        self,
        *args: Any,
        binary_weights: bool = True,
        act_bits: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.weight_bits = _bits("BNNConv2d", binary_weights, act_bits)
        self.act_bits = act_bits

    def forward(self, x: Tensor) -> Tensor:
        if self.weight_bits is None:
            return super().forward(x)
        _check_image(self, x, self.in_channels)
        y = self._conv_forward(x.flatten(0, 1), binary_weight(self.weight), self.bias)
        return y.unflatten(0, x.shape[:2])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", weight_bits={self.weight_bits}, act_bits={self.act_bits}"


class BatchNorm(Lifted):
    """Batch normalisation of the channel axis of ``[T, B, C]`` (``image=False``) or
    ``[T, B, C, H, W]`` (``image=True``); statistics over time, batch (and space)."""

    def __init__(self, num_features: int, image: bool = False) -> None:
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"BatchNorm num_features={num_features!r} is not valid; expected an int >= 1"
            )
        super().__init__(nn.BatchNorm2d(num_features) if image else nn.BatchNorm1d(num_features))
        self.num_features = num_features
        self.image = image

    def forward(self, x: Tensor) -> Tensor:
        want = 5 if self.image else 3
        if x.dim() != want or x.shape[2] != self.num_features:
            dims = "C, H, W" if self.image else "C"
            raise ShapeError(
                f"BatchNorm({self.num_features}) expects input [T, B, {dims}] with "
                f"C = {self.num_features}, got shape {list(x.shape)}"
            )
        return super().forward(x)
