"""MaQD quantisation-aware training: round-clip quantisers and ``quantize(net, ...)``.

Provenance (methods.md §3; only the paper's abstract was available). **V** (the abstract):
weights are quantised by a scaled round-clip function after weight standardisation;
activations are quantised by the same function; surrogate gradients train both; levels are
given as a number of states N; 2-state activations make the network spike-like; the
Layer-Batch Norm (``neurosim.transforms.lbn``). **R** (our reconstruction, as documented
here; the paper's own equations may differ):

* weight standardisation per output channel ``Ŵ = (W − mean_c)/(std_c + ε)`` (population
  std over the channel's fan-in);
* ``round_clip(x, N)``: the N integer-spaced levels ``−q, −q+1, …, q`` with
  ``q = (N − 1)/2`` — for odd N ``max(−q, min(q, round(x)))``, for even N the same on the
  half-integer grid (``round(x + q) − q``), so that there are exactly N levels (N = 2 gives
  ``±½``, a sign). Straight-through gradient: 1 for ``−q ≤ x ≤ q``, 0 outside;
* weights ``W_q = round_clip(k·Ŵ, N)/k`` with ``k = N/4`` by default: N bins of equal
  width over ``[−2σ, 2σ]``, levels at the bin centres (step 4σ/N). ``weight_rescale=True``
  (default) multiplies ``W_q`` by ``std_c`` so a quantised network keeps the scale of the
  original (useful without a following normalisation); ``False`` is the bare formula;
* activations ``a_q = act_round_clip(k_a·x, N)/k_a`` with levels ``0, 1, …, N−1`` (times
  ``1/k_a``, ``k_a = 1`` by default), computed as the sum of N−1 spikes
  ``Σ_j H(k_a·x − (j − ½))`` (``H`` strict, as ``neurosim.surrogate.spike``; ties round
  down) whose backward is ``Σ_j surrogate.grad(k_a·x − (j − ½))``. With the default
  ``triangle`` surrogate (width 1) the triangles tile the range: the gradient is 1 between
  the first and last threshold and falls to 0 one level outside — a smoothed
  straight-through estimator. N = 2 is a single spike: ``quantize`` puts an
  ``ns.S2NN(v_th = ½/k_a)`` there, whose output is the spike ``{0, 1}`` (k_a times the
  2-level ``a_q``; a following Layer-Batch Norm cancels the factor). Its backward is the
  surrogate at ``x − ½/k_a``, which is k_a times ``a_q``'s only for ``k_a = 1`` (otherwise
  the surrogate's width is in units of x rather than of ``k_a·x``).

What ``quantize(net, weight_states=N_w, act_states=N_a)`` does to each layer type (it
returns a new network; the input is never changed):

* ``Linear``, ``Conv2d`` (neurosim's, or ``nn.Linear``/``nn.Conv2d`` inside ``Lifted``):
  weights quantised through a ``torch.nn.utils.parametrize`` parametrisation (the latent
  float weights stay trainable; ``layer.weight`` is ``W_q``); ``layer.weight_bits =
  ceil(log2 N_w)``; the bias stays in float. ``layer.act_bits`` = bits of its input values
  (below), for the energy model.
* ``RecurrentLIF``: its recurrent weights are quantised as above (``weight_bits`` set on
  the neuron layer, which owns the recurrent synapses); its spikes are 2-state already.
* ``LIF``, ``IF``, ``S2NN`` and other weight-free neuron layers: unchanged — their outputs
  are 2-state spikes (1 bit). Membrane state precision is not quantised (the profile's
  ``state_bits`` prices it).
* ``nn.ReLU``: replaced by the quantised activation (``QuantAct``, or ``S2NN`` for N_a = 2).
  Other element-wise activations (``Tanh``, ``Sigmoid``, ``GELU``, ``LeakyReLU``,
  ``Hardtanh``) take negative or bounded non-ReLU values the ``0…N−1`` grid does not
  represent: quantising activations of such a network raises ``TypeError``.
* ``MaxPool2d``, ``Flatten``, ``Dropout``, ``nn.Identity``: unchanged; values keep their
  levels. ``AvgPool2d``: unchanged; the average of ``A`` inputs with ``L`` levels has
  ``(L − 1)·A + 1`` levels, which sets the next layer's ``act_bits``.
* ``Lifted``: ``nn.Linear``/``nn.Conv2d`` inside are quantised as above; normalisations
  (``LayerBatchNorm``, ``nn.BatchNorm*``, ``nn.LayerNorm``, ``nn.GroupNorm``) stay in
  float (fold them with ``neurosim.transforms.fold``); weight-free modules are unchanged
  (their output precision is unknown: ``act_bits`` of the next layer is left unset). Any
  other module with parameters raises ``TypeError``.
* Already-quantised layers raise ``ValueError``; layer types not listed raise
  ``TypeError``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from neurosim.core.layers import (
    ELEMENTWISE,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Lifted,
    Linear,
    MaxPool2d,
)
from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import S2NN, Neuron, RecurrentLIF
from neurosim.core.surrogate import Surrogate, get
from neurosim.transforms.lbn import LayerBatchNorm

__all__ = [
    "QuantAct",
    "WeightQuantizer",
    "act_round_clip",
    "bits_for",
    "check_states",
    "quantize",
    "quantize_weight",
    "round_clip",
]


def check_states(states: Any, name: str = "states") -> int:
    """``states`` as an int ≥ 2; ``TypeError`` for non-integers, ``ValueError`` below 2."""
    if isinstance(states, bool) or not isinstance(states, int):
        raise TypeError(
            f"{name}={states!r} is not valid; expected an integer number of states >= 2"
        )
    if states < 2:
        raise ValueError(f"{name}={states} is not valid; expected at least 2 states")
    return states


def bits_for(states: int) -> int:
    """Bits needed to store one of ``states`` levels: ``ceil(log2 states)``."""
    return max(1, math.ceil(math.log2(check_states(states))))


def _check_scale(scale: Any, name: str) -> float:
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"{name}={scale!r} is not valid; expected a number > 0")
    if not math.isfinite(scale):
        raise ValueError(f"{name}={scale!r} is not valid; expected a finite number")
    return float(scale)


class _RoundClip(torch.autograd.Function):
    """N symmetric integer-spaced levels forward; gradient 1 inside ``[−q, q]``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, states: int) -> Tensor:
        q = (states - 1) / 2.0
        ctx.save_for_backward(x)
        ctx.q = q
        return torch.clamp(torch.round(x + q), 0.0, states - 1.0) - q

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        inside = (x >= -ctx.q) & (x <= ctx.q)
        return grad_out * inside.to(grad_out.dtype), None


