"""Stable adversarial training: spectral normalisation, gradient penalties, gradient reversal.

methods.md §6 (Furuya et al., TMLR 2024) reads its convergence conditions as spectral
normalisation and gradient penalties; the equations here are the standard ones (a
reconstruction, **R** in methods.md), not taken from the paper:

* ``spectral_norm(net)``: every weight ``W`` becomes ``W / σ(W)``, ``σ`` the top singular
  value estimated by power iteration (Miyato et al. 2018; torch's
  ``torch.nn.utils.parametrizations.spectral_norm``). A conv weight
  ``[C_out, C_in, kh, kw]`` is read as the matrix ``[C_out, C_in·kh·kw]`` (transposed convs:
  ``[C_in, C_out·kh·kw]``), torch's convention; this is *not* the operator norm of the
  convolution, which can be larger.
* ``gradient_penalty``: ``λ·E[(‖∇D(x̂)‖ − 1)²]`` on ``x̂ = ε·real + (1 − ε)·fake``,
  ``ε ~ U[0, 1]`` per sample (WGAN-GP, Gulrajani et al. 2017).
* ``r1_penalty``: ``(γ/2)·E[‖∇D(x_real)‖²]`` (zero-centred R1, Mescheder et al. 2018).
* ``GradientReversal(λ)``: identity forward, ``−λ·grad`` backward (DANN, Ganin et al. 2016).

Spiking critics and generators: a time-first network maps ``[T, B, ...] → [T, B, ...]``;
``OverTime(net, encoder)`` turns it into a per-sample function ``[B, ...] → [B, ...]``
(encode, run, average the output over T), which is what the penalties and the trainers in
``neurosim.training.adversarial`` call. Penalties differentiate twice (``create_graph``):
neuron layers must run ``backend="loop"`` (the fused LIF kernel is once-differentiable), and
the encoder must pass gradients to its input (``Direct`` does, ``Poisson`` sampling does
not). The gradient penalised through spiking layers is the surrogate gradient.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal, cast

import torch
from torch import Tensor, nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _torch_spectral_norm

from neurosim.core.encoding import Encoder

__all__ = [
    "GradientReversal",
    "OverTime",
    "grad_reverse",
    "gradient_penalty",
    "r1_penalty",
    "remove_spectral_norm",
    "spectral_norm",
    "spectral_norm_",
    "top_singular_values",
]

_WEIGHTED = (nn.Linear, _ConvNd)
"""Modules whose ``weight`` is normalised (neurosim's Linear/Conv2d subclass these)."""


def _weighted(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name or "<net>", m) for name, m in net.named_modules() if isinstance(m, _WEIGHTED)]


def _check_net(net: Any, where: str) -> None:
    if not isinstance(net, nn.Module):
        raise TypeError(f"{where}: net must be a torch.nn.Module, got {type(net).__name__}")


def spectral_norm_(net: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """In place: normalise every Linear/Conv weight of ``net`` by its top singular value.

    Every ``nn.Linear`` and ``nn.Conv*d``/``ConvTranspose*d`` anywhere in ``net`` is covered:
    neurosim's ``Linear``/``Conv2d``, torch modules inside ``Lifted``, and the recurrent
    synapses of ``RecurrentLIF``. Each gets torch's spectral-norm parametrization: reading
    ``layer.weight`` gives ``W / σ``. In training mode every read runs
    ``n_power_iterations`` steps of power iteration (15 at registration; a neurosim layer's
    forward reads it twice: event-path check and product; the energy counter reads it too);
    in eval mode the stored vectors are reused. The state dict then holds
    ``parametrizations.weight.original`` and the vectors ``_u``/``_v``; torch refuses to
    pickle the whole module, so save the state dict, or ``remove_spectral_norm`` first.
    Returns ``net``.
    """
    _check_net(net, "spectral_norm")
    if isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations, int):
        raise TypeError(
            f"spectral_norm: n_power_iterations must be an int, got {n_power_iterations!r}"
        )
    if n_power_iterations < 1:
        raise ValueError(
            f"spectral_norm: n_power_iterations={n_power_iterations} is not valid; expected >= 1"
        )
    if not (isinstance(eps, int | float) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"spectral_norm: eps={eps!r} is not valid; expected a float > 0")
    targets = _weighted(net)
    if not targets:
        kinds = sorted({type(m).__name__ for m in net.modules()})
        raise ValueError(
            f"spectral_norm: {type(net).__name__} has no Linear or Conv weight to normalise "
            f"(module types: {', '.join(kinds)})"
        )
    for name, m in targets:
        if parametrize.is_parametrized(m, "weight"):
            plist: Any = getattr(m, "parametrizations")["weight"]  # noqa: B009 (untyped)
            have = ", ".join(type(p).__name__ for p in plist)
            raise ValueError(
                f"spectral_norm: layer {name} ({type(m).__name__}) already has a weight "
                f"parametrization ({have}): spectral norm applied twice, or a quantised "
                "network (the two do not stack)"
            )
        if isinstance(m.weight, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"spectral_norm: layer {name} ({type(m).__name__}) is lazy and not yet "
                "initialised; run one forward pass first"
            )
    for _, m in targets:
        _torch_spectral_norm(m, "weight", n_power_iterations=n_power_iterations, eps=eps)
    return net


