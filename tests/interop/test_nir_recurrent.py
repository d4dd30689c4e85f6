"""to_nir / from_nir with RecurrentLIF: the cycle ``lif → w_rec → lif`` (one-step delay), the
input gain folded into the recurrent weights, graphs written with nir's own API (flat and
snnTorch's nested form) checked against hand-built nets and a float64 numpy simulation."""

from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch

import neurosim as ns
from neurosim.interop import from_nir, to_nir

pytestmark = pytest.mark.interop

T, B, DT = 30, 3, 1e-3


def _spikes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < 0.3).float()


def _net(bias: bool, seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    net = ns.Sequential(
        ns.Linear(10, 12),
        ns.RecurrentLIF(
            12,
            bias=bias,
            tau_mem=torch.linspace(4e-3, 30e-3, 12),
            v_th=torch.linspace(0.6, 1.2, 12),
        ),
        ns.Linear(12, 4, bias=False),
        ns.LIF(tau_mem=8e-3),
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net[0].weight.copy_(torch.randn(12, 10, generator=g) * 0.8)
        net[1].recurrent.weight.copy_(torch.randn(12, 12, generator=g) * 0.6)
        if bias:
            net[1].recurrent.bias.copy_(torch.rand(12, generator=g) * 0.1)
        net[2].weight.copy_(torch.randn(4, 12, generator=g) * 1.2)
    return net


def _assert_same(a: ns.Sequential, b: ns.Sequential) -> None:
    assert [type(x) for x in a] == [type(x) for x in b]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].shape == sb[k].shape, k
        assert torch.equal(sa[k], sb[k]), (k, (sa[k] - sb[k]).abs().max())
    for x, y in zip(a, b, strict=True):
        if isinstance(x, ns.LIF):
            assert (x.dt, x.reset, x.reset_timing) == (y.dt, y.reset, y.reset_timing)


def _recurrence_matters(net: ns.Sequential, x: torch.Tensor) -> None:
    """The recurrent weights change the spikes (so a test comparing spikes can fail)."""
    cut = copy.deepcopy(net)
    with torch.no_grad():
        for m in cut:
            if isinstance(m, ns.RecurrentLIF):
                m.recurrent.weight.zero_()
    assert not torch.equal(cut.run(x).activity[1].output, net.run(x).activity[1].output)


@pytest.mark.parametrize(("bias", "method"), [(False, "exact"), (True, "euler")])
def test_recurrent_round_trip(bias: bool, method: str, tmp_path: object) -> None:
    net = _net(bias, 0)
    graph = to_nir(net, method=method)  # type: ignore[arg-type]
    lif, rec = "1_recurrentlif.lif", "1_recurrentlif.w_rec"
    assert list(graph.nodes) == ["input", "0_linear", lif, rec, "2_linear", "3_lif", "output"]
    assert sorted(graph.edges) == sorted(
        [("input", "0_linear"), ("0_linear", lif), (lif, "2_linear"), ("2_linear", "3_lif"),
         ("3_lif", "output"), (lif, rec), (rec, lif)]
    )  # fmt: skip
    assert isinstance(graph.nodes[lif], nir.LIF)
    assert isinstance(graph.nodes[rec], nir.Affine if bias else nir.Linear)
    np.testing.assert_array_equal(graph.nodes[rec].weight, net[1].recurrent.weight.detach())
    np.testing.assert_allclose(graph.nodes[lif].r * DT / graph.nodes[lif].tau, 1.0, rtol=1e-12)
    x = _spikes(10, 0)
    for back in (from_nir(graph), from_nir(nir.read(_write(graph, tmp_path)))):
        _assert_same(net, back)
        run = back.run(x)
        assert all(0.01 < a.output.mean().item() < 0.9 for a in run.spiking_layers())
        assert torch.equal(run.output, net(x))
    _recurrence_matters(net, x)


def _write(graph: object, tmp_path: object) -> str:
    path = f"{tmp_path}/rec.nir"
    nir.write(path, graph)
    return path


def _nir_parts(seed: int) -> dict[str, np.ndarray]:
    g = np.random.default_rng(seed)
    tau = np.linspace(5e-3, 20e-3, 12)
    return {
        "w1": g.normal(0, 0.5, (12, 10)).astype(np.float32),
        "b1": g.uniform(0, 0.05, 12).astype(np.float32),
        "wr": g.normal(0, 0.4, (12, 12)).astype(np.float32),
        "br": g.uniform(0, 0.05, 12).astype(np.float32),
        "w2": g.normal(0, 0.8, (4, 12)).astype(np.float32),
        "tau": tau,
        "vth": np.full(12, 0.9),
    }


def _flat_graph(p: dict[str, np.ndarray], gain: np.ndarray) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([10])),
            "fc1": nir.Affine(weight=p["w1"], bias=p["b1"]),
            "lif1.lif": nir.LIF(
                tau=p["tau"], r=gain * p["tau"] / DT, v_leak=np.zeros(12), v_threshold=p["vth"]
            ),
            "lif1.w_rec": nir.Affine(weight=p["wr"], bias=p["br"]),
            "fc2": nir.Linear(weight=p["w2"]),
            "if": nir.IF(r=np.full(4, 1 / DT), v_threshold=np.full(4, 1.1)),
            "out": nir.Output(output_type=np.array([4])),
        },
        edges=[
            ("in", "fc1"), ("fc1", "lif1.lif"), ("lif1.lif", "lif1.w_rec"),
            ("lif1.w_rec", "lif1.lif"), ("lif1.lif", "fc2"), ("fc2", "if"), ("if", "out"),
        ],
    )  # fmt: skip


