"""Run a neurosim LIF/IF network in Brian2 — an independent simulation of the same model.

``to_brian2(net)`` builds a ``brian2.Network`` in which Brian2 integrates the membrane
equations itself (``method="exact"``); neurosim's parameters enter only as constants:

* LIF: ``dv/dt = (v_inf − v)/τ`` with ``τ = −dt / ln β`` and ``v_inf = b/(1 − β)``, so
  one step of exact integration gives ``β v + b`` (``b``: the Linear's bias, plus the
  recurrent bias). IF: ``dv/dt = b/dt`` (``method="euler"``, exact for a constant slope).
* Synapses are delta synapses, ``on_pre: v += w``, with ``w = W[post, pre]`` of the Linear.
* Threshold ``v > v_th``; reset ``v -= v_th`` (subtract), ``v = v_reset`` (zero) or none.

neurosim propagates a spike through all layers within the step it is emitted, and feeds a
recurrent spike back at the next step, undecayed. Brian2's default schedule (groups,
thresholds, synapses, resets) would instead deliver it after the threshold test and let it
decay first, so every object gets an explicit ``order`` in one slot; for layer k:
decay (state update), recurrent pathway (it runs before this layer's threshold and so
reads the spikes of the previous step), feed-forward pathway from layer k−1 (after that
layer's threshold: this step's spikes), delayed-reset subtraction, membrane monitor,
threshold, reset, spike monitor. Inputs come from a ``SpikeGeneratorGroup`` that runs
first. A batch of B samples is simulated as B disjoint copies of the network.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurosim.core.layers import Flatten, Linear
from neurosim.core.network import Sequential, check_sequence
from neurosim.core.neuron_layers import IF, LIF, RecurrentLIF, _LIFBase
from neurosim.interop.registry import require

__all__ = ["Brian2Model", "Brian2Run", "run_brian2", "simulate_brian2", "to_brian2"]

SUPPORTED = "an optional Flatten first, then pairs of Linear followed by LIF, IF or RecurrentLIF"
SLOT = "groups"  # every object runs in this slot; ``order`` sets the sequence


def _brian2() -> Any:
    with _quiet():
        return require("brian2", "brian2", "neurosim.interop.to_brian2")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the DeprecationWarnings Brian2 2.9 triggers (it parses equations with
    pyparsing's pre-3.0 names); only those raised in brian2 or pyparsing modules."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, module=r"(brian2|pyparsing)(\.|$)"
        )
        yield


def _numpy(b2: Any) -> Any:
    """Brian2's numpy code objects: no compiler, same on every machine."""
    return b2.NumpyCodeObject


@dataclass(frozen=True)
class _Stage:
    """One Linear + neuron pair: the neuron's layer index and its Brian2 constants."""

    index: int
    weight: np.ndarray  # [N, N_pre]
    bias: np.ndarray  # [N] voltage added per step
    beta: np.ndarray  # [N]
    v_th: np.ndarray  # [N]
    reset: str
    delayed: bool  # delayed subtraction (snnTorch's timing)
    v_reset: float
    w_rec: np.ndarray | None  # [N, N]


def _per_neuron(layer: int, name: str, value: Tensor, n: int) -> np.ndarray:
    v = value.detach().to(torch.float64).cpu().reshape(-1)
    if v.numel() == 1:
        return np.full(n, float(v), dtype=np.float64)
    if v.numel() != n:
        raise ValueError(
            f"layer {layer}: {name} has {v.numel()} values; to_brian2 expects one or {n}"
        )
    return v.numpy().copy()


