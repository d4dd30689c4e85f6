"""Exact connectivity of synaptic and pass-through layers, for counting operations.

A synaptic layer is linear in its input: ``y = A x`` (plus bias). Replacing its weights by
the indicator ``W ≠ 0`` and dropping the bias turns ``A`` into the 0/1 connection matrix,
so the gradient of ``Σ_j m_j y_j`` with respect to ``x`` is ``Aᵀm`` — for ``m = 1`` the
exact fan-out of every input (conv borders, stride, padding, padding mode, groups and
dilation included, zero weights excluded). For a pass-through layer (flatten, average
pooling, dropout) the same pull-back through its connection structure carries a fan-out
map from its output back to its input. Both are registries keyed by layer type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurosim.core.binary import BatchNorm
from neurosim.core.layers import AvgPool2d, Dropout, Flatten

__all__ = [
    "connection_map",
    "fanout",
    "is_passthrough",
    "is_synaptic",
    "out_shape",
    "pullback",
    "register_passthrough",
    "register_synaptic",
]

# A connection map applies the 0/1 structure of a layer to a per-sample batch [N, ...];
# structural=True counts every synapse, zero weights included (what dense hardware does).
ConnectionMap = Callable[[Any, Tensor, bool], Tensor]

_SYNAPTIC: dict[type[nn.Module], ConnectionMap] = {}
_PASSTHROUGH: dict[type[nn.Module], ConnectionMap] = {}


def _register(table: dict[type[nn.Module], ConnectionMap], kind: str) -> Callable[..., None]:
    def register(layer_type: type[nn.Module], fn: ConnectionMap) -> None:
        if layer_type in table:
            raise ValueError(f"a {kind} rule for {layer_type.__name__} is already registered")
        table[layer_type] = fn

    return register


register_synaptic = _register(_SYNAPTIC, "synaptic")
register_passthrough = _register(_PASSTHROUGH, "pass-through")


def _lookup(table: dict[type[nn.Module], ConnectionMap], layer: nn.Module) -> ConnectionMap | None:
    for cls in type(layer).__mro__:
        if cls in table:
            return table[cls]
    return None


def is_synaptic(layer: nn.Module) -> bool:
    return _lookup(_SYNAPTIC, layer) is not None


def is_passthrough(layer: nn.Module) -> bool:
    return _lookup(_PASSTHROUGH, layer) is not None


def _mask(weight: Tensor, like: Tensor, structural: bool) -> Tensor:
    if structural:
        return torch.ones_like(weight, dtype=like.dtype)
    return (weight.detach() != 0).to(like.dtype)


def _linear_map(layer: nn.Linear, x: Tensor, structural: bool) -> Tensor:
    return F.linear(x, _mask(layer.weight, x, structural))


def _conv2d_map(layer: nn.Conv2d, x: Tensor, structural: bool) -> Tensor:
    return layer._conv_forward(x, _mask(layer.weight, x, structural), None)


def _avgpool_map(layer: nn.AvgPool2d, x: Tensor, structural: bool) -> Tensor:
    if layer.ceil_mode:
        raise ValueError(f"{layer}: ceil_mode=True is not supported by the operation counter")
    k = nn.modules.utils._pair(layer.kernel_size)
    s = nn.modules.utils._pair(layer.stride or layer.kernel_size)
    p = nn.modules.utils._pair(layer.padding)
    c = x.shape[1]
    ones = torch.ones(c, 1, *k, dtype=x.dtype, device=x.device)
    return F.conv2d(x, ones, stride=s, padding=p, groups=c)


def _identity_map(layer: nn.Module, x: Tensor, structural: bool) -> Tensor:
    return x


def _flatten_map(layer: nn.Module, x: Tensor, structural: bool) -> Tensor:
    return x.flatten(1)


register_synaptic(nn.Linear, _linear_map)
register_synaptic(nn.Conv2d, _conv2d_map)
register_passthrough(AvgPool2d, _avgpool_map)
register_passthrough(Flatten, _flatten_map)
register_passthrough(Dropout, _identity_map)  # counted in eval mode: dropout is the identity
register_passthrough(nn.Identity, _identity_map)
# batch norm before a sign folds into its threshold at inference: no events, no cost
register_passthrough(BatchNorm, _identity_map)


def connection_map(layer: nn.Module) -> ConnectionMap:
    """The registered connection map of a synaptic or pass-through layer."""
    fn = _lookup(_SYNAPTIC, layer) or _lookup(_PASSTHROUGH, layer)
    if fn is None:
        raise TypeError(
            f"no operation-counting rule for {type(layer).__name__}; register one with "
            "neurosim.energy.connectivity.register_synaptic / register_passthrough"
        )
    return fn


def pullback(
    layer: nn.Module, m: Tensor, in_shape: tuple[int, ...], structural: bool = False
) -> Tensor:
    """``Aᵀ m``: per input element, the sum of ``m`` over the outputs it connects to.

    ``m`` is ``[K, *out_shape]`` (K maps over the layer's per-sample output); the result
    is ``[K, *in_shape]``.
    """
    fn = connection_map(layer)
    k = m.shape[0]
    with torch.enable_grad():
        x = torch.zeros(k, *in_shape, dtype=m.dtype, device=m.device, requires_grad=True)
        y = fn(layer, x, structural)
        if y.shape != m.shape:
            raise ValueError(
                f"{layer}: output weights of shape {list(m.shape[1:])} do not match the "
                f"layer's output {list(y.shape[1:])} for input {list(in_shape)}"
            )
        (g,) = torch.autograd.grad((y * m.detach()).sum(), x)
    return g


def out_shape(layer: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per-sample output shape of a synaptic or pass-through layer."""
    with torch.no_grad():
        return tuple(connection_map(layer)(layer, torch.zeros(1, *in_shape), True).shape[1:])


def fanout(
    layer: nn.Module,
    in_shape: tuple[int, ...],
    dtype: torch.dtype = torch.float64,
    structural: bool = False,
) -> Tensor:
    """Exact number of nonzero synapses (every synapse if ``structural``) leaving every input
    element (shape ``in_shape``)."""
    device = next((p.device for p in layer.parameters()), torch.device("cpu"))
    ones = torch.ones(1, *out_shape(layer, in_shape), dtype=dtype, device=device)
    return pullback(layer, ones, in_shape, structural)[0]
