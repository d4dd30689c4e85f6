"""Neuron models: frozen parameters, explicit state, pure step functions.

Leaky integrate-and-fire with delta (voltage-jump) synapses::

    τ_mem dv/dt = −v + τ_mem · Σ_k x_k δ(t − t_k),    spike when v > v_th

integrated exactly over a step of length dt: with ``β = exp(−dt/τ_mem)``

    h[t] = β · r(v[t−1], s[t−1]) + x[t]        (r: the reset of the previous spike)
    s[t] = H(h[t] − v_th)

``x[t]`` is the voltage jump delivered during step t (the synaptic layer's output), so a
neuron fed a constant ``x`` from rest follows ``v[t] = x (1 − β^(t+1)) / (1 − β)`` and a
neuron with no input decays as ``v0 · exp(−t·dt/τ_mem)`` — the closed forms the tests use.
This is the discretisation of snnTorch's ``Leaky``, Loihi's CUBA neuron with instantaneous
current decay, and Brian2's ``on_pre: v += w`` with exact exponential integration.

State is ``(v, s)``: the membrane compared with the threshold at the last step (before that
step's reset) and the spikes it emitted. The reset of those spikes is applied at the start
of the next step, which makes both timing conventions one code path:

* ``reset_timing="immediate"`` (neurosim's default, as SpikingJelly, Norse, Brian2): the
  reset happens right after the spike and then decays with the membrane,
  ``r = v − s·v_th`` (subtract) or ``r = v + s·(v_reset − v)`` (zero).
* ``reset_timing="delayed"`` (snnTorch's default ``reset_delay=True``): the subtraction is
  applied one step late and undecayed, ``h = β·v + x − s·v_th``. For reset to zero the two
  timings coincide.

``IF`` is LIF with ``β = 1``. ``RecurrentLIF`` adds ``W_rec · s[t−1]`` to the input.
``S2NN`` is the single-step neuron of Suetake et al. (arXiv 2201.10879): ``s = H(x − v_th)``
with no memory across steps, trained through the paper's two-branch surrogate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor

from neurosim.core.surrogate import Surrogate, spike

__all__ = [
    "RESET_MODES",
    "RESET_TIMINGS",
    "LIFParams",
    "LIFState",
    "ResetMode",
    "ResetTiming",
    "lif_step",
    "recurrent_lif_step",
    "s2nn_step",
]

ResetMode = Literal["subtract", "zero", "none"]
ResetTiming = Literal["immediate", "delayed"]
RESET_MODES: tuple[str, ...] = get_args(ResetMode)
RESET_TIMINGS: tuple[str, ...] = get_args(ResetTiming)


def check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``field`` when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{field}={value!r} is not valid; expected one of {', '.join(allowed)}")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of one LIF step. Tensors broadcast against the feature dims of ``x``.

    beta: decay per step, ``exp(−dt/τ_mem)`` in [0, 1] (1 gives IF).
    v_th: firing threshold (volts, or any unit consistent with ``x``).
    v_reset: potential after a spike when ``reset="zero"``.
    """

    beta: Tensor | float
    v_th: Tensor | float
    v_reset: float = 0.0
    reset: ResetMode = "subtract"
    reset_timing: ResetTiming = "immediate"
    detach_reset: bool = False

    def __post_init__(self) -> None:
        check_choice("reset", self.reset, RESET_MODES)
        check_choice("reset_timing", self.reset_timing, RESET_TIMINGS)


class LIFState(NamedTuple):
    """State of a LIF/IF/recurrent LIF layer; both ``[B, ...]`` like one step of input.

    v: membrane compared with the threshold at the last step (before its reset).
    s: spikes emitted at the last step (0/1).
    """

    v: Tensor
    s: Tensor


def _integrate(x: Tensor, state: LIFState, p: LIFParams) -> Tensor:
    v, s = state
    if p.detach_reset:
        s = s.detach()
    if p.reset == "none":
        return p.beta * v + x
    if p.reset == "zero":
        return p.beta * (v + s * (p.v_reset - v)) + x
    if p.reset_timing == "delayed":
        return p.beta * v + x - s * p.v_th
    return p.beta * (v - s * p.v_th) + x


def lif_step(
    x: Tensor, state: LIFState, p: LIFParams, surrogate: Surrogate, smooth: bool = False
) -> tuple[Tensor, LIFState]:
    """One LIF step. ``x`` and the state tensors are ``[B, ...]``; returns ``(s, new_state)``.
    ``smooth``: emit the surrogate's smooth step instead of the spike (see ``relaxed``)."""
    h = _integrate(x, state, p)
    s = spike(h - p.v_th, surrogate, smooth)
    return s, LIFState(h, s)


def recurrent_lif_step(
    x: Tensor,
    state: LIFState,
    p: LIFParams,
    surrogate: Surrogate,
    w_rec: Tensor,
    b_rec: Tensor | None = None,
    smooth: bool = False,
) -> tuple[Tensor, LIFState]:
    """LIF step with recurrent input ``s[t−1] @ w_rec.T (+ b_rec)``; ``x`` is ``[B, N]``."""
    rec = torch.nn.functional.linear(state.s, w_rec, b_rec)
    return lif_step(x + rec, state, p, surrogate, smooth)


def s2nn_step(
    x: Tensor, v_th: Tensor | float, surrogate: Surrogate, smooth: bool = False
) -> Tensor:
    """Single-step S2NN neuron: ``H(x − v_th)``, no state."""
    return spike(x - v_th, surrogate, smooth)
