"""Exchange networks with NIR (the Neuromorphic Intermediate Representation).

NIR's neurons are continuous-time: ``τ dv/dt = (v_leak − v) + R·I`` (LIF) and
``dv/dt = R·I`` (IF), spike when ``v > v_threshold``, reset by subtracting the threshold at
the spike. neurosim's discrete LIF ``h[t] = β·r(v[t−1]) + x[t]`` is read as:

* ``x[t] = (R·dt/τ)·I[t]`` — the input current ``I[t]`` of step t integrated over the step
  and delivered as one jump (``R·dt·I[t]`` for IF; a current held constant through the step
  would give ``(1 − β)·R·I[t]``, which differs by O(dt/τ)). ``to_nir`` writes ``R = τ/dt``
  (IF: ``R = 1/dt``) so the gain is 1, as snnTorch's exporter does; ``from_nir`` folds
  another gain into the weights and bias of the Linear/Conv2d that feeds the neuron.
  (snnTorch 1.0's importer assumes dt = 1e-4 s and refuses an IF with ``R ≠ 1``.)
* ``β = exp(−dt/τ)`` with ``method="exact"`` (the exact decay over a step, neurosim's
  ``LIF(tau_mem, dt)``), or ``β = 1 − dt/τ`` with ``method="euler"`` (snnTorch's and
  Norse's exporters).
* reset: immediate subtraction (``reset="subtract", reset_timing="immediate"``); other
  resets have no NIR form and are refused. ``v_leak`` must be 0 (neurosim has no leak
  potential).

Recurrence (``RecurrentLIF``) is written as NIR's RNN benchmark graphs (NIR ``paper/03_rnn``,
exported by snnTorch) and nirtorch's interpreter lay it out: a ``LIF`` node ``"<i>.lif"`` on
the chain plus a ``Linear`` (``Affine`` with a bias) node ``"<i>.w_rec"`` on the cycle
``lif → w_rec → lif``. The cycle carries a one-step delay: the LIF's input current at step t
is ``I[t] + W_rec·s[t−1] (+ b_rec)`` with ``s[−1] = 0`` (nirtorch feeds a back edge the source
node's previous output, zero before the first step). ``W_rec`` and ``b_rec`` are currents like
``I``, so the input gain R·dt/τ is folded into their rows as into the feed-forward weights.
One difference: neurosim adds ``b_rec`` from step 0, nirtorch's cycle only from step 1.
``from_nir`` also reads the nested form snnTorch's ``export_to_nir`` writes for ``RLeaky``
(a ``NIRGraph`` node holding ``{input, lif, w_rec, output}`` with that cycle).

Graphs are chains ``Input → nodes → Output`` (plus those cycles). Node types map by
registries keyed by type:
``EXPORTERS`` (neurosim layer → NIR node) and ``IMPORTERS`` (NIR node → neurosim layers).
``SumPool2d`` is ``AvgPool2d(divisor_override=1)`` in neurosim. ``dt`` (seconds) is
stored in the graph's metadata and read back when ``from_nir`` gets no ``dt``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

from neurosim.core.layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear
from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import IF, LIF, RecurrentLIF, _LIFBase
from neurosim.interop.nir_common import (
    Context,
    Exporter,
    Method,
    Recurrent,
    check_method,
    full_array,
    int_pair,
    load_nir,
    to_numpy,
)
from neurosim.interop.nir_import import IMPORTERS, from_nir
from neurosim.interop.registry import ConverterRegistry

__all__ = ["EXPORTERS", "IMPORTERS", "Method", "Recurrent", "from_nir", "to_nir"]


def _export_linear(m: Linear, c: Context) -> Any:
    nir = load_nir()
    if m.bias is None:
        return nir.Linear(weight=to_numpy(m.weight))
    return nir.Affine(weight=to_numpy(m.weight), bias=to_numpy(m.bias))


def _export_conv(m: Conv2d, c: Context) -> Any:
    if m.padding_mode != "zeros":
        raise ValueError(f"{c.where}: padding_mode={m.padding_mode!r}; NIR pads with zeros")
    bias = np.zeros(m.out_channels, np.float32) if m.bias is None else to_numpy(m.bias)
    padding = m.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # torch pads (k − 1)·d / 2 per side; symmetric only if even
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]
        if any(t % 2 for t in total):
            raise ValueError(f"{c.where}: padding='same' is asymmetric for this kernel")
        padding = (total[0] // 2, total[1] // 2)
    return load_nir().Conv2d(
        input_shape=c.in_shape[1:],
        weight=to_numpy(m.weight),
        stride=tuple(m.stride),
        padding=tuple(padding),
        dilation=tuple(m.dilation),
        groups=m.groups,
        bias=bias,
    )


def _export_avgpool(m: AvgPool2d, c: Context) -> Any:
    nir = load_nir()
    if m.ceil_mode or (not m.count_include_pad and int_pair(m.padding).any()):
        raise ValueError(f"{c.where}: NIR pools need ceil_mode=False, count_include_pad=True")
    kw = {
        "kernel_size": int_pair(m.kernel_size),
        "stride": int_pair(m.stride or m.kernel_size),
        "padding": int_pair(m.padding),
    }
    if m.divisor_override is None:
        return nir.AvgPool2d(**kw)
    if m.divisor_override == 1:
        return nir.SumPool2d(**kw)
    raise ValueError(f"{c.where}: divisor_override={m.divisor_override} has no NIR form")


def _export_flatten(m: Flatten, c: Context) -> Any:
    return load_nir().Flatten(input_type={"input": np.array(c.in_shape)}, start_dim=0, end_dim=-1)


def _check_reset(m: _LIFBase, c: Context) -> None:
    if m.reset != "subtract" or m.reset_timing != "immediate":
        raise ValueError(
            f"{c.where}: reset={m.reset!r}, reset_timing={m.reset_timing!r} has no NIR form; "
            "NIR's LIF and IF subtract the threshold at the spike (reset='subtract', "
            "reset_timing='immediate')"
        )


def _export_lif(m: LIF, c: Context) -> Any:
    _check_reset(m, c)
    beta = full_array(m.params().beta, c.out_shape)  # type: ignore[arg-type]
    if not (beta < 1).all():
        raise ValueError(f"{c.where}: beta = 1 (no leak) has no NIR LIF form; use IF")
    tau = -c.dt / np.log(beta) if c.method == "exact" else c.dt / (1.0 - beta)
    return load_nir().LIF(
        tau=tau,
        r=tau / c.dt,
        v_leak=np.zeros(c.out_shape),
        v_threshold=full_array(m.v_th, c.out_shape),
    )


def _export_if(m: IF, c: Context) -> Any:
    _check_reset(m, c)
    shape = c.out_shape
    return load_nir().IF(r=np.full(shape, 1.0 / c.dt), v_threshold=full_array(m.v_th, shape))


def _export_recurrent(m: RecurrentLIF, c: Context) -> Recurrent:
    nir = load_nir()
    w, b = m.recurrent.weight, m.recurrent.bias  # gain R·dt/τ = 1: written unscaled
    weight = (
        nir.Linear(weight=to_numpy(w))
        if b is None
        else nir.Affine(weight=to_numpy(w), bias=to_numpy(b))
    )
    return Recurrent(_export_lif(m, c), weight)


def _export_builtins(reg: ConverterRegistry[Exporter]) -> None:
    reg.register(Linear, _export_linear)
    reg.register(Conv2d, _export_conv)
    reg.register(AvgPool2d, _export_avgpool)
    reg.register(Flatten, _export_flatten)
    reg.register(LIF, _export_lif)
    reg.register(IF, _export_if)
    reg.register(RecurrentLIF, _export_recurrent)
    reg.register(Dropout, lambda m, c: None)  # the identity at inference: no node


EXPORTERS: ConverterRegistry[Exporter] = ConverterRegistry("neurosim → NIR", _export_builtins)


def _graph_dt(net: Sequential, dt: float | None) -> float:
    if dt is None:
        dts = {layer.dt for layer in net if isinstance(layer, LIF)}
        if len(dts) > 1:
            raise ValueError(f"the LIF layers have different dt {sorted(dts)}; pass dt=")
        dt = dts.pop() if dts else 1e-3
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt!r} is not valid; expected seconds > 0")
    return float(dt)


def to_nir(
    net: Sequential,
    input_shape: tuple[int, ...] | None = None,
    dt: float | None = None,
    method: Method = "exact",
) -> Any:
    """``net`` as a ``nir.NIRGraph`` (a chain ``input → "<i>_<layer>" … → output``).

    input_shape: one sample's input shape without ``[T, B]`` (needed unless the first
    layer is a Linear). dt: step in seconds (default: the LIF layers' common ``dt``).
    """
    nir = load_nir()
    check_method(method)
    if not isinstance(net, Sequential):
        raise TypeError(f"to_nir expects a neurosim Sequential, got {type(net).__name__}")
    step = _graph_dt(net, dt)
    if input_shape is None:
        if not isinstance(net[0], Linear):
            raise ValueError("to_nir needs input_shape= when the first layer is not a Linear")
        input_shape = (net[0].in_features,)
    with torch.no_grad():  # the shape of every layer's input and output
        probe = next(net.parameters(), torch.zeros(()))
        x = torch.zeros(1, 1, *input_shape, dtype=probe.dtype, device=probe.device)
        activity = net.run(x).activity
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    chain, cycles = ["input"], []
    for a in activity:
        where = f"layer {a.index} ({type(a.layer).__name__})"
        export = EXPORTERS.lookup(type(a.layer))
        if export is None:
            raise ValueError(
                f"{where} has no NIR form; to_nir supports {', '.join(EXPORTERS.supported())}"
            )
        ctx = Context(where, tuple(a.input.shape[2:]), tuple(a.output.shape[2:]), step, method, [])
        node = export(a.layer, ctx)
        name = f"{a.index}_{type(a.layer).__name__.lower()}"
        if isinstance(node, Recurrent):
            nodes[f"{name}.lif"], nodes[f"{name}.w_rec"] = node.neuron, node.weight
            cycles += [(f"{name}.lif", f"{name}.w_rec"), (f"{name}.w_rec", f"{name}.lif")]
            chain.append(f"{name}.lif")
        elif node is not None:
            nodes[name] = node
            chain.append(name)
    nodes["output"] = nir.Output(output_type={"output": np.array(activity[-1].output.shape[2:])})
    edges = list(itertools.pairwise([*chain, "output"])) + cycles
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": step, "method": method})