def test_flat_graph_built_with_nir_api_matches_hand_built_net() -> None:
    p = _nir_parts(1)
    ours = from_nir(_flat_graph(p, np.full(12, 2.0)), dt=DT)  # input gain R·dt/τ = 2
    hand = ns.Sequential(
        ns.Linear(10, 12),
        ns.RecurrentLIF(12, bias=True, tau_mem=torch.tensor(p["tau"]), dt=DT, v_th=0.9),
        ns.Linear(12, 4, bias=False),
        ns.IF(v_th=1.1),
    )
    with torch.no_grad():  # the gain of 2 folded by hand into feed-forward and recurrent
        hand[0].weight.copy_(torch.from_numpy(2 * p["w1"]))
        hand[0].bias.copy_(torch.from_numpy(2 * p["b1"]))
        hand[1].recurrent.weight.copy_(torch.from_numpy(2 * p["wr"]))
        hand[1].recurrent.bias.copy_(torch.from_numpy(2 * p["br"]))
        hand[2].weight.copy_(torch.from_numpy(p["w2"]))
    _assert_same(hand, ours)
    x = _spikes(10, 1)
    run = ours.run(x)
    assert all(0.01 < a.output.mean().item() < 0.9 for a in run.spiking_layers())
    assert torch.equal(run.output, hand(x))
    _recurrence_matters(ours, x)


