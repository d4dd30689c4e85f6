"""Plain (non-spiking) recurrent layers over time-first tensors.

``IRNN`` is the ReLU recurrent network of Le, Jaitly & Hinton (arXiv 1504.00941) with the
recurrent weights initialised to the identity and the bias to zero::

    h[t] = relu(x[t] + W_h h[t−1] + b),    h[−1] = h0 (zeros by default)

Like ``RecurrentLIF`` it holds only the recurrent synapses: the input projection ``W_x`` is
the ``ns.Linear`` before it, so ``Linear(F_in, n) → IRNN(n)`` computes
``relu(W_x x[t] + W_h h[t−1] + b)``.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurosim.core.layers import ShapeError

__all__ = ["IRNN"]


class IRNN(nn.Module):
    """ReLU recurrent layer of ``n`` units: ``[T, B, n] → [T, B, n]`` (hidden states).

    ``self.recurrent`` is an ``nn.Linear(n, n)`` (weight ``[post, pre]``) initialised to
    ``scale · I`` with a zero bias. ``forward(x, h0=None)`` starts from ``h0 [B, n]`` (zeros
    when ``None``). Inside ``ns.Sequential`` its state is the last hidden state ``h[T−1]``: it
    appears in ``run.states`` and ``net.run(x, state=run.states)`` continues from it.
    """

    #: takes ``[T, B, ...]`` itself (``ns.Sequential`` accepts it without ``Lifted``)
    takes_sequences: ClassVar[bool] = True
    #: ``ns.Sequential`` passes the previous state in and keeps the new one (``forward_state``)
    carries_state: ClassVar[bool] = True

    def __init__(self, n: int, *, bias: bool = True, scale: float = 1.0) -> None:
        super().__init__()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"IRNN n={n!r} is not valid; expected a positive number of units")
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise TypeError(f"IRNN scale must be a number, got {type(scale).__name__}")
        self.n = n
        self.recurrent = nn.Linear(n, n, bias=bias)
        with torch.no_grad():
            self.recurrent.weight.copy_(float(scale) * torch.eye(n))
            if self.recurrent.bias is not None:
                self.recurrent.bias.zero_()

    def forward(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self} expects a tensor [T, B, {self.n}], got {type(x).__name__}")
        if x.dim() != 3 or x.shape[0] == 0 or x.shape[-1] != self.n:
            raise ShapeError(f"{self} expects input [T, B, {self.n}], got {list(x.shape)}")
        h = torch.zeros_like(x[0]) if h0 is None else h0
        if h.shape != x.shape[1:]:
            raise ShapeError(f"{self}: h0 shape {list(h.shape)}, expected {list(x.shape[1:])}")
        w, b = self.recurrent.weight, self.recurrent.bias
        out = []
        for x_t in x.unbind(0):
            h = torch.relu(x_t + F.linear(h, w, b))
            out.append(h)
        return torch.stack(out)

    def forward_state(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(h [T, B, n], h[T−1])``: the hidden states and the state to continue from."""
        h = self(x, h0)
        return h, h[-1]

    def extra_repr(self) -> str:
        return f"n={self.n}, bias={self.recurrent.bias is not None}"
