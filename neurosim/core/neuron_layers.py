"""Multi-step neuron modules: thin owners of the time loop over the pure step functions.

``forward(x, state=None) -> (spikes, state)`` with ``x`` and ``spikes`` of shape
``[T, B, ...]``; ``state`` is the neuron's state after the last step (``None`` for the
stateless S2NN neuron). Passing the returned state into the next call continues the run;
passing ``None`` starts from rest. Nothing is kept between calls.
``trace(x, state)`` also returns the membrane ``[T, B, ...]`` compared with the threshold.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal, Self, get_args

import torch
from torch import Tensor, nn

from neurosim.core.kernels import lif_fused
from neurosim.core.layers import ShapeError
from neurosim.core.neurons import (
    RESET_MODES,
    RESET_TIMINGS,
    LIFParams,
    LIFState,
    ResetMode,
    ResetTiming,
    check_choice,
    lif_step,
    recurrent_lif_step,
    s2nn_step,
)
from neurosim.core.surrogate import Surrogate, get

__all__ = ["BACKENDS", "IF", "LIF", "S2NN", "Backend", "Neuron", "RecurrentLIF"]

Number = float | int
ParamValue = Number | Tensor
Backend = Literal["auto", "loop", "fused", "compiled"]
#: ``"loop"``: the reference step loop (one autograd node per operation and step);
#: ``"fused"``: ``neurosim.core.kernels.lif_fused``, the whole run in one node with a
#: hand-written BPTT in torch operations (same spikes and states, gradients equal to
#: rounding; any device);
#: ``"compiled"``: the same node with numba-compiled CPU loops (``kernels_cpu``; an error
#: names what it cannot run);
#: ``"auto"``: ``"compiled"`` where it runs, else ``"fused"`` for floating-point input, else
#: the loop.
BACKENDS: tuple[str, ...] = get_args(Backend)


def _as_tensor(field: str, value: ParamValue) -> Tensor:
    t = torch.as_tensor(value, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{field}={value!r} is not valid; expected finite numbers")
    return t


def _store(module: nn.Module, name: str, value: Tensor, learn: bool) -> None:
    value = value.to(torch.get_default_dtype())
    if learn:
        module.register_parameter(name, nn.Parameter(value))
    else:
        module.register_buffer(name, value)


def _check_input(neuron: nn.Module, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{neuron} expects a tensor [T, B, ...], got {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ShapeError(
            f"{neuron} expects input [T, B, ...] with T >= 1, got shape {list(x.shape)}"
        )


class Neuron(nn.Module, ABC):
    """Base of all spiking neuron modules (stateful or single-step)."""

    stateful: ClassVar[bool] = True
    #: emit ``surrogate.smooth(v − v_th)`` instead of spikes (set by ``relaxed``, for checks)
    smooth_forward: bool = False

    @abstractmethod
    def trace(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any, Tensor]:
        """Run over ``x [T, B, ...]``; return ``(spikes, final_state, membrane)``."""

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        spikes, state, _ = self.trace(x, state)
        return spikes, state


class _LIFBase(Neuron):
    """Shared time loop of LIF, IF and recurrent LIF."""

    beta: Tensor  # decay per step (buffer, or parameter when learn_beta)
    v_th: Tensor  # threshold (buffer, or parameter when learn_threshold)

    def __init__(
        self,
        beta: Tensor,
        v_th: ParamValue,
        v_reset: float,
        reset: ResetMode,
        reset_timing: ResetTiming,
        detach_reset: bool,
        surrogate: str | Surrogate,
        learn_beta: bool,
        learn_threshold: bool,
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        check_choice("reset", reset, RESET_MODES)
        check_choice("reset_timing", reset_timing, RESET_TIMINGS)
        check_choice("backend", backend, BACKENDS)
        self.backend = backend
        self.surrogate = get(surrogate)
        self.reset, self.reset_timing = reset, reset_timing
        self.detach_reset = detach_reset
        self.v_reset = float(v_reset)
        self.learn_beta = learn_beta
        _store(self, "beta", beta, learn_beta)
        _store(self, "v_th", _as_tensor("v_th", v_th), learn_threshold)

    def params(self) -> LIFParams:
        beta = self.beta.clamp(0.0, 1.0) if self.learn_beta else self.beta
        return LIFParams(
            beta, self.v_th, self.v_reset, self.reset, self.reset_timing, self.detach_reset
        )

    def initial_state(self, x_t: Tensor) -> LIFState:
        """The resting state for one step of input ``x_t [B, ...]``."""
        zeros = torch.zeros_like(x_t)
        return LIFState(zeros, zeros)

    def _check_state(self, state: Any, x_t: Tensor) -> LIFState:
        if state is None:
            return self.initial_state(x_t)
        if not isinstance(state, LIFState):
            raise TypeError(f"{self} expects a LIFState or None, got {type(state).__name__}")
        if state.v.shape != x_t.shape:
            raise ShapeError(
                f"{self}: state shape {list(state.v.shape)} does not match one step of input "
                f"{list(x_t.shape)}; pass state=None to start a new run"
            )
        return state

    def _step(self, x_t: Tensor, state: LIFState, p: LIFParams) -> tuple[Tensor, LIFState]:
        return lif_step(x_t, state, p, self.surrogate, self.smooth_forward)

    def _recurrent_weights(self) -> tuple[Tensor | None, Tensor | None]:
        """``(W_rec, b_rec)`` for the fused kernel; none for a LIF without recurrence."""
        return None, None

    def _use_fused(self, x: Tensor) -> bool:
        if self.backend == "loop":
            return False
        custom = type(self)._step not in _FUSED_STEPS  # a subclass with its own dynamics
        if self.backend in ("fused", "compiled"):
            if custom:
                raise TypeError(f"{self}: backend={self.backend!r} cannot run an overridden _step")
            return True
        return x.is_floating_point() and not custom

    def _compiled(self) -> bool | None:
        """``lif_fused``'s choice: compiled loops (True), torch (False), where they run (None)."""
        return {"compiled": True, "fused": False}.get(self.backend)

    def trace(self, x: Tensor, state: Any = None) -> tuple[Tensor, LIFState, Tensor]:
        _check_input(self, x)
        steps = x.unbind(0)
        st = self._check_state(state, steps[0])
        p = self.params()
        if self._use_fused(x):
            w, b = self._recurrent_weights()
            s_all, st, mem = lif_fused(
                x,
                st,
                p,
                self.surrogate,
                w_rec=w,
                b_rec=b,
                membrane=True,
                smooth_forward=self.smooth_forward,
                compiled=self._compiled(),
            )
            assert mem is not None
            return s_all, st, mem
        spikes, membrane = [], []
        for x_t in steps:
            s, st = self._step(x_t, st, p)
            spikes.append(s)
            membrane.append(st.v)
        return torch.stack(spikes), st, torch.stack(membrane)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, LIFState]:
        _check_input(self, x)
        steps = x.unbind(0)
        st = self._check_state(state, steps[0])
        p = self.params()
        if self._use_fused(x):
            w, b = self._recurrent_weights()
            s_all, st, _ = lif_fused(
                x,
                st,
                p,
                self.surrogate,
                w_rec=w,
                b_rec=b,
                smooth_forward=self.smooth_forward,
                compiled=self._compiled(),
            )
            return s_all, st
        spikes = []
        for x_t in steps:
            s, st = self._step(x_t, st, p)
            spikes.append(s)
        return torch.stack(spikes), st

    def _reset_repr(self) -> str:
        text = f"v_th={self._value(self.v_th)}, reset={self.reset!r}"
        if self.reset == "zero" and self.v_reset != 0.0:
            text += f", v_reset={self.v_reset}"
        if self.reset_timing != "immediate":
            text += f", reset_timing={self.reset_timing!r}"
        text += f", surrogate={self.surrogate}"
        if self.backend != "auto":
            text += f", backend={self.backend!r}"
        return text

    @staticmethod
    def _value(t: Tensor) -> str:
        return f"{t.item():.6g}" if t.numel() == 1 else f"tensor{list(t.shape)}"


