"""Classification losses on time-first outputs ``[T, B, C]``.

* ``ce_count``: cross-entropy on spike counts (softmax over ``Σ_t s[t]``), snnTorch's
  ``ce_count_loss``; for spiking outputs.
* ``ce_mean``: cross-entropy on the time-averaged output (membrane or real-valued logits,
  e.g. S2NN/ANN with T = 1).
* ``mse_count``: MSE between spike counts and targets ``T·correct_rate`` for the true class
  and ``T·incorrect_rate`` for the others (snnTorch's ``mse_count_loss``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "ce_count", "ce_mean", "get_loss", "mse_count", "predict"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def _check(output: Tensor, target: Tensor) -> None:
    if output.dim() != 3:
        raise ValueError(f"loss expects output [T, B, C], got shape {list(output.shape)}")
    if target.shape != output.shape[1:2]:
        raise ValueError(
            f"loss expects target [B] = [{output.shape[1]}], got shape {list(target.shape)}"
        )


def ce_count(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy with spike counts as logits."""
    _check(output, target)
    return F.cross_entropy(output.sum(0), target)


def ce_mean(output: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy with the time-averaged output as logits."""
    _check(output, target)
    return F.cross_entropy(output.mean(0), target)


def mse_count(
    output: Tensor, target: Tensor, correct_rate: float = 1.0, incorrect_rate: float = 0.0
) -> Tensor:
    """Mean squared error between spike counts and target counts."""
    _check(output, target)
    steps = output.shape[0]
    want = torch.full_like(output[0], incorrect_rate * steps)
    want.scatter_(1, target.unsqueeze(1), correct_rate * steps)
    return F.mse_loss(output.sum(0), want)


def predict(output: Tensor) -> Tensor:
    """Predicted class per sample: argmax of the summed output ``[T, B, C] → [B]``."""
    return output.sum(0).argmax(-1)


LOSSES: dict[str, LossFn] = {"ce_count": ce_count, "ce_mean": ce_mean, "mse_count": mse_count}


def get_loss(name: str) -> LossFn:
    """Loss function by name."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}") from None