def round_clip(x: Tensor, states: int) -> Tensor:
    """``RoundClip`` onto the N levels ``−q … q`` (``q = (N−1)/2``), straight-through
    gradient (1 for ``−q ≤ x ≤ q``, else 0). Any shape; see the module docstring."""
    return _RoundClip.apply(x, check_states(states, "states"))


class _ActRoundClip(torch.autograd.Function):
    """Levels ``0 … N−1`` as a sum of N−1 spikes; the surrogate's gradient at each."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, states: int, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(u)
        ctx.states, ctx.surrogate = states, surrogate
        return torch.clamp(torch.ceil(u - 0.5), 0.0, states - 1.0)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (u,) = ctx.saved_tensors
        g = torch.zeros_like(u)
        for j in range(1, ctx.states):
            g = g + ctx.surrogate.grad(u - (j - 0.5))
        return grad_out * g, None, None


def act_round_clip(
    x: Tensor, states: int, scale: float = 1.0, surrogate: str | Surrogate = "triangle"
) -> Tensor:
    """Quantised activation ``clamp(ceil(k·x − ½), 0, N−1)/k`` (N levels from 0, step 1/k)
    with the backward ``Σ_j surrogate.grad(k·x − (j − ½))``. Any shape."""
    n = check_states(states, "states")
    k = _check_scale(scale, "scale")
    return _ActRoundClip.apply(x * k, n, get(surrogate)) / k


def quantize_weight(
    w: Tensor, states: int, scale: float | None = None, rescale: bool = True, eps: float = 1e-5
) -> Tensor:
    """Standardise ``w [out, ...]`` per output channel and round-clip it onto N levels:
    ``round_clip(k·Ŵ, N)/k`` (× ``std_c`` when ``rescale``); ``k = N/4`` by default."""
    n = check_states(states, "weight_states")
    k = n / 4.0 if scale is None else _check_scale(scale, "weight_scale")
    if w.dim() < 2:
        raise ValueError(f"quantize_weight expects weights [out, in, ...], got {list(w.shape)}")
    dims = tuple(range(1, w.dim()))
    mean = w.mean(dims, keepdim=True)
    std = w.std(dims, keepdim=True, unbiased=False)
    w_hat = (w - mean) / (std + eps)
    w_q = round_clip(k * w_hat, n) / k
    return w_q * std if rescale else w_q


class WeightQuantizer(nn.Module):
    """Parametrisation ``W ↦ quantize_weight(W, states, scale, rescale)`` (for
    ``torch.nn.utils.parametrize``: the layer's ``weight`` becomes the quantised weights)."""

    def __init__(self, states: int, scale: float | None = None, rescale: bool = True) -> None:
        super().__init__()
        self.states = check_states(states, "weight_states")
        self.scale = None if scale is None else _check_scale(scale, "weight_scale")
        self.rescale = bool(rescale)

    def forward(self, w: Tensor) -> Tensor:
        return quantize_weight(w, self.states, self.scale, self.rescale)

    def extra_repr(self) -> str:
        k = "N/4" if self.scale is None else f"{self.scale:g}"
        return f"states={self.states}, scale={k}, rescale={self.rescale}"


class QuantAct(nn.Hardtanh):
    """Quantised activation ``[T, B, ...] → [T, B, ...]``: ``act_round_clip(x, N, k)``, i.e.
    a ReLU clipped at ``(N−1)/k`` and rounded to its N levels ``0, 1/k, …, (N−1)/k``.

    It subclasses ``nn.Hardtanh`` (a clipped linear unit) so that networks and the energy
    counter treat it as the element-wise activation it is.
    """

    def __init__(
        self, states: int, scale: float = 1.0, surrogate: str | Surrogate = "triangle"
    ) -> None:
        n = check_states(states, "act_states")
        k = _check_scale(scale, "act_scale")
        super().__init__(0.0, (n - 1) / k)
        self.states, self.scale = n, k
        self.surrogate = get(surrogate)

    @property
    def bits(self) -> int:
        return bits_for(self.states)

    def forward(self, x: Tensor) -> Tensor:
        return act_round_clip(x, self.states, self.scale, self.surrogate)

    def extra_repr(self) -> str:
        return f"states={self.states}, scale={self.scale:g}, surrogate={self.surrogate}"


_NORM_TYPES = (
    LayerBatchNorm,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
)


def _quantise_weights(layer: nn.Module, spec: WeightQuantizer | None, where: str) -> None:
    if spec is None:
        return
    if parametrize.is_parametrized(layer, "weight"):
        raise ValueError(f"{where} is already quantised (its weight is parametrised)")
    parametrize.register_parametrization(layer, "weight", copy.deepcopy(spec))


def _set_bits(layer: nn.Module, spec: WeightQuantizer | None, levels: int | None) -> None:
    # plain attributes read by the energy model (neurosim/energy/counts.py)
    if spec is not None:
        setattr(layer, "weight_states", spec.states)  # noqa: B010
        setattr(layer, "weight_bits", bits_for(spec.states))  # noqa: B010
    setattr(layer, "act_bits", None if levels is None else bits_for(levels))  # noqa: B010


def _activation(states: int, scale: float, surrogate: Surrogate, training: bool) -> nn.Module:
    act: nn.Module = (
        S2NN(v_th=0.5 / scale, surrogate=surrogate)
        if states == 2
        else QuantAct(states, scale, surrogate)
    )
    return act.train(training)


def quantize(
    net: Sequential,
    weight_states: int | None = None,
    act_states: int | None = None,
    *,
    weight_scale: float | None = None,
    weight_rescale: bool = True,
    act_scale: float = 1.0,
    act_surrogate: str | Surrogate = "triangle",
    input_bits: int | None = None,
) -> Sequential:
    """A copy of ``net`` with weights quantised to ``weight_states`` levels and ReLU
    activations to ``act_states`` levels (either may be ``None``: left in float).

    weight_scale: ``k`` (default ``N/4``); weight_rescale: multiply ``W_q`` by the latent
    per-channel std; act_scale: ``k_a``; act_surrogate: surrogate name or instance for the
    activation steps; input_bits: precision of the network input, recorded as the first
    synaptic layer's ``act_bits`` (default: unset). Per-layer meaning and provenance: see
    the module docstring. ``net`` is not modified.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"quantize expects a neurosim Sequential, got {type(net).__name__}")
    if weight_states is None and act_states is None:
        raise ValueError("quantize needs weight_states and/or act_states (both are None)")
    wspec = None
    if weight_states is not None:
        wspec = WeightQuantizer(weight_states, weight_scale, weight_rescale)
    n_act = None if act_states is None else check_states(act_states, "act_states")
    k_act = _check_scale(act_scale, "act_scale")
    surrogate = get(act_surrogate)
    levels: int | None = None
    if input_bits is not None:
        if isinstance(input_bits, bool) or not isinstance(input_bits, int) or input_bits < 1:
            raise ValueError(f"input_bits={input_bits!r} is not valid; expected an int >= 1")
        levels = 2**input_bits

    out = copy.deepcopy(net)
    for i, layer in enumerate(out.layers):
        where = f"layer {i} ({type(layer).__name__})"
        if isinstance(layer, QuantAct):
            raise ValueError(f"{where} is already quantised; quantise the float network once")
        if parametrize.is_parametrized(layer):
            pdict: Any = getattr(layer, "parametrizations")  # noqa: B009 (untyped)
            have = ", ".join(type(p).__name__ for ps in pdict.values() for p in ps)
            raise ValueError(
                f"{where} already has a weight parametrization ({have}): it is already "
                "quantised, or spectrally normalised; quantise the plain float network"
            )
        if type(layer) in (Linear, Conv2d):
            _quantise_weights(layer, wspec, where)
            _set_bits(layer, wspec, levels)
            levels = None
        elif isinstance(layer, Lifted):
            _lifted(layer, wspec, levels, where)
            levels = None  # a Linear/Conv2d sums, a norm or other module: float values
        elif isinstance(layer, Neuron):
            _neuron(layer, wspec, where)
            levels = 2
        elif type(layer) is nn.ReLU:
            if n_act is not None:
                out.layers[i] = _activation(n_act, k_act, surrogate, layer.training)
            levels = n_act
        elif type(layer) in (MaxPool2d, Flatten, Dropout, nn.Identity):
            pass
        elif type(layer) is AvgPool2d:
            if levels is not None:
                area = math.prod(nn.modules.utils._pair(layer.kernel_size))
                levels = (levels - 1) * area + 1
        elif isinstance(layer, ELEMENTWISE):
            if n_act is not None:
                raise TypeError(
                    f"{where}: cannot quantise activation {type(layer).__name__}; MaQD "
                    "activations are ReLU-like levels 0…N−1 (use nn.ReLU, or act_states=None)"
                )
            levels = None
        else:
            raise TypeError(f"{where}: quantize has no rule for {type(layer).__name__}")
    return out


def _lifted(layer: Lifted, wspec: WeightQuantizer | None, levels: int | None, where: str) -> None:
    inner = layer.module
    if type(inner) in (nn.Linear, nn.Conv2d):
        _quantise_weights(inner, wspec, where)
        _set_bits(layer, wspec, levels)
        return
    if isinstance(inner, _NORM_TYPES) or not any(True for _ in inner.parameters()):
        return
    raise TypeError(
        f"{where}: cannot quantise Lifted({type(inner).__name__}), a module with parameters "
        "quantize has no rule for (supported inside Lifted: nn.Linear, nn.Conv2d, norms)"
    )


def _neuron(layer: Neuron, wspec: WeightQuantizer | None, where: str) -> None:
    if isinstance(layer, RecurrentLIF):
        _quantise_weights(layer.recurrent, wspec, where)
        _set_bits(layer, wspec, 2)
        return
    if any(isinstance(m, nn.Linear | nn.Conv2d) for m in layer.modules()):
        raise TypeError(
            f"{where}: quantize has no rule for the synapses inside {type(layer).__name__}"
        )