def _beta_from_tau(tau_mem: ParamValue, dt: float) -> Tensor:
    tau = _as_tensor("tau_mem", tau_mem)
    if not (tau > 0).all():
        raise ValueError(f"tau_mem={tau_mem!r} is not valid; expected seconds > 0")
    if not (isinstance(dt, Number) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt!r} is not valid; expected seconds > 0")
    return torch.exp(-dt / tau)


class LIF(_LIFBase):
    """Leaky integrate-and-fire layer (see ``neurosim.core.neurons`` for the equations).

    tau_mem: membrane time constant in seconds (scalar or per neuron); dt: step in seconds.
    ``LIF.from_beta(0.9)`` builds the discrete form from the decay per step directly.
    ``learn_beta``/``learn_threshold`` make β (clamped to [0, 1]) and v_th trainable.
    ``backend`` picks the time loop: ``"auto"`` (compiled CPU kernel where it runs, else the
    fused torch kernel), ``"compiled"``, ``"fused"`` or ``"loop"`` (see ``Backend``).
    """

    def __init__(
        self,
        tau_mem: ParamValue = 20e-3,
        dt: float = 1e-3,
        v_th: ParamValue = 1.0,
        v_reset: float = 0.0,
        reset: ResetMode = "subtract",
        reset_timing: ResetTiming = "immediate",
        detach_reset: bool = False,
        surrogate: str | Surrogate = "atan",
        learn_beta: bool = False,
        learn_threshold: bool = False,
        backend: Backend = "auto",
    ) -> None:
        beta = _beta_from_tau(tau_mem, dt)
        super().__init__(
            beta,
            v_th,
            v_reset,
            reset,
            reset_timing,
            detach_reset,
            surrogate,
            learn_beta,
            learn_threshold,
            backend,
        )
        self.dt = float(dt)

    @classmethod
    def from_beta(cls, beta: ParamValue, dt: float = 1e-3, **kwargs: Any) -> Self:
        """LIF with decay ``beta`` per step (snnTorch's ``Leaky(beta)``); β is kept exactly.

        Other keywords are those of the constructor (``RecurrentLIF.from_beta(0.9, n=100)``).
        """
        b = _as_tensor("beta", beta)
        if not ((b > 0) & (b <= 1)).all():
            raise ValueError(f"beta={beta!r} is not valid; expected 0 < beta <= 1")
        neuron = cls(tau_mem=1.0, dt=dt, **kwargs)
        b = b.to(neuron.beta.dtype)
        neuron.beta = nn.Parameter(b) if neuron.learn_beta else b
        return neuron

    @property
    def tau_mem(self) -> Tensor:
        """Membrane time constant in seconds, ``−dt / ln β``."""
        return self.dt / torch.log(1.0 / self.beta.detach().clamp(0.0, 1.0))

    def extra_repr(self) -> str:
        return f"beta={self._value(self.beta)}, dt={self.dt:g}, {self._reset_repr()}"


