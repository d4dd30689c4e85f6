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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from neurosim.core.layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear
from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import IF, LIF, RecurrentLIF, _LIFBase
from neurosim.interop.registry import ConverterRegistry, require

__all__ = ["EXPORTERS", "IMPORTERS", "Method", "Recurrent", "from_nir", "to_nir"]

Method = Literal["exact", "euler"]


@dataclass(frozen=True)
class _Ctx:
    """What a converter needs besides its layer/node."""

    where: str  # "layer 3 (LIF)" or "node 'lif1' (LIF)"
    in_shape: tuple[int, ...]  # per sample, without [T, B]
    out_shape: tuple[int, ...]
    dt: float
    method: Method
    layers: list[nn.Module]  # neurosim layers built so far (import only)


@dataclass(frozen=True)
class Recurrent:
    """An exporter's result for a neuron with recurrent synapses: ``neuron`` goes on the
    chain as ``"<i>.lif"``, ``weight`` on the cycle ``lif → w_rec → lif`` as ``"<i>.w_rec"``."""

    neuron: Any
    weight: Any


Exporter = Callable[[Any, _Ctx], Any]
Importer = Callable[[Any, _Ctx], list[nn.Module]]


def _nir() -> Any:
    return require("nir", "nir", "neurosim.interop.to_nir/from_nir")