def _numpy_reference(p: dict[str, np.ndarray], gain: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The recurrent layer's spikes by hand (float64): I[t] = W1·x[t] + b1 + Wr·s[t−1] + br,
    h[t] = β·(v[t−1] − s[t−1]·v_th) + (R·dt/τ)·I[t], s[t] = h[t] > v_th, s[−1] = 0."""
    beta = np.exp(-DT / p["tau"])
    w1, b1, wr, br = (p[k].astype(np.float64) for k in ("w1", "b1", "wr", "br"))
    v = np.zeros((x.shape[1], 12))
    s = np.zeros_like(v)
    out = []
    for x_t in x:
        current = x_t @ w1.T + b1 + s @ wr.T + br
        v = beta * (v - s * p["vth"]) + gain * current
        s = (v > p["vth"]).astype(np.float64)
        out.append(s)
    return np.stack(out)


@pytest.mark.parametrize("nested", [False, True])
def test_recurrent_spikes_match_numpy_reference(nested: bool) -> None:
    """Per-neuron input gains (R varies) reach the recurrent current as well; the nested
    form (snnTorch's RLeaky export: a NIRGraph node holding the cycle) reads the same."""
    p = _nir_parts(2)
    gain = np.linspace(1.0, 3.0, 12)
    graph = _flat_graph(p, gain)
    if nested:
        sub = nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type=np.array([12])),
                "lif": graph.nodes["lif1.lif"],
                "w_rec": graph.nodes["lif1.w_rec"],
                "output": nir.Output(output_type=np.array([12])),
            },
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        )
        graph = nir.NIRGraph(
            nodes={k: v for k, v in graph.nodes.items() if not k.startswith("lif1.")}
            | {"lif1": sub},
            edges=[("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "if"), ("if", "out")],
        )
    net = from_nir(graph, dt=DT).double()
    assert isinstance(net[1], ns.RecurrentLIF)
    x = _spikes(10, 2).double()
    spikes = net.run(x).activity[1].output.detach()
    expected = _numpy_reference(p, gain, x.numpy())
    assert 0.05 < expected.mean() < 0.9
    np.testing.assert_array_equal(spikes.numpy(), expected)


def _lif(n: int, r: float = 10.0) -> nir.LIF:
    return nir.LIF(
        tau=np.full(n, 0.01), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.ones(n)
    )


def _cycle(neuron: object, rec: object) -> nir.NIRGraph:
    n = 4
    return nir.NIRGraph(
        nodes={"in": nir.Input(np.array([3])), "fc": nir.Linear(np.ones((n, 3))),
               "l": neuron, "w": rec, "out": nir.Output(np.array([n]))},
        edges=[("in", "fc"), ("fc", "l"), ("l", "w"), ("w", "l"), ("l", "out")],
    )  # fmt: skip


def test_recurrent_shape_errors_name_the_nodes() -> None:
    with pytest.raises(ValueError, match=r"node 'w' \(Linear\).*node 'l' \(LIF\).*\[4, 3\]"):
        from_nir(_cycle(_lif(4), nir.Linear(np.ones((4, 3)))), dt=DT)
    with pytest.raises(ValueError, match=r"node 'w' \(Linear\): weight \[5, 5\].*4 neurons of "):
        from_nir(_cycle(_lif(4), nir.Linear(np.ones((5, 5)))), dt=DT)
    with pytest.raises(ValueError, match=r"node 'w' \(Affine\).*bias \[3\].*expected \[4, 4\]"):
        from_nir(_cycle(_lif(4), nir.Affine(np.ones((4, 4)), np.zeros(3))), dt=DT)
    if_node = nir.IF(r=np.full(4, 1 / DT), v_threshold=np.ones(4))
    with pytest.raises(ValueError, match=r"node 'l' \(IF\) has a recurrent edge through node 'w'"):
        from_nir(_cycle(if_node, nir.Linear(np.ones((4, 4)))), dt=DT)
    bad_sub = nir.NIRGraph.from_list(nir.Linear(np.ones((4, 4))))
    graph = nir.NIRGraph.from_list(nir.Linear(np.ones((4, 3))), bad_sub)
    with pytest.raises(ValueError, match=r"node 'nirgraph' \(NIRGraph\): .* recurrent LIF"):
        from_nir(graph, dt=DT)


def test_recurrent_gain_needs_a_weight_before_the_neuron() -> None:
    """The gain R·dt/τ = 2 cannot be folded when the neuron reads the Input directly."""
    graph = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([4])), "l": _lif(4, r=20.0),
               "w": nir.Linear(np.ones((4, 4))), "out": nir.Output(np.array([4]))},
        edges=[("in", "l"), ("l", "w"), ("w", "l"), ("l", "out")],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"node 'l' \(LIF\): input gain"):
        from_nir(graph, dt=DT)
    graph.nodes["l"] = _lif(4)  # gain 1: the neuron may read the input directly
    net = from_nir(graph, dt=DT)
    assert isinstance(net[0], ns.RecurrentLIF)
    assert net[0].n == 4


def test_recurrent_export_refuses_other_resets() -> None:
    with pytest.raises(ValueError, match=r"layer 1 \(RecurrentLIF\): reset='zero'"):
        to_nir(ns.Sequential(ns.Linear(3, 2), ns.RecurrentLIF(2, reset="zero")))