class IF(_LIFBase):
    """Integrate-and-fire (no leak): LIF with β = 1."""

    def __init__(
        self,
        v_th: ParamValue = 1.0,
        v_reset: float = 0.0,
        reset: ResetMode = "subtract",
        reset_timing: ResetTiming = "immediate",
        detach_reset: bool = False,
        surrogate: str | Surrogate = "atan",
        learn_threshold: bool = False,
        backend: Backend = "auto",
    ) -> None:
        super().__init__(
            torch.tensor(1.0),
            v_th,
            v_reset,
            reset,
            reset_timing,
            detach_reset,
            surrogate,
            False,
            learn_threshold,
            backend,
        )

    def extra_repr(self) -> str:
        return self._reset_repr()


class RecurrentLIF(LIF):
    """LIF layer of ``n`` neurons with all-to-all recurrent synapses ``W_rec s[t−1]``.

    Input and output are ``[T, B, n]``; ``self.recurrent`` is an ``nn.Linear(n, n)``.
    """

    def __init__(self, n: int, *, bias: bool = False, **kwargs: Any) -> None:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} is not valid; expected a positive number of neurons")
        super().__init__(**kwargs)
        self.n = n
        self.recurrent = nn.Linear(n, n, bias=bias)

    def _check_state(self, state: Any, x_t: Tensor) -> LIFState:
        if x_t.dim() != 2 or x_t.shape[-1] != self.n:
            raise ShapeError(
                f"{self} expects input [T, B, {self.n}], got one step {list(x_t.shape)}"
            )
        return super()._check_state(state, x_t)

    def _step(self, x_t: Tensor, state: LIFState, p: LIFParams) -> tuple[Tensor, LIFState]:
        w, b = self.recurrent.weight, self.recurrent.bias
        return recurrent_lif_step(x_t, state, p, self.surrogate, w, b, self.smooth_forward)

    def _recurrent_weights(self) -> tuple[Tensor | None, Tensor | None]:
        return self.recurrent.weight, self.recurrent.bias

    def extra_repr(self) -> str:
        return f"n={self.n}, " + super().extra_repr()


# The step functions the fused kernel reproduces; a subclass overriding _step runs the loop.
_FUSED_STEPS = (_LIFBase._step, RecurrentLIF._step)


class S2NN(Neuron):
    """Single-step spiking neuron of S2NN: ``s = H(x − v_th)``, no memory across steps.

    Trained through the S2NN two-branch surrogate (α = 4, β = 1) unless another is given.
    """

    stateful: ClassVar[bool] = False
    v_th: Tensor

    def __init__(
        self,
        v_th: ParamValue = 0.0,
        surrogate: str | Surrogate = "s2nn",
        learn_threshold: bool = False,
    ) -> None:
        super().__init__()
        self.surrogate = get(surrogate)
        _store(self, "v_th", _as_tensor("v_th", v_th), learn_threshold)

    def trace(self, x: Tensor, state: Any = None) -> tuple[Tensor, None, Tensor]:
        _check_input(self, x)
        if state is not None:
            raise TypeError(f"{self} is stateless; state must be None, got {type(state).__name__}")
        return s2nn_step(x, self.v_th, self.surrogate, self.smooth_forward), None, x

    def extra_repr(self) -> str:
        v = self.v_th
        v_text = f"{v.item():.6g}" if v.numel() == 1 else f"tensor{list(v.shape)}"
        return f"v_th={v_text}, surrogate={self.surrogate}"
