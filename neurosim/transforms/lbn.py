"""Layer-Batch Normalisation (MaQD) and folding normalisations into synaptic weights.

``LayerBatchNorm(C)`` normalises with **one** mean and variance taken over the batch, the
channels and the spatial positions jointly, then applies a per-channel affine::

    y[n, c, ...] = γ_c · (x[n, c, ...] − μ) / sqrt(σ² + ε) + β_c
    μ, σ² = mean and (biased) variance of x over all of (n, c, ...)

Because the statistics include the C·H·W elements of every sample, they exist and are
stable even for a batch of one sample — unlike BatchNorm's per-channel statistics over the
batch (the paper's "independent of mini-batch size"). In training the batch statistics are
used and running averages updated (``momentum`` as in ``torch.nn.BatchNorm``, the running
variance unbiased); in eval mode the running averages are used, so the layer is an affine
map per channel and ``fold_`` merges it into the preceding layer's weights ("no inference
cost").

Provenance (methods.md §3): **V** — a layer-batch normalisation independent of the
mini-batch size with no inference cost. **R** (our reconstruction) — the exact statistics
(joint over batch, channel and spatial dims), the per-channel affine, running averages with
BatchNorm's momentum rule, and folding by the formulas below.

The module works on the per-sample tensors neurosim's lifted layers see, ``[N, C, H, W]``
or ``[N, C]`` (N = T·B); put it in a network as ``ns.Lifted(LayerBatchNorm(C))``.

Folding (``fold`` / ``fold_``): for a synaptic layer ``z = W x + b`` followed by a
normalisation in eval mode with per-channel scale ``s_c = γ_c / sqrt(var_c + ε)`` and mean
``μ_c`` (LayerBatchNorm: ``var_c = σ²``, ``μ_c = μ`` for every c), the pair equals
``W' x + b'`` with ``W'_c = s_c · W_c`` and ``b'_c = s_c · (b_c − μ_c) + β_c``. The
normalisation layer is replaced by ``nn.Identity`` and the synaptic layer by a plain one
holding the folded weights. A quantised layer
(``neurosim.transforms.quantize``) keeps its N weight levels per output channel times the
per-channel scale ``s_c``, applied once per output rather than per synapse; its
``weight_bits`` is kept. A BNN layer (``neurosim.core.binary``) with binary weights likewise
becomes a plain layer holding ``±α·s_c`` (``weight_bits`` 1 kept).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurosim.core.binary import BNNConv2d, BNNLinear, binary_weight
from neurosim.core.layers import Conv2d, Lifted, Linear, ShapeError, same_shape
from neurosim.core.network import Sequential

__all__ = ["LayerBatchNorm", "fold", "fold_"]


class LayerBatchNorm(nn.Module):
    """Layer-Batch Norm over ``[N, C, *spatial]`` or ``[N, C]`` (see the module docstring).

    num_features: C; eps: added to the variance; momentum: running-average update rate;
    affine: learn per-channel ``weight`` (γ, init 1) and ``bias`` (β, init 0).
    Buffers ``running_mean`` and ``running_var`` are scalars.
    """

    running_mean: Tensor
    running_var: Tensor
    num_batches_tracked: Tensor

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int):
            raise TypeError(f"num_features={num_features!r} must be an integer (channels)")
        if num_features < 1:
            raise ValueError(f"num_features={num_features} is not valid; expected >= 1")
        for name, value in (("eps", eps), ("momentum", momentum)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name}={value!r} is not valid; expected a number")
        if not isinstance(affine, bool):
            raise TypeError(f"affine={affine!r} is not valid; expected a bool")
        if not eps > 0:
            raise ValueError(f"eps={eps!r} is not valid; expected > 0")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum={momentum!r} is not valid; expected 0 < momentum <= 1")
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(()))
        self.register_buffer("running_var", torch.ones(()))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def _check(self, x: Tensor) -> None:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{self} expects input [N, {self.num_features}, ...] (time folded into the "
                f"batch; wrap it in ns.Lifted), got shape {list(x.shape)}"
            )

    def stats(self) -> tuple[Tensor, Tensor]:
        """Per-channel ``(scale s_c, mean μ_c)`` of the eval-mode map ``γ_c (x − μ_c)/σ + β_c``
        divided out as ``s_c (x − μ_c) + β_c`` (shapes ``[C]``)."""
        gamma = (
            self.weight if self.weight is not None else self.running_var.new_ones(self.num_features)
        )
        scale = gamma / torch.sqrt(self.running_var + self.eps)
        return scale, self.running_mean.expand(self.num_features)

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        if self.training:
            mean = x.mean()
            var = x.var(unbiased=False)
            with torch.no_grad():
                n = x.numel()
                unbiased = var * n / max(n - 1, 1)
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * unbiased.detach())
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is None or self.bias is None:
            return y
        shape = (1, self.num_features) + (1,) * (x.dim() - 2)
        return y * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum:g}, "
            f"affine={self.affine}"
        )


def base_type(module: nn.Module) -> type[nn.Module]:
    """The module's class, or for a ``parametrize``-d module the class it wraps."""
    cls = type(module)
    return cls.__bases__[0] if parametrize.is_parametrized(module) else cls


_NORMS = (LayerBatchNorm, nn.BatchNorm1d, nn.BatchNorm2d)


