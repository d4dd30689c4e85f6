"""NIR graph → neurosim ``Sequential``: the node importers and ``from_nir`` (conventions in
the ``neurosim.interop.nir`` module docstring)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from neurosim.core.layers import AvgPool2d, Conv2d, Flatten, Linear
from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import IF, LIF, RecurrentLIF
from neurosim.interop.nir_common import (
    Context,
    Importer,
    Method,
    check_method,
    int_pair,
    int_tuple,
    load_nir,
)
from neurosim.interop.registry import ConverterRegistry

__all__ = ["IMPORTERS", "from_nir"]


def _tensor(a: Any) -> Tensor:
    """A NIR array as a default-dtype tensor; a uniform array collapses to a scalar."""
    t = torch.as_tensor(np.asarray(a, dtype=np.float64))
    if t.numel() > 0 and bool((t == t.reshape(-1)[0]).all()):
        t = t.reshape(-1)[0]
    return t.to(torch.get_default_dtype())


def _fold_gain(gain: np.ndarray, c: Context) -> None:
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


def _lif_beta(node: Any, c: Context) -> tuple[np.ndarray, np.ndarray]:
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


def _import_lif(node: Any, c: Context) -> list[nn.Module]:
    beta, gain = _lif_beta(node, c)
    _fold_gain(gain, c)
    return [LIF.from_beta(_tensor(beta), dt=c.dt, v_th=_tensor(node.v_threshold))]


def _import_recurrent(node: Any, rec: Any, c: Context, rec_where: str) -> list[nn.Module]:
    """A ``RecurrentLIF`` from the LIF ``node`` and the Linear/Affine ``rec`` on its cycle."""
    nir = load_nir()
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


def _import_subgraph(node: Any, c: Context) -> list[nn.Module]:
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
    inner = Context(
        f"node {key!r} ({type(lif).__name__}) of {c.where}", c.in_shape, out, c.dt, c.method,
        c.layers,
    )  # fmt: skip
    return _import_recurrent(lif, w_rec, inner, f"node {w_key!r} ({type(w_rec).__name__})")


def _import_if(node: Any, c: Context) -> list[nn.Module]:
    _fold_gain(np.asarray(node.r, dtype=np.float64) * c.dt, c)
    return [IF(v_th=_tensor(node.v_threshold))]


def _import_affine(node: Any, c: Context) -> list[nn.Module]:
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


def _import_conv(node: Any, c: Context) -> list[nn.Module]:
    weight = torch.as_tensor(np.asarray(node.weight))
    padding = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
    conv = Conv2d(
        weight.shape[1] * int(node.groups),
        weight.shape[0],
        int_tuple(weight.shape[2:]),
        stride=int_tuple(node.stride),
        padding=padding if isinstance(padding, str) else int_tuple(padding),
        dilation=int_tuple(node.dilation),
        groups=int(node.groups),
    )
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(  # type: ignore[union-attr]
            torch.as_tensor(np.asarray(node.bias)).reshape(-1)
        )
    return [conv]


def _import_pool(node: Any, c: Context) -> list[nn.Module]:
    k, s, p = (
        tuple(int(v) for v in int_pair(x)) for x in (node.kernel_size, node.stride, node.padding)
    )
    divisor = 1 if type(node).__name__ == "SumPool2d" else None
    return [AvgPool2d(k, s, p, divisor_override=divisor)]  # type: ignore[arg-type]


def _import_flatten(node: Any, c: Context) -> list[nn.Module]:
    out = node.output_type.get("output") if node.output_type else None
    full = out is not None and len(np.asarray(out)) == 1
    if not full and not (out is None and node.start_dim == 0 and node.end_dim == -1):
        raise ValueError(
            f"{c.where}: only a Flatten of all dimensions (start_dim=0, end_dim=-1) is "
            f"supported, got start_dim={node.start_dim}, end_dim={node.end_dim}"
        )
    return [Flatten()]


def _import_builtins(reg: ConverterRegistry[Importer]) -> None:
    nir = load_nir()
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
    nir = load_nir()
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
    nir = load_nir()
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
    nir = load_nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir expects a nir.NIRGraph, got {type(graph).__name__}")
    method = method or _meta(graph, "method") or "exact"
    check_method(method)
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
        ctx = Context(where, _shape(node.input_type, "input"), out, dt, method, layers)
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
