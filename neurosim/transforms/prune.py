"""Unit pruning of hidden layers: spectral pruning (Furuya et al., AISTATS 2022) and baselines.

A prunable layer holds ``n`` hidden units between two ``Linear`` layers::

    Linear W_x [n, F_in] → units (RecurrentLIF / IRNN with W_h [n, n], or LIF / IF / S2NN /
    an elementwise activation) → Linear W_o [F_out, n]

Pruning keeps units ``J`` (``|J| = k``) and returns a new, smaller network; the input
network is never changed. Weights are torch's ``[out, in]``.

Spectral pruning (methods.md §4). **V** (from the paper's abstract): it uses the
time-averaged covariance of hidden states, keeps a subset J of units with a
reconstruction matrix, and bounds generalisation by the degrees of freedom. **R** (our
reconstruction from standard practice; the paper's equations may differ):

* ``Σ = (1/nT) Σ_{i,t} h_t hᵀ_t`` over the n samples and T steps of ``data`` (``h``: the
  layer's output — spikes, or an IRNN's hidden state — or a spiking layer's membrane);
* ``A_J = Σ_{F,J} (Σ_{J,J} + λI)⁻¹``  ``[n, k]`` (a pseudo-inverse, so λ = 0 works even
  when Σ is singular), the ridge reconstruction ``h_F ≈ A_J h_J``;
* ``L_A(J) = Tr[Σ − Σ_{F,J}(Σ_{J,J} + λI)⁻¹Σ_{J,F}]`` and ``L_B(J)`` the same inside
  ``W_o (·) W_oᵀ``; J is chosen greedily, one unit at a time, minimising
  ``θ L_A + (1 − θ) L_B`` (exact rank-one Schur updates of the residual covariance);
* ``W_h' = (W_h)_{J,:} A_J``, ``W_x' = (W_x)_{J,:}`` (and its bias), ``W_o' = W_o A_J``;
  per-unit neuron parameters (β, v_th, the recurrent bias) are restricted to J;
* degrees of freedom ``N(λ) = Tr[Σ(Σ + λI)⁻¹]``.

With ``state="membrane"`` the reconstruction learnt on membranes is applied to the
weights that carry spikes — a heuristic; ``"output"`` reconstructs exactly the signal the
weights act on. The baselines drop units without reconstruction: ``magnitude_prune``
keeps the units with the largest L2 norm of outgoing weights (columns of ``W_h`` and
``W_o``), ``random_prune`` a uniform random subset.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

import torch
from torch import Tensor, nn

from neurosim.core.layers import ELEMENTWISE
from neurosim.core.network import Sequential, check_sequence
from neurosim.core.neuron_layers import Neuron, RecurrentLIF
from neurosim.core.rnn import IRNN

__all__ = [
    "degrees_of_freedom",
    "hidden_covariance",
    "magnitude_prune",
    "prune_units",
    "random_prune",
    "reconstruction_matrix",
    "select_units",
    "spectral_loss",
    "spectral_prune",
]

State = Literal["output", "spikes", "membrane"]
_STATES = ("output", "spikes", "membrane")


@dataclass(frozen=True)
class _Site:
    """The three layers pruning rewrites, by index into the network."""

    pre: int  # Linear W_x
    unit: int  # the hidden units
    post: int  # Linear W_o
    n: int
    recurrent: bool


def _site(net: Sequential, layer: int) -> _Site:
    if not isinstance(net, Sequential):
        raise TypeError(f"pruning expects a neurosim Sequential, got {type(net).__name__}")
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"layer must be an int index, got {type(layer).__name__}")
    if not 0 <= layer < len(net):
        raise ValueError(
            f"layer index {layer} is out of range for a network of {len(net)} layers "
            f"(expected 0..{len(net) - 1})"
        )
    mod = net[layer]
    name = f"layer {layer} ({type(mod).__name__})"
    recurrent = isinstance(mod, RecurrentLIF | IRNN)
    elementwise = isinstance(mod, ELEMENTWISE) and not isinstance(mod, nn.Identity)
    if not (recurrent or isinstance(mod, Neuron) or elementwise):
        raise TypeError(
            f"{name} has no hidden units to prune; expected RecurrentLIF, IRNN, a neuron "
            "layer (LIF, IF, S2NN) or an elementwise activation"
        )
    pre = net[layer - 1] if layer > 0 else None
    post = net[layer + 1] if layer + 1 < len(net) else None
    if not isinstance(pre, nn.Linear) or not isinstance(post, nn.Linear):
        raise ValueError(
            f"{name}: pruning needs a Linear just before it (W_x) and just after it (W_o); "
            f"got {type(pre).__name__} before and {type(post).__name__} after"
        )
    n = pre.out_features
    own = getattr(mod, "n", n) if recurrent else n
    if post.in_features != n or own != n:
        raise ValueError(
            f"{name}: unit counts disagree (Linear before gives {n}, the layer has {own}, "
            f"Linear after takes {post.in_features})"
        )
    return _Site(layer - 1, layer, layer + 1, n, recurrent)


def _n_keep(keep: int | float, n: int, layer: int) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int | float):
        raise TypeError(f"keep must be an int (units) or a float fraction, got {keep!r}")
    if isinstance(keep, float):
        if not 0.0 < keep <= 1.0:
            raise ValueError(f"keep={keep!r} for layer {layer}: a fraction must be in (0, 1]")
        return max(1, round(keep * n))
    if not 1 <= keep <= n:
        raise ValueError(f"keep={keep} units is not valid for layer {layer}: expected 1..{n}")
    return keep


def _check_sigma(sigma: Tensor) -> Tensor:
    if not isinstance(sigma, Tensor) or sigma.dim() != 2 or sigma.shape[0] != sigma.shape[1]:
        shape = list(sigma.shape) if isinstance(sigma, Tensor) else type(sigma).__name__
        raise ValueError(f"sigma must be a square matrix [n, n], got {shape}")
    return sigma.detach().to(torch.float64)


def _check_lam(lam: float) -> float:
    if isinstance(lam, bool) or not isinstance(lam, int | float) or not lam >= 0:
        raise ValueError(f"lam={lam!r} is not valid; expected a number >= 0")
    return float(lam)


def hidden_covariance(
    net: Sequential, layer: int, data: Tensor | Iterable[Tensor], state: State = "output"
) -> Tensor:
    """``Σ = (1/nT) Σ_{i,t} h_t h_tᵀ`` ``[n, n]`` (float64) of layer ``layer`` over ``data``.

    ``data``: one input ``[T, B, ...]`` or an iterable of them. ``state``: ``"output"``
    (the layer's output: spikes of a spiking layer, ``h`` of an IRNN; ``"spikes"`` is the
    same for spiking layers only) or ``"membrane"`` (spiking layers only).
    """
    site = _site(net, layer)
    mod = net[layer]
    if state not in _STATES:
        raise ValueError(f"state={state!r} is not valid; expected one of {_STATES}")
    spiking = isinstance(mod, Neuron)
    if state in ("spikes", "membrane") and not spiking:
        raise ValueError(f"state={state!r} needs a spiking layer; layer {layer} is {mod}")
    batches = [data] if isinstance(data, Tensor) else list(data)
    if not batches:
        raise ValueError("data is empty; expected at least one input [T, B, ...]")
    sigma = torch.zeros(site.n, site.n, dtype=torch.float64)
    count = 0
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for i, x in enumerate(batches):
                check_sequence(x, f"data[{i}]")
                run = net.run(x, record_membrane=state == "membrane")
                h = run.membranes[layer] if state == "membrane" else run.activity[layer].output
                h = h.reshape(-1, site.n).to(torch.float64).cpu()
                sigma += h.T @ h
                count += h.shape[0]
    finally:
        net.train(was_training)
    return sigma / count


def degrees_of_freedom(sigma: Tensor, lam: float) -> float:
    """``N(λ) = Tr[Σ(Σ + λI)⁻¹] = Σ_i μ_i / (μ_i + λ)`` over the eigenvalues μ of Σ."""
    s = _check_sigma(sigma)
    lam = _check_lam(lam)
    if lam == 0:
        raise ValueError("degrees_of_freedom needs lam > 0")
    mu = torch.linalg.eigvalsh((s + s.T) / 2).clamp(min=0.0)
    return float((mu / (mu + lam)).sum())


def _q(n: int, theta: float, w_out: Tensor | None) -> Tensor:
    """``Q = θI + (1 − θ)W_oᵀW_o``, so that ``θL_A + (1 − θ)L_B = Tr[Q · residual]``."""
    if isinstance(theta, bool) or not isinstance(theta, int | float) or not 0 <= theta <= 1:
        raise ValueError(f"theta={theta!r} is not valid; expected 0 <= theta <= 1")
    q = float(theta) * torch.eye(n, dtype=torch.float64)
    if theta < 1:
        if w_out is None or w_out.dim() != 2 or w_out.shape[1] != n:
            shape = None if w_out is None else list(w_out.shape)
            raise ValueError(f"theta < 1 needs output weights w_out [F_out, {n}], got {shape}")
        w = w_out.detach().to(torch.float64).cpu()
        q = q + (1.0 - float(theta)) * (w.T @ w)
    return q


def _units(units: Tensor | list[int], n: int) -> Tensor:
    j = torch.as_tensor(units)
    if j.dtype == torch.bool or j.is_floating_point() or j.is_complex():
        raise TypeError(f"units must be integer unit indices, got dtype {j.dtype}")
    j = j.to(torch.long).flatten()
    if j.numel() == 0 or (j < 0).any() or (j >= n).any() or j.unique().numel() != j.numel():
        raise ValueError(f"units {j.tolist()} must be distinct indices in 0..{n - 1}")
    return j


def spectral_loss(
    sigma: Tensor,
    units: Tensor | list[int],
    lam: float,
    theta: float = 1.0,
    w_out: Tensor | None = None,
) -> float:
    """``θ L_A(J) + (1 − θ) L_B(J)`` computed directly (pseudo-inverse of Σ_JJ + λI)."""
    s = _check_sigma(sigma)
    j = _units(units, s.shape[0])
    q = _q(s.shape[0], theta, w_out)
    eye = torch.eye(len(j), dtype=torch.float64)
    inv = torch.linalg.pinv(s[j][:, j] + _check_lam(lam) * eye, hermitian=True)
    resid = s - s[:, j] @ inv @ s[j, :]
    return float(torch.trace(q @ resid))


def select_units(
    sigma: Tensor, keep: int, lam: float, theta: float = 1.0, w_out: Tensor | None = None
) -> Tensor:
    """Greedy J (long ``[keep]``, in the order picked) minimising ``θL_A + (1 − θ)L_B``.

    Adding unit j to J lowers the loss by ``(R Q R)_jj / (R_jj + λ)`` where ``R`` is the
    residual ``Σ − Σ_FJ(Σ_JJ + λI)⁻¹Σ_JF``, updated by ``R ← R − R_{:,j}R_{j,:}/(R_jj + λ)``.
    """
    r = _check_sigma(sigma).clone()
    n = r.shape[0]
    lam = _check_lam(lam)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= n:
        raise ValueError(f"keep={keep!r} is not valid; expected 1..{n}")
    q = _q(n, theta, w_out)
    tol = 1e-12 * max(float(r.diagonal().abs().max()), 1e-300)
    free = torch.ones(n, dtype=torch.bool)
    chosen: list[int] = []
    for _ in range(keep):
        den = r.diagonal() + lam
        num = ((r @ q) * r).sum(1)
        gain = torch.where(den > tol, num / den.clamp(min=tol), torch.zeros_like(den))
        gain[~free] = -torch.inf
        j = int(torch.argmax(gain))
        chosen.append(j)
        free[j] = False
        if den[j] > tol:
            r = r - torch.outer(r[:, j], r[j, :]) / den[j]
            r = (r + r.T) / 2
    return torch.tensor(chosen, dtype=torch.long)


def reconstruction_matrix(sigma: Tensor, units: Tensor | list[int], lam: float) -> Tensor:
    """``A_J = Σ_{F,J}(Σ_{J,J} + λI)⁺`` ``[n, k]`` (float64): ``h_F ≈ A_J h_J``."""
    s = _check_sigma(sigma)
    j = _units(units, s.shape[0])
    eye = torch.eye(len(j), dtype=torch.float64)
    inv = torch.linalg.pinv(s[j][:, j] + _check_lam(lam) * eye, hermitian=True)
    return s[:, j] @ inv


def _set(linear: nn.Linear, weight: Tensor, bias: Tensor | None) -> None:
    w = linear.weight
    new = weight.to(device=w.device, dtype=w.dtype, copy=True)
    linear.weight = nn.Parameter(new, requires_grad=w.requires_grad)
    if linear.bias is not None and bias is not None:
        b = linear.bias
        new = bias.to(device=b.device, dtype=b.dtype, copy=True)
        linear.bias = nn.Parameter(new, requires_grad=b.requires_grad)
    linear.out_features, linear.in_features = weight.shape


def _restrict_unit_tensors(mod: nn.Module, j: Tensor, n: int, layer: int) -> None:
    """Per-unit parameters and buffers (last dimension n) of the unit layer, restricted to J;
    scalars are shared by all units and stay."""
    tensors = list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
    for name, t in tensors:
        if t.numel() == 1:
            continue
        if t.shape[-1] != n:
            raise ValueError(
                f"layer {layer}: {name} has shape {list(t.shape)}; cannot restrict it to units "
                f"(expected a scalar or last dimension {n})"
            )
        part = t.detach()[..., j.to(t.device)].clone()
        if isinstance(t, nn.Parameter):
            setattr(mod, name, nn.Parameter(part, requires_grad=t.requires_grad))
        else:
            mod.register_buffer(name, part)


def prune_units(
    net: Sequential, layer: int, units: Tensor | list[int], reconstruction: Tensor | None = None
) -> Sequential:
    """A copy of ``net`` keeping units ``units`` of layer ``layer`` (in ascending order).

    Without ``reconstruction`` the dropped units are simply removed; with ``A [n, k]``
    (columns in ascending unit order) ``W_h' = W_h[J, :] A`` and ``W_o' = W_o A``.
    """
    site = _site(net, layer)
    j = _units(units, site.n).sort().values
    if reconstruction is not None and not isinstance(reconstruction, Tensor):
        raise TypeError(f"reconstruction must be a Tensor, got {type(reconstruction).__name__}")
    if reconstruction is not None and reconstruction.shape != (site.n, len(j)):
        raise ValueError(
            f"reconstruction has shape {list(reconstruction.shape)}; expected [{site.n}, {len(j)}]"
        )
    out = copy.deepcopy(net)
    pre, post = cast(nn.Linear, out[site.pre]), cast(nn.Linear, out[site.post])
    mod = out[site.unit]
    jw = j.to(pre.weight.device)
    with torch.no_grad():
        _set(pre, pre.weight[jw], None if pre.bias is None else pre.bias[jw])
        a = None if reconstruction is None else reconstruction.detach().to(torch.float64).cpu()
        w_o = post.weight.detach().to(torch.float64).cpu()
        _set(post, w_o[:, j] if a is None else w_o @ a, post.bias)
        if site.recurrent:
            unit = cast(RecurrentLIF | IRNN, mod)
            rec = unit.recurrent
            w_h = rec.weight.detach().to(torch.float64).cpu()[j]
            b_h = None if rec.bias is None else rec.bias[j.to(rec.bias.device)]
            _set(rec, w_h[:, j] if a is None else w_h @ a, b_h)
            unit.n = len(j)
        _restrict_unit_tensors(mod, j, site.n, layer)
    return out


def spectral_prune(
    net: Sequential,
    layer: int,
    *,
    keep: int | float,
    data: Tensor | Iterable[Tensor],
    lam: float | None = None,
    theta: float = 0.5,
    state: State = "output",
) -> Sequential:
    """Spectral pruning of layer ``layer`` to ``keep`` units (an int, or a fraction of n).

    ``lam``: ridge λ (``None``: ``1e-3 · Tr[Σ]/n``); ``theta``: weight of the input-side
    loss L_A against the output-side L_B; ``state``: see ``hidden_covariance``.
    """
    site = _site(net, layer)
    k = _n_keep(keep, site.n, layer)
    sigma = hidden_covariance(net, layer, data, state)
    lam_v = 1e-3 * float(torch.trace(sigma)) / site.n if lam is None else _check_lam(lam)
    post = cast(nn.Linear, net[site.post])
    j = select_units(sigma, k, lam_v, theta, post.weight).sort().values
    return prune_units(net, layer, j, reconstruction_matrix(sigma, j, lam_v))


def magnitude_prune(net: Sequential, layer: int, *, keep: int | float) -> Sequential:
    """Keep the units with the largest L2 norm of outgoing weights (``W_h``, ``W_o`` columns)."""
    site = _site(net, layer)
    k = _n_keep(keep, site.n, layer)
    post = cast(nn.Linear, net[site.post])
    sq = post.weight.detach().to(torch.float64).pow(2).sum(0).cpu()
    if site.recurrent:
        rec = cast(nn.Linear, net[layer].recurrent)
        sq = sq + rec.weight.detach().to(torch.float64).pow(2).sum(0).cpu()
    return prune_units(net, layer, torch.topk(sq, k).indices)


def random_prune(net: Sequential, layer: int, *, keep: int | float, seed: int = 0) -> Sequential:
    """Keep a uniformly random subset of ``keep`` units (``torch.Generator`` seeded by ``seed``)."""
    site = _site(net, layer)
    k = _n_keep(keep, site.n, layer)
    g = torch.Generator().manual_seed(seed)
    return prune_units(net, layer, torch.randperm(site.n, generator=g)[:k])