def spectral_norm(net: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """A copy of ``net`` with every Linear/Conv weight spectrally normalised (see
    ``spectral_norm_``); ``net`` itself is not changed."""
    _check_net(net, "spectral_norm")
    return spectral_norm_(copy.deepcopy(net), n_power_iterations, eps)


def remove_spectral_norm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with plain weights equal to the current normalised ones ``W / σ``
    (σ from the stored power-iteration vectors); the copy pickles like any module.

    Not torch's ``remove_parametrizations``: on a deep copy it deletes the ``weight``
    property from the class that the copy shares with the original, breaking the original.
    """
    _check_net(net, "remove_spectral_norm")
    out = copy.deepcopy(net)
    found = [(n, m) for n, m in _weighted(out) if parametrize.is_parametrized(m, "weight")]
    if not found:
        raise ValueError(
            f"remove_spectral_norm: {type(net).__name__} has no spectrally normalised weight"
        )
    for name, m in found:
        plist = cast(nn.ModuleDict, m.parametrizations)
        if set(plist.keys()) != {"weight"}:
            raise ValueError(
                f"remove_spectral_norm: layer {name} has other parametrizations "
                f"({sorted(plist.keys())}); remove them first"
            )
    for _, m in found:
        was = m.training
        m.eval()  # reading the weight in training mode would run another power iteration
        with torch.no_grad():
            w = cast(Tensor, m.weight).detach().clone()
        original = cast(Tensor, cast(nn.ModuleDict, m.parametrizations)["weight"].original)
        del m._modules["parametrizations"]
        m.__class__ = type(m).__bases__[0]  # the class parametrize derived from
        m.register_parameter("weight", nn.Parameter(w, requires_grad=original.requires_grad))
        m.train(was)
    return out


def _matrix(m: nn.Module, w: Tensor) -> Tensor:
    if isinstance(m, _ConvNd) and m.transposed:
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


@torch.no_grad()
def top_singular_values(net: nn.Module) -> dict[str, float]:
    """Exact top singular value (``torch.linalg.svdvals``) of the weight every Linear/Conv
    layer of ``net`` uses now, by module name (conv: the reshaped matrix, as above).
    Reads without running a power-iteration step."""
    _check_net(net, "top_singular_values")
    values = {}
    for name, m in _weighted(net):
        was = m.training
        m.eval()
        try:
            w = cast(Tensor, m.weight)
        finally:
            m.train(was)
        values[name] = float(torch.linalg.svdvals(_matrix(m, w).double())[0])
    return values


# ---------------------------------------------------------------------------- penalties


def _check_weight(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{where}: {name}={value!r} is not valid; expected a finite value >= 0")
    return float(value)


def _check_batch(x: Any, field: str, batch_dim: int, where: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{where}: {field} must be a floating torch.Tensor, got {type(x)}")
    if not -x.dim() <= batch_dim < x.dim():
        raise ValueError(
            f"{where}: batch_dim={batch_dim} is out of range for {field} of shape {list(x.shape)}"
        )


def _check_twice_differentiable(critic: Any, where: str) -> None:
    if not isinstance(critic, nn.Module):
        return
    probe = torch.zeros(1)
    for name, m in critic.named_modules():
        use_fused = getattr(m, "_use_fused", None)
        if callable(use_fused) and use_fused(probe):
            raise ValueError(
                f"{where}: critic layer {name} ({type(m).__name__}) runs a fused kernel "
                "(compiled or torch), which cannot be differentiated twice; build it with "
                "backend='loop'"
            )


def _grad_norms(critic: Any, x: Tensor, batch_dim: int, where: str) -> Tensor:
    """‖∂D(x)/∂x_b‖ per sample ``b``, kept in the graph (``create_graph``): ``[B]``."""
    x = x.detach().requires_grad_(True)
    scores = critic(x)
    n = x.shape[batch_dim]
    if not isinstance(scores, Tensor) or scores.numel() != n:
        shape = list(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(
            f"{where}: the critic must return one score per sample ([{n}] or [{n}, 1]) for "
            f"input {list(x.shape)}, got {shape}; wrap a time-first network in OverTime"
        )
    (g,) = torch.autograd.grad(scores.sum(), x, create_graph=True, allow_unused=True)
    if g is None:  # the critic ignores its input
        return torch.zeros(n, dtype=x.dtype, device=x.device)
    g = g.movedim(batch_dim, 0).reshape(n, -1)
    return g.pow(2).sum(1).add(1e-30).sqrt()  # the tiny offset keeps ‖0‖ differentiable


def gradient_penalty(
    critic: Any,
    real: Tensor,
    fake: Tensor,
    lam: float = 10.0,
    *,
    target: float = 1.0,
    batch_dim: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP: ``lam · mean_b (‖∇_x D(x̂_b)‖₂ − target)²``, ``x̂ = ε·real + (1 − ε)·fake``.

    critic: callable ``[B, ...] → [B]`` or ``[B, 1]`` (scores; e.g. an ``OverTime`` network).
    real, fake: same shape, batch along ``batch_dim`` (1 for time-first ``[T, B, ...]``
    data read by a critic that reduces over T). ``ε ~ U[0, 1]``, one per sample, drawn from
    ``generator`` on the generator's device (a CPU generator works for CUDA inputs). Both
    inputs are detached: the penalty trains only the critic. ``target=0`` gives the
    zero-centred variant. Returns a scalar in the graph.
    """
    where = "gradient_penalty"
    lam = _check_weight("lam", lam, where)
    target = _check_weight("target", target, where)
    _check_batch(real, "real", batch_dim, where)
    _check_batch(fake, "fake", batch_dim, where)
    if real.shape != fake.shape:
        raise ValueError(
            f"{where}: real {list(real.shape)} and fake {list(fake.shape)} must have the same "
            "shape to be interpolated"
        )
    _check_twice_differentiable(critic, where)
    n = real.shape[batch_dim]
    shape = [1] * real.dim()
    shape[batch_dim] = n
    dev = real.device if generator is None else generator.device  # drawn where gen lives
    eps = torch.rand(n, generator=generator, dtype=real.dtype, device=dev)
    eps = eps.to(real.device).view(shape)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    norms = _grad_norms(critic, x_hat, batch_dim, where)
    return lam * (norms - target).pow(2).mean()


def r1_penalty(critic: Any, real: Tensor, gamma: float = 10.0, *, batch_dim: int = 0) -> Tensor:
    """Zero-centred R1: ``(gamma / 2) · mean_b ‖∇_x D(real_b)‖₂²`` (Mescheder et al. 2018).

    critic and ``batch_dim`` as in ``gradient_penalty``; ``real`` is detached."""
    where = "r1_penalty"
    gamma = _check_weight("gamma", gamma, where)
    _check_batch(real, "real", batch_dim, where)
    _check_twice_differentiable(critic, where)
    norms = _grad_norms(critic, real, batch_dim, where)
    return 0.5 * gamma * norms.pow(2).mean()


# ---------------------------------------------------------------------------- reversal


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, lam: float) -> Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.lam * grad, None