def _stage(i: int, lin: Linear, neuron: _LIFBase) -> _Stage:
    n = lin.out_features
    if isinstance(neuron, RecurrentLIF) and neuron.n != n:
        raise ValueError(f"layer {i}: RecurrentLIF has n={neuron.n}, layer {i - 1} gives {n}")
    bias = np.zeros(n) if lin.bias is None else _per_neuron(i - 1, "bias", lin.bias, n)
    w_rec = None
    if isinstance(neuron, RecurrentLIF):
        w_rec = neuron.recurrent.weight.detach().to(torch.float64).cpu().numpy().copy()
        if neuron.recurrent.bias is not None:
            bias = bias + _per_neuron(i, "recurrent bias", neuron.recurrent.bias, n)
    beta = _per_neuron(i, "beta", neuron.params().beta, n)  # type: ignore[arg-type]
    if not ((beta > 0).all() and (beta <= 1).all()):
        raise ValueError(f"layer {i}: beta must be in (0, 1] for to_brian2, got {beta}")
    if (beta == 1).any() and not (beta == 1).all():
        raise ValueError(f"layer {i}: to_brian2 needs beta < 1 for all neurons or = 1 for all")
    if neuron.smooth_forward:
        raise ValueError(f"layer {i}: a relaxed (smooth) neuron emits no spikes for Brian2")
    return _Stage(
        index=i,
        weight=lin.weight.detach().to(torch.float64).cpu().numpy().copy(),
        bias=bias,
        beta=beta,
        v_th=_per_neuron(i, "v_th", neuron.v_th, n),
        reset=neuron.reset,
        delayed=neuron.reset_timing == "delayed" and neuron.reset == "subtract",
        v_reset=neuron.v_reset,
        w_rec=w_rec,
    )


def _stages(net: nn.Module) -> tuple[int, list[_Stage]]:
    """``(input size, stages)`` of a supported network; ``ValueError`` names a bad layer."""
    if not isinstance(net, Sequential):
        raise TypeError(f"to_brian2 expects a neurosim Sequential, got {type(net).__name__}")
    layers = list(net)
    start = 1 if isinstance(layers[0], Flatten) else 0
    if (len(layers) - start) % 2 or len(layers) == start:
        raise ValueError(f"to_brian2 supports {SUPPORTED}; got {net.layer_names()}")
    stages: list[_Stage] = []
    n_in = -1
    for i in range(start, len(layers), 2):
        lin, neuron = layers[i], layers[i + 1]
        if not isinstance(lin, Linear):
            raise ValueError(
                f"layer {i} ({type(lin).__name__}) is not supported by to_brian2; it supports "
                f"{SUPPORTED}"
            )
        if not isinstance(neuron, (LIF, IF)):
            raise ValueError(
                f"layer {i + 1} ({type(neuron).__name__}) is not supported by to_brian2; it "
                f"supports {SUPPORTED}"
            )
        if stages and lin.in_features != len(stages[-1].v_th):
            raise ValueError(
                f"layer {i}: Linear takes {lin.in_features} inputs, layer {i - 1} gives "
                f"{len(stages[-1].v_th)}"
            )
        n_in = lin.in_features if not stages else n_in
        stages.append(_stage(i + 1, lin, neuron))
    return n_in, stages