def _norm_affine(norm: nn.Module, where: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(scale s_c, mean μ_c, shift β_c)`` of a normalisation layer in eval mode."""
    if isinstance(norm, LayerBatchNorm):
        scale, mean = norm.stats()
        shift = norm.bias if norm.bias is not None else scale.new_zeros(norm.num_features)
        return scale.detach(), mean.detach(), shift.detach()
    if not isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d):
        raise TypeError(f"{where}: cannot fold {type(norm).__name__}")
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError(f"{where}: {norm} has no running statistics (track_running_stats=False)")
    c = norm.num_features
    gamma = norm.weight if norm.weight is not None else norm.running_var.new_ones(c)
    shift = norm.bias if norm.bias is not None else norm.running_var.new_zeros(c)
    scale = gamma / torch.sqrt(norm.running_var + norm.eps)
    return scale.detach(), norm.running_mean.detach(), shift.detach()


def _synaptic(layer: nn.Module) -> nn.Linear | nn.Conv2d | None:
    if isinstance(layer, Linear | Conv2d):
        return layer
    if isinstance(layer, Lifted) and base_type(layer.module) in (nn.Linear, nn.Conv2d):
        return layer.module  # type: ignore[return-value]
    return None


_KEPT = ("weight_bits", "weight_states", "act_bits", "event_threshold")


def _plain(layer: nn.Linear | nn.Conv2d) -> nn.Linear | nn.Conv2d:
    """A new layer of the same class without parametrisations, holding ``layer.weight``
    (the quantised weights of a quantised layer), its bias and its energy attributes.

    A fresh module rather than ``parametrize.remove_parametrizations``, which edits the
    parametrised class that deep copies of the layer share. A BNN layer becomes the plain
    ``Linear``/``Conv2d`` it derives from, holding the weights it computes with (``α·sign W``
    with binary weights), since its own forward would binarise the folded weights again."""
    cls: Any = base_type(layer)  # nn.Linear or nn.Conv2d, or a subclass with their __init__
    w = layer.weight.detach()
    if isinstance(layer, BNNLinear | BNNConv2d):
        cls = Linear if isinstance(layer, BNNLinear) else Conv2d
        if layer.weight_bits is not None:
            w = binary_weight(layer.weight).detach()
    new: nn.Linear | nn.Conv2d = same_shape(layer, cls)
    with torch.no_grad():
        new.to(device=w.device, dtype=w.dtype)
        new.weight.copy_(w)
        if layer.bias is not None and new.bias is not None:
            new.bias.copy_(layer.bias.detach())
    for key in _KEPT:
        if key in layer.__dict__:
            setattr(new, key, layer.__dict__[key])
    new.train(layer.training)
    return new


def _fold_into(layer: nn.Linear | nn.Conv2d, norm: nn.Module, where: str) -> nn.Module:
    """The plain layer computing ``norm(layer(x))`` (eval mode)."""
    scale, mean, shift = _norm_affine(norm, where)
    if scale.numel() != layer.weight.shape[0]:
        raise ValueError(
            f"{where}: the normalisation has {scale.numel()} channels but the layer before it "
            f"has {layer.weight.shape[0]} outputs"
        )
    new = _plain(layer)
    with torch.no_grad():
        w = new.weight.to(torch.float64)
        s = scale.to(torch.float64)
        b = new.bias.to(torch.float64) if new.bias is not None else w.new_zeros(w.shape[0])
        w_new = w * s.view(-1, *([1] * (w.dim() - 1)))
        b_new = s * (b - mean.to(torch.float64)) + shift.to(torch.float64)
        new.weight.copy_(w_new.to(new.weight.dtype))
        if new.bias is None:
            new.bias = nn.Parameter(b_new.to(new.weight.dtype))
        else:
            new.bias.copy_(b_new.to(new.bias.dtype))
    return new


def fold_(net: Sequential) -> Sequential:
    """Fold every ``Lifted(LayerBatchNorm | BatchNorm1d | BatchNorm2d)`` of ``net`` into the
    synaptic layer right before it, in place, and replace it by ``nn.Identity``.

    The result computes what ``net`` computes in eval mode (running statistics), within
    float rounding. Quantised weights are frozen at their quantised values (scaled per
    output channel). Returns ``net``. A normalisation not directly after a ``Linear`` or
    ``Conv2d`` raises ``ValueError`` naming its index.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"fold_ expects a neurosim Sequential, got {type(net).__name__}")
    for i, layer in enumerate(net.layers):
        if not (isinstance(layer, Lifted) and isinstance(layer.module, _NORMS)):
            continue
        where = f"layer {i} ({type(layer.module).__name__})"
        prev = _synaptic(net.layers[i - 1]) if i > 0 else None
        if prev is None:
            before = type(net.layers[i - 1]).__name__ if i > 0 else "the network input"
            raise ValueError(
                f"{where}: can only fold a normalisation right after a Linear or Conv2d, "
                f"but it follows {before}"
            )
        folded = _fold_into(prev, layer.module, where)
        if isinstance(net.layers[i - 1], Lifted):
            net.layers[i - 1].module = folded
        else:
            net.layers[i - 1] = folded
        net.layers[i] = nn.Identity()
    return net


def fold(net: Sequential) -> Sequential:
    """``fold_`` on a copy: ``net`` is left unchanged."""
    if not isinstance(net, Sequential):
        raise TypeError(f"fold expects a neurosim Sequential, got {type(net).__name__}")
    return fold_(copy.deepcopy(net))