def _check_method(method: str) -> None:
    if method not in ("exact", "euler"):
        raise ValueError(f"method={method!r} is not valid; expected 'exact' or 'euler'")


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _full(value: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` broadcast to ``shape`` (float64)."""
    return np.broadcast_to(value.detach().double().cpu().numpy(), shape).copy()


def _pair(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.int64).reshape(-1)
    return np.array((a[0], a[0]) if a.size == 1 else a, dtype=np.int64)


def _ints(v: Any) -> tuple[int, int]:
    a = _pair(v)
    return int(a[0]), int(a[1])


# ---------------------------------------------------------------------------- export


def _export_linear(m: Linear, c: _Ctx) -> Any:
    nir = _nir()
    if m.bias is None:
        return nir.Linear(weight=_np(m.weight))
    return nir.Affine(weight=_np(m.weight), bias=_np(m.bias))


def _export_conv(m: Conv2d, c: _Ctx) -> Any:
    if m.padding_mode != "zeros":
        raise ValueError(f"{c.where}: padding_mode={m.padding_mode!r}; NIR pads with zeros")
    bias = np.zeros(m.out_channels, np.float32) if m.bias is None else _np(m.bias)
    padding = m.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # torch pads (k − 1)·d / 2 per side; symmetric only if even
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]
        if any(t % 2 for t in total):
            raise ValueError(f"{c.where}: padding='same' is asymmetric for this kernel")
        padding = (total[0] // 2, total[1] // 2)
    return _nir().Conv2d(
        input_shape=c.in_shape[1:],
        weight=_np(m.weight),
        stride=tuple(m.stride),
        padding=tuple(padding),
        dilation=tuple(m.dilation),
        groups=m.groups,
        bias=bias,
    )


def _export_avgpool(m: AvgPool2d, c: _Ctx) -> Any:
    nir = _nir()
    if m.ceil_mode or (not m.count_include_pad and _pair(m.padding).any()):
        raise ValueError(f"{c.where}: NIR pools need ceil_mode=False, count_include_pad=True")
    kw = {
        "kernel_size": _pair(m.kernel_size),
        "stride": _pair(m.stride or m.kernel_size),
        "padding": _pair(m.padding),
    }
    if m.divisor_override is None:
        return nir.AvgPool2d(**kw)
    if m.divisor_override == 1:
        return nir.SumPool2d(**kw)
    raise ValueError(f"{c.where}: divisor_override={m.divisor_override} has no NIR form")


def _export_flatten(m: Flatten, c: _Ctx) -> Any:
    return _nir().Flatten(input_type={"input": np.array(c.in_shape)}, start_dim=0, end_dim=-1)


def _check_reset(m: _LIFBase, c: _Ctx) -> None:
    if m.reset != "subtract" or m.reset_timing != "immediate":
        raise ValueError(
            f"{c.where}: reset={m.reset!r}, reset_timing={m.reset_timing!r} has no NIR form; "
            "NIR's LIF and IF subtract the threshold at the spike (reset='subtract', "
            "reset_timing='immediate')"
        )


def _export_lif(m: LIF, c: _Ctx) -> Any:
    _check_reset(m, c)
    beta = _full(m.params().beta, c.out_shape)  # type: ignore[arg-type]
    if not (beta < 1).all():
        raise ValueError(f"{c.where}: beta = 1 (no leak) has no NIR LIF form; use IF")
    tau = -c.dt / np.log(beta) if c.method == "exact" else c.dt / (1.0 - beta)
    return _nir().LIF(
        tau=tau,
        r=tau / c.dt,
        v_leak=np.zeros(c.out_shape),
        v_threshold=_full(m.v_th, c.out_shape),
    )


def _export_if(m: IF, c: _Ctx) -> Any:
    _check_reset(m, c)
    shape = c.out_shape
    return _nir().IF(r=np.full(shape, 1.0 / c.dt), v_threshold=_full(m.v_th, shape))


def _export_recurrent(m: RecurrentLIF, c: _Ctx) -> Recurrent:
    nir = _nir()
    w, b = m.recurrent.weight, m.recurrent.bias  # gain R·dt/τ = 1: written unscaled
    weight = nir.Linear(weight=_np(w)) if b is None else nir.Affine(weight=_np(w), bias=_np(b))
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
    nir = _nir()
    _check_method(method)
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
        ctx = _Ctx(where, tuple(a.input.shape[2:]), tuple(a.output.shape[2:]), step, method, [])
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


# ---------------------------------------------------------------------------- import


def _tensor(a: Any) -> Tensor:
    """A NIR array as a default-dtype tensor; a uniform array collapses to a scalar."""
    t = torch.as_tensor(np.asarray(a, dtype=np.float64))
    if t.numel() > 0 and bool((t == t.reshape(-1)[0]).all()):
        t = t.reshape(-1)[0]
    return t.to(torch.get_default_dtype())


def _fold_gain(gain: np.ndarray, c: _Ctx) -> None:
    """Multiply the drive of the layer feeding this neuron by ``gain`` (R·dt/τ or R·dt)."""
    if np.allclose(gain, 1.0, rtol=1e-9, atol=0.0):
        return
    prev = c.layers[-1] if c.layers else None
    g = np.broadcast_to(gain, c.out_shape)
    if isinstance(prev, Conv2d):
        per_channel = g.reshape(g.shape[0], -1)
        if not (per_channel == per_channel[:, :1]).all():
            raise ValueError(f"{c.where}: an input gain R·dt/τ varying within a channel")
        scale = torch.as_tensor(per_channel[:, 0].copy())
    elif isinstance(prev, Linear):
        scale = torch.as_tensor(g.reshape(-1).copy())
    else:
        raise ValueError(
            f"{c.where}: input gain R·dt/τ = {gain.reshape(-1)[:3]}… must be 1 unless the "
            "node is fed by an Affine, Linear or Conv2d node (the gain is folded into it)"
        )
    with torch.no_grad():
        w = prev.weight
        w.mul_(scale.to(w.dtype).reshape(-1, *([1] * (w.dim() - 1))))
        if prev.bias is not None:
            prev.bias.mul_(scale.to(w.dtype))


def _lif_beta(node: Any, c: _Ctx) -> tuple[np.ndarray, np.ndarray]:
    """``(β, input gain R·dt/τ)`` of a NIR LIF node."""
    tau = np.asarray(node.tau, dtype=np.float64)
    if not (np.isfinite(tau) & (tau > 0)).all():
        raise ValueError(f"{c.where}: tau must be finite and > 0 seconds, got {tau}")
    if np.any(np.asarray(node.v_leak) != 0):
        raise ValueError(f"{c.where}: v_leak must be 0 (neurosim's LIF has no leak potential)")
    beta = np.exp(-c.dt / tau) if c.method == "exact" else 1.0 - c.dt / tau
    if not (beta > 0).all():
        raise ValueError(f"{c.where}: dt/tau >= 1 gives beta <= 0 with method='euler'")
    return beta, np.asarray(node.r, dtype=np.float64) * c.dt / tau


def _import_lif(node: Any, c: _Ctx) -> list[nn.Module]:
    beta, gain = _lif_beta(node, c)
    _fold_gain(gain, c)
    return [LIF.from_beta(_tensor(beta), dt=c.dt, v_th=_tensor(node.v_threshold))]


def _import_recurrent(node: Any, rec: Any, c: _Ctx, rec_where: str) -> list[nn.Module]:
    """A ``RecurrentLIF`` from the LIF ``node`` and the Linear/Affine ``rec`` on its cycle."""
    nir = _nir()
    if not isinstance(node, nir.LIF):
        raise ValueError(
            f"{c.where} has a recurrent edge through {rec_where}; from_nir reads recurrence "
            "only on LIF nodes (as RecurrentLIF)"
        )
    n = math.prod(c.out_shape) if c.out_shape else None
    weight = torch.as_tensor(np.asarray(rec.weight))
    if len(c.out_shape) > 1 or weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(
            f"{rec_where}: the recurrent weight of {c.where} must be square [n, n] on a 1-D "
            f"layer, got weight {list(weight.shape)} for neurons of shape {list(c.out_shape)}"
        )
    n = n or weight.shape[0]
    bias = getattr(rec, "bias", None)
    b = None if bias is None else torch.as_tensor(np.asarray(bias)).reshape(-1)
    if weight.shape[0] != n or (b is not None and b.numel() != n):
        raise ValueError(
            f"{rec_where}: weight {list(weight.shape)}"
            + ("" if b is None else f" and bias [{b.numel()}]")
            + f" do not fit the {n} neurons of {c.where}; expected [{n}, {n}] and [{n}]"
        )
    beta, gain = _lif_beta(node, c)
    _fold_gain(gain, c)
    neuron = RecurrentLIF.from_beta(
        _tensor(beta), dt=c.dt, v_th=_tensor(node.v_threshold), n=n, bias=b is not None
    )
    with torch.no_grad():
        w = neuron.recurrent.weight
        w.copy_(weight)
        if neuron.recurrent.bias is not None and b is not None:
            neuron.recurrent.bias.copy_(b)
        if not np.allclose(gain, 1.0, rtol=1e-9, atol=0.0):  # currents, like the input I
            scale = torch.as_tensor(np.broadcast_to(gain, (n,)).copy()).to(w.dtype)
            w.mul_(scale.reshape(-1, 1))
            if neuron.recurrent.bias is not None:
                neuron.recurrent.bias.mul_(scale)
    return [neuron]


def _import_subgraph(node: Any, c: _Ctx) -> list[nn.Module]:
    """snnTorch's nested form of a recurrent LIF: ``{input, lif, w_rec, output}``."""
    try:
        chain, rec = _chain(node)
    except ValueError as err:
        raise ValueError(f"{c.where}: {err}") from err
    if len(chain) != 3 or chain[1] not in rec:
        raise ValueError(
            f"{c.where}: a NIRGraph node is read only as a recurrent LIF "
            f"{{input → lif ⇄ w_rec, lif → output}}; got nodes {list(node.nodes)}"
        )
    key, w_key = chain[1], rec[chain[1]]
    lif, w_rec = node.nodes[key], node.nodes[w_key]
    out = _shape(lif.output_type, "output")
    inner = _Ctx(
        f"node {key!r} ({type(lif).__name__}) of {c.where}", c.in_shape, out, c.dt, c.method,
        c.layers,
    )  # fmt: skip
    return _import_recurrent(lif, w_rec, inner, f"node {w_key!r} ({type(w_rec).__name__})")


def _import_if(node: Any, c: _Ctx) -> list[nn.Module]:
    _fold_gain(np.asarray(node.r, dtype=np.float64) * c.dt, c)
    return [IF(v_th=_tensor(node.v_threshold))]


def _import_affine(node: Any, c: _Ctx) -> list[nn.Module]:
    weight = torch.as_tensor(np.asarray(node.weight))
    bias = getattr(node, "bias", None)
    if weight.dim() != 2:
        raise ValueError(f"{c.where}: weight must be 2-D [out, in], got {list(weight.shape)}")
    lin = Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        lin.weight.copy_(weight)
        if lin.bias is not None:
            lin.bias.copy_(torch.as_tensor(np.asarray(bias)).reshape(-1))
    return [lin]


def _import_conv(node: Any, c: _Ctx) -> list[nn.Module]:
    weight = torch.as_tensor(np.asarray(node.weight))
    padding = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
    conv = Conv2d(
        weight.shape[1] * int(node.groups),
        weight.shape[0],
        _ints(weight.shape[2:]),
        stride=_ints(node.stride),
        padding=padding if isinstance(padding, str) else _ints(padding),
        dilation=_ints(node.dilation),
        groups=int(node.groups),
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(  # type: ignore[union-attr]
            torch.as_tensor(np.asarray(node.bias)).reshape(-1)
        )
    return [conv]


def _import_pool(node: Any, c: _Ctx) -> list[nn.Module]:
    k, s, p = (
        tuple(int(v) for v in _pair(x)) for x in (node.kernel_size, node.stride, node.padding)
    )
    divisor = 1 if type(node).__name__ == "SumPool2d" else None
    return [AvgPool2d(k, s, p, divisor_override=divisor)]  # type: ignore[arg-type]


def _import_flatten(node: Any, c: _Ctx) -> list[nn.Module]:
    out = node.output_type.get("output") if node.output_type else None
    full = out is not None and len(np.asarray(out)) == 1
    if not full and not (out is None and node.start_dim == 0 and node.end_dim == -1):
        raise ValueError(
            f"{c.where}: only a Flatten of all dimensions (start_dim=0, end_dim=-1) is "
            f"supported, got start_dim={node.start_dim}, end_dim={node.end_dim}"
        )
    return [Flatten()]


def _import_builtins(reg: ConverterRegistry[Importer]) -> None:
    nir = _nir()
    for key, fn in (
        (nir.LIF, _import_lif),
        (nir.IF, _import_if),
        (nir.Affine, _import_affine),
        (nir.Linear, _import_affine),
        (nir.Conv2d, _import_conv),
        (nir.AvgPool2d, _import_pool),
        (nir.SumPool2d, _import_pool),
        (nir.Flatten, _import_flatten),
        (nir.NIRGraph, _import_subgraph),
    ):
        reg.register(key, fn)


IMPORTERS: ConverterRegistry[Importer] = ConverterRegistry("NIR → neurosim", _import_builtins)


def _cycles(graph: Any) -> dict[str, str]:
    """``{neuron: weight}`` for each Linear/Affine node on a cycle ``neuron → weight →
    neuron`` (its only input and only output are the same other node)."""
    nir = _nir()
    ins: dict[str, list[str]] = {}
    outs: dict[str, list[str]] = {}
    for a, b in graph.edges:
        outs.setdefault(str(a), []).append(str(b))
        ins.setdefault(str(b), []).append(str(a))
    rec: dict[str, str] = {}
    for key, node in graph.nodes.items():
        src = ins.get(key, [])
        cyclic = len(src) == 1 and src[0] != key and outs.get(key) == src
        if cyclic and isinstance(node, (nir.Affine, nir.Linear)):
            if src[0] in rec:
                raise ValueError(
                    f"node {src[0]!r} has two recurrent weight nodes {rec[src[0]]!r} and "
                    f"{key!r}; from_nir reads one"
                )
            rec[src[0]] = key
    return rec


def _chain(graph: Any) -> tuple[list[str], dict[str, str]]:
    """Node keys from the single Input to the single Output, and ``_cycles(graph)`` (the
    recurrent weight node of each neuron that has one); ``ValueError`` for other shapes."""
    nir = _nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"from_nir needs exactly one Input node, got {inputs}")
    rec = _cycles(graph)
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        if str(a) not in rec.values() and str(b) not in rec.values():
            succ.setdefault(str(a), []).append(str(b))
    chain = [inputs[0]]
    while not isinstance(graph.nodes[chain[-1]], nir.Output):
        nxt = succ.get(chain[-1], [])
        if len(nxt) != 1:
            raise ValueError(
                f"from_nir supports chains only; node {chain[-1]!r} has successors {nxt}"
            )
        if nxt[0] in chain:
            raise ValueError(
                f"from_nir supports chains only; edge {chain[-1]!r} → {nxt[0]!r} "
                "closes a cycle (recurrence)"
            )
        chain.append(nxt[0])
    if len(chain) + len(rec) != len(graph.nodes):
        extra = sorted(set(graph.nodes) - set(chain) - set(rec.values()))
        raise ValueError(f"from_nir: nodes {extra} are not on the Input → Output chain")
    return chain, rec


def _shape(t: Any, key: str) -> tuple[int, ...]:
    v = t.get(key) if t else None
    if isinstance(v, dict):  # a NIRGraph node's types are nested per Input/Output node
        return ()
    return () if v is None else tuple(int(d) for d in np.asarray(v).reshape(-1))


def _check_sizes(graph: Any, prev: str, key: str) -> None:
    """``ValueError`` when ``key`` takes a different number of values per sample than
    ``prev`` gives (checked where both nodes state their types)."""
    given = _shape(graph.nodes[prev].output_type, "output")
    taken = _shape(graph.nodes[key].input_type, "input")
    if given and taken and math.prod(given) != math.prod(taken):
        raise ValueError(
            f"node {key!r} ({type(graph.nodes[key]).__name__}) takes input of shape "
            f"{list(taken)}, but node {prev!r} gives {list(given)}"
        )


def _meta(graph: Any, key: str) -> Any:
    value = graph.metadata.get(key)
    return value.decode() if isinstance(value, bytes) else value  # nir.read gives bytes


def from_nir(graph: Any, dt: float | None = None, method: Method | None = None) -> Sequential:
    """A neurosim ``Sequential`` from a chain-shaped ``nir.NIRGraph`` (see module docs);
    a LIF node with a Linear/Affine cycle (flat or as a nested subgraph) is a RecurrentLIF.

    dt: step in seconds (default: ``graph.metadata["dt"]``, written by ``to_nir``).
    method: ``"exact"`` (β = exp(−dt/τ)) or ``"euler"`` (β = 1 − dt/τ); default: the
    graph's metadata ``"method"``, else ``"exact"``.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir expects a nir.NIRGraph, got {type(graph).__name__}")
    method = method or _meta(graph, "method") or "exact"
    _check_method(method)
    if dt is None:
        if _meta(graph, "dt") is None:
            raise ValueError("the graph has no metadata 'dt'; pass dt= (seconds per step)")
        dt = float(_meta(graph, "dt"))
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt={dt!r} is not valid; expected seconds > 0")
    layers: list[nn.Module] = []
    chain, rec = _chain(graph)
    for prev, key in itertools.pairwise(chain):
        _check_sizes(graph, prev, key)
        if key == chain[-1]:
            break
        node = graph.nodes[key]
        where = f"node {key!r} ({type(node).__name__})"
        out = _shape(node.output_type, "output")
        ctx = _Ctx(where, _shape(node.input_type, "input"), out, dt, method, layers)
        if key in rec:
            w_rec = graph.nodes[rec[key]]
            layers += _import_recurrent(
                node, w_rec, ctx, f"node {rec[key]!r} ({type(w_rec).__name__})"
            )
            continue
        convert = IMPORTERS.lookup(type(node))
        if convert is None:
            raise ValueError(
                f"{where} is not supported by from_nir; supported: "
                f"{', '.join(IMPORTERS.supported())}"
            )
        layers += convert(node, ctx)
    if not layers:
        raise ValueError("from_nir: the graph has no nodes between Input and Output")
    return Sequential(*layers)