@dataclass
class Brian2Model:
    """A neurosim network as Brian2 objects (B disjoint copies for a batch of B).

    network: the isolated ``brian2.Network``; inputs: the ``SpikeGeneratorGroup``
    (``B · n_in`` neurons, index ``b · n_in + i``); groups / spike_monitors /
    state_monitors: by neurosim layer index of the neuron layer (``B · N`` neurons each).
    """

    network: Any
    inputs: Any
    groups: dict[int, Any]
    spike_monitors: dict[int, Any]
    state_monitors: dict[int, Any] = field(default_factory=dict)
    batch_size: int = 1
    n_in: int = 0
    dt: float = 1e-3
    done: bool = False

    def run(self, x_seq: Tensor) -> Brian2Run:
        """Feed binary spikes ``x_seq [T, B, ...]`` (B = ``batch_size``) and simulate T steps
        from rest; a model runs once (build a new one with ``to_brian2`` for the next run)."""
        check_sequence(x_seq, "x_seq")
        if self.done:
            raise RuntimeError("this Brian2Model has already run; build a new one with to_brian2")
        if not torch.all((x_seq == 0) | (x_seq == 1)):
            raise ValueError("x_seq must hold binary spikes (0 or 1) for Brian2")
        x = x_seq.detach().flatten(2).cpu()
        t_steps, batch, n = x.shape
        if (batch, n) != (self.batch_size, self.n_in):
            raise ValueError(
                f"x_seq has shape {list(x_seq.shape)}; this model takes [T, {self.batch_size}, "
                f"{self.n_in}] (batch_size, inputs of the first Linear)"
            )
        b2 = _brian2()
        step, bi, ni = np.nonzero(x.numpy())
        self.inputs.set_spikes(bi * n + ni, step * self.dt * b2.second)
        self.done = True
        with _numpy_target(b2):
            self.network.run(t_steps * self.dt * b2.second, namespace={})
        spikes: dict[int, Tensor] = {}
        for index, mon in self.spike_monitors.items():
            size = len(self.groups[index]) // batch
            out = torch.zeros(t_steps, batch * size, dtype=x_seq.dtype)
            steps = np.rint(np.asarray(mon.t / b2.second) / self.dt).astype(np.int64)
            out[torch.from_numpy(steps), torch.from_numpy(np.asarray(mon.i, dtype=np.int64))] = 1
            spikes[index] = out.view(t_steps, batch, size)
        membranes = {
            index: torch.from_numpy(np.asarray(mon.v).T.copy())
            .to(x_seq.dtype)
            .view(t_steps, batch, len(self.groups[index]) // batch)
            for index, mon in self.state_monitors.items()
        }
        return Brian2Run(spikes[max(spikes)], spikes, membranes)


@dataclass(frozen=True)
class Brian2Run:
    """What Brian2 produced: output spikes ``[T, B, N_out]``, spikes of every neuron layer
    and (when recorded) membranes ``[T, B, N]`` compared with the threshold, by layer index."""

    output: Tensor
    spikes: dict[int, Tensor]
    membranes: dict[int, Tensor]


def _default_dt(net: Sequential) -> float:
    dts = {layer.dt for layer in net if isinstance(layer, LIF)}
    return dts.pop() if len(dts) == 1 else 1e-3


def _equations(b2: Any, stage: _Stage) -> Any:
    extra = "s_prev : 1\n" if stage.delayed else ""
    if (stage.beta == 1).all():
        return b2.Equations(
            "dv/dt = drive : 1\ndrive : Hz (constant)\nv_th : 1 (constant)\n" + extra
        )
    return b2.Equations(
        "dv/dt = (v_inf - v) / tau : 1\ntau : second (constant)\nv_inf : 1 (constant)\n"
        "v_th : 1 (constant)\n" + extra
    )


def _group(b2: Any, stage: _Stage, batch: int, dt: float, clock: Any, base: int) -> Any:
    n = len(stage.v_th)
    if stage.reset == "subtract":
        reset = "s_prev = 1" if stage.delayed else "v -= v_th"
    elif stage.reset == "zero":
        reset = f"v = {stage.v_reset!r}"
    else:
        reset = ""  # no reset ("" rather than None: Brian2 warns about a missing reset)
    integrate = bool((stage.beta == 1).all())
    g = b2.NeuronGroup(
        batch * n,
        _equations(b2, stage),
        threshold="v > v_th",
        reset=reset,
        method="euler" if integrate else "exact",  # Euler is exact for a constant slope
        clock=clock,
        name=f"layer{stage.index}",
        codeobj_class=_numpy(b2),
    )
    g.v_th = np.tile(stage.v_th, batch)
    if integrate:
        g.drive = np.tile(stage.bias / dt, batch) * b2.Hz
    else:
        g.tau = np.tile(-dt / np.log(stage.beta), batch) * b2.second
        g.v_inf = np.tile(stage.bias / (1.0 - stage.beta), batch)
    g.state_updater.when, g.state_updater.order = SLOT, base
    g.thresholder["spike"].when, g.thresholder["spike"].order = SLOT, base + 5
    if "spike" in g.resetter:
        g.resetter["spike"].when, g.resetter["spike"].order = SLOT, base + 6
    if stage.delayed:  # the subtraction of the last step's spike, undecayed
        g.run_regularly(
            "v -= v_th * s_prev\ns_prev = 0", when=SLOT, order=base + 3, codeobj_class=_numpy(b2)
        )
    return g


def _synapses(
    b2: Any, pre: Any, post: Any, w: np.ndarray, batch: int, clock: Any, order: int, name: str
) -> list[Any]:
    """Delta synapses ``v_post += w`` for the nonzero ``w[post, pre]`` in every batch copy."""
    n_post, n_pre = w.shape
    post_i, pre_i = np.nonzero(w)
    if not len(pre_i):  # all weights zero: no synapses
        return []
    s = b2.Synapses(
        pre, post, "w : 1", on_pre="v_post += w", clock=clock, name=name, codeobj_class=_numpy(b2)
    )
    offsets = np.repeat(np.arange(batch), len(pre_i))
    s.connect(
        i=np.tile(pre_i, batch) + offsets * n_pre, j=np.tile(post_i, batch) + offsets * n_post
    )
    s.w = np.tile(w[post_i, pre_i], batch)
    s.pre.when, s.pre.order = SLOT, order
    return [s]


def to_brian2(
    net: Sequential, batch_size: int = 1, dt: float | None = None, record_membrane: bool = False
) -> Brian2Model:
    """Build the Brian2 equivalent of ``net`` for ``batch_size`` samples (see module docs).

    dt: step in seconds (default: the LIF layers' ``dt``, else 1 ms); only ``τ = −dt/ln β``
    depends on it, so the spikes do not. ``model.run(x_seq)`` simulates it once.
    """
    n_in, stages = _stages(net)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not valid; expected an int >= 1")
    step = _default_dt(net) if dt is None else float(dt)
    if not step > 0:
        raise ValueError(f"dt={dt!r} is not valid; expected seconds > 0")
    b2 = _brian2()
    with _numpy_target(b2):  # Synapses.connect already runs generated code
        return _build(b2, n_in, stages, batch_size, step, record_membrane)


def _build(
    b2: Any, n_in: int, stages: list[_Stage], batch_size: int, step: float, record: bool
) -> Brian2Model:
    clock = b2.Clock(dt=step * b2.second, name="neurosim_clock")
    inputs = b2.SpikeGeneratorGroup(
        batch_size * n_in, [], [] * b2.second, clock=clock, when=SLOT, order=0, name="inputs"
    )
    inputs.codeobj_class = _numpy(b2)
    objects: list[Any] = [inputs]
    groups, spikes, states = {}, {}, {}
    pre = inputs
    for k, st in enumerate(stages, start=1):
        base = 10 * k
        g = _group(b2, st, batch_size, step, clock, base)
        objects.append(g)
        if st.w_rec is not None:
            name = f"recurrent{st.index}"
            objects += _synapses(b2, g, g, st.w_rec, batch_size, clock, base + 1, name)
        name = f"synapses{st.index}"
        objects += _synapses(b2, pre, g, st.weight, batch_size, clock, base + 2, name)
        if record:
            states[st.index] = b2.StateMonitor(
                g, "v", record=True, when=SLOT, order=base + 4, codeobj_class=_numpy(b2)
            )
        spikes[st.index] = b2.SpikeMonitor(g, when=SLOT, order=base + 7, codeobj_class=_numpy(b2))
        groups[st.index] = g
        pre = g
    objects += list(spikes.values()) + list(states.values())
    network = b2.Network(*objects)
    return Brian2Model(network, inputs, groups, spikes, states, batch_size, n_in, step)


@contextlib.contextmanager
def _numpy_target(b2: Any) -> Iterator[None]:
    """Brian2's numpy target (and ``_quiet``) for the duration; the old target is restored."""
    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        with _quiet():
            yield
    finally:
        b2.prefs.codegen.target = old


def run_brian2(net: Sequential, x_seq: Tensor, record_membrane: bool = False) -> Brian2Run:
    """Simulate ``net`` in Brian2 on binary input spikes ``x_seq [T, B, ...]`` from rest.

    Returns output spikes ``[T, B, N_out]`` and every neuron layer's spikes (and membranes
    ``[T, B, N]`` before reset when ``record_membrane``) in the dtype of ``x_seq``.
    """
    check_sequence(x_seq, "x_seq")
    n_in, _ = _stages(net)
    if math.prod(x_seq.shape[2:]) != n_in:
        raise ValueError(
            f"x_seq has shape {list(x_seq.shape)}; the network's first Linear takes {n_in} "
            "inputs per step"
        )
    model = to_brian2(net, x_seq.shape[1], record_membrane=record_membrane)
    return model.run(x_seq)


def simulate_brian2(net: Sequential, x_seq: Tensor) -> Tensor:
    """Output spikes ``[T, B, N_out]`` of ``net`` simulated by Brian2 on ``x_seq`` (binary)."""
    return run_brian2(net, x_seq).output
