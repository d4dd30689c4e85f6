"""The dense ``Linear`` product with its large outputs taken from the buffer pool.

``F.linear`` on ``[T, B, in]`` returns a fresh ``[T, B, out]`` tensor and its backward a
fresh ``[T, B, in]`` gradient; at training sizes both are large enough that each is paid
for in page faults every step (``neurosim.core.buffers``). This autograd function computes
the same products — ``addmm(b, x, Wᵀ)`` forward, ``g W``, ``gᵀ x`` and ``Σ g`` backward — into
pooled buffers (and the weight gradient, which becomes ``.grad`` and returns to the pool
when that is reset). It is used when the output, the input's gradient or the weight reaches
``buffers.MIN_BYTES``. It stays twice differentiable: when the backward itself is recorded
(``create_graph=True``) it uses ordinary differentiable operations.

Used for CPU float32/float64 input, plain tensors (not inside ``torch.func`` transforms,
tracing or autocast, no forward-mode AD); otherwise ``F.linear`` runs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd import forward_ad
from torch.nn import functional as F

from neurosim.core import buffers
from neurosim.core.event import _is_transformed

__all__ = ["linear"]

_FLOATS = (torch.float32, torch.float64)


class _PooledLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        out = buffers.take((x.shape[0], weight.shape[0]), x.dtype)
        if bias is None:
            torch.mm(x, weight.t(), out=out)
        else:
            torch.addmm(bias, x, weight.t(), out=out)
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        g_x = g_w = g_b = None
        if need_x:
            if torch.is_grad_enabled():  # the backward is being differentiated
                g_x = g @ weight
            else:
                g_x = torch.mm(g, weight, out=buffers.take((g.shape[0], x.shape[1]), g.dtype))
        if need_w:
            if torch.is_grad_enabled():
                g_w = g.t() @ x
            else:  # becomes the weight's .grad: back to the pool when that is reset
                g_w = torch.mm(g.t(), x, out=buffers.take(tuple(weight.shape), g.dtype))
        if need_b:
            g_b = g.sum(0)
        return g_x, g_w, g_b


def _pooled(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    if x.device.type != "cpu" or x.dtype not in _FLOATS or weight.dtype != x.dtype:
        return False
    if bias is not None and bias.dtype != x.dtype:
        return False
    rows = x.numel() // x.shape[-1]
    out_bytes = rows * weight.shape[0] * x.element_size()
    in_grad_bytes = x.numel() * x.element_size() if x.requires_grad else 0
    if max(out_bytes, in_grad_bytes, weight.numel() * weight.element_size()) < buffers.MIN_BYTES:
        return False
    if type(x) is not Tensor or type(weight) not in (Tensor, nn.Parameter):
        return False  # tensor subclasses (a Parameter weight is fine)
    if _is_transformed(x) or _is_transformed(weight):
        return False
    if torch.is_autocast_enabled("cpu") or torch.jit.is_tracing():
        return False
    if forward_ad._current_level >= 0:  # inside a dual level: forward-mode AD
        return False
    return not torch.compiler.is_compiling()


def linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear(x, weight, bias)`` for ``x [..., in]``, with pooled outputs where it can."""
    if not _pooled(x, weight, bias):
        return F.linear(x, weight, bias)
    rows = x.reshape(-1, x.shape[-1])
    out: Tensor = _PooledLinear.apply(rows, weight, bias)
    return out.view(*x.shape[:-1], weight.shape[0])