def grad_reverse(x: Tensor, lam: float = 1.0) -> Tensor:
    """Identity in the forward pass; multiplies the gradient by ``−lam`` going back."""
    lam = _check_weight("lam", lam, "grad_reverse")
    return cast(Tensor, _Reverse.apply(x, lam))


class GradientReversal(nn.Module):
    """Gradient-reversal layer (any shape in, same out). ``lam`` may be changed between
    steps (e.g. the DANN schedule); it must stay finite and ≥ 0."""

    def __init__(self, lam: float = 1.0) -> None:
        super().__init__()
        self.lam = lam

    @property
    def lam(self) -> float:
        return self._lam

    @lam.setter
    def lam(self, value: float) -> None:
        self._lam = _check_weight("lam", value, "GradientReversal")

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, _Reverse.apply(x, self._lam))

    def extra_repr(self) -> str:
        return f"lam={self._lam:g}"


# ---------------------------------------------------------------------------- adapter

Readout = Literal["mean", "sum", "last"]


class OverTime(nn.Module):
    """A time-first network as a per-sample function: ``[B, ...] → [B, ...]``.

    ``x [B, ...]`` is encoded to ``[T, B, ...]`` (``encoder``; ``None``: the input is
    already time-first and only the readout applies), run through ``net``, and the output
    ``[T, B, ...]`` is reduced over T: ``"mean"`` (firing rate or mean membrane/logit),
    ``"sum"`` (spike count) or ``"last"``. A critic ends in one unit (``[T, B, 1] → [B, 1]``);
    a generator in the sample's size (``z [B, d] → [B, ...]``). For the penalties use a
    differentiable encoder (``Direct``) and ``backend="loop"`` neurons.
    """

    def __init__(self, net: nn.Module, encoder: Encoder | None, readout: Readout = "mean") -> None:
        super().__init__()
        _check_net(net, "OverTime")
        if encoder is not None and not isinstance(encoder, Encoder):
            raise TypeError(f"OverTime: encoder must be an Encoder or None, got {encoder!r}")
        if readout not in ("mean", "sum", "last"):
            raise ValueError(
                f"OverTime: readout={readout!r} is not valid; expected 'mean', 'sum' or 'last'"
            )
        self.net = net
        self.encoder = encoder
        self.readout = readout

    def forward(self, x: Tensor) -> Tensor:
        seq = self.encoder(x) if self.encoder is not None else x
        y = self.net(seq)
        if self.readout == "mean":
            return y.mean(0)
        if self.readout == "sum":
            return y.sum(0)
        return y[-1]

    def extra_repr(self) -> str:
        return f"encoder={self.encoder}, readout={self.readout!r}"
