"""to_nir / from_nir: parameters and outputs survive the round trip (in memory and through a
NIR file); graphs written with nir's own API load and match hand-built neurosim networks."""

from __future__ import annotations

import math
import sys

import nir
import numpy as np
import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.interop import from_nir, to_nir
from neurosim.interop.nir import EXPORTERS, IMPORTERS

pytestmark = pytest.mark.interop

T, B, DT = 25, 3, 1e-3


def _scale(net: ns.Sequential, seed: int, gain: float = 2.5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.1)


def _spikes(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < 0.3).float()


def _dense() -> ns.Sequential:
    return ns.Sequential(
        ns.Linear(10, 12),
        ns.LIF(tau_mem=torch.linspace(4e-3, 30e-3, 12), v_th=torch.linspace(0.6, 1.2, 12)),
        ns.Linear(12, 5, bias=False),
        ns.IF(v_th=0.9),
        ns.Linear(5, 4),
        ns.LIF(tau_mem=8e-3),
    )


def _conv() -> ns.Sequential:
    return ns.Sequential(
        ns.Conv2d(2, 4, 3, padding=1),
        ns.IF(v_th=0.8),
        ns.AvgPool2d(2),
        ns.Conv2d(4, 6, 3, stride=1),
        ns.LIF(tau_mem=10e-3),
        ns.AvgPool2d(2, divisor_override=1),  # sum pooling
        ns.Flatten(),
        ns.Linear(24, 5),
        ns.LIF(tau_mem=5e-3),
    )


def _assert_same_net(a: ns.Sequential, b: ns.Sequential) -> None:
    assert [type(x) for x in a] == [type(x) for x in b]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].shape == sb[k].shape, k
        assert torch.equal(sa[k], sb[k]), (k, (sa[k] - sb[k]).abs().max())
    for x, y in zip(a, b, strict=True):
        if isinstance(x, ns.LIF | ns.IF):
            assert (x.reset, x.reset_timing, x.v_reset) == (y.reset, y.reset_timing, y.v_reset)
        if isinstance(x, ns.LIF):
            assert x.dt == y.dt
        if isinstance(x, ns.AvgPool2d):
            pairs = [(x.kernel_size, y.kernel_size), (x.stride, y.stride)]
            assert all(
                np.array_equal(np.broadcast_to(p, 2), np.broadcast_to(q, 2)) for p, q in pairs
            )
            assert x.divisor_override == y.divisor_override


def _active(net: ns.Sequential, x: torch.Tensor) -> torch.Tensor:
    run = net.run(x)
    for a in run.spiking_layers():
        assert 0.01 < a.output.mean().item() < 0.9, a.name  # every layer fires, not always
    return run.output


@pytest.mark.parametrize("method", ["exact", "euler"])
def test_dense_round_trip(method: str) -> None:
    torch.manual_seed(0)
    net = _dense()
    _scale(net, 0)
    graph = to_nir(net, method=method)  # type: ignore[arg-type]
    assert list(graph.nodes) == [
        "input", "0_linear", "1_lif", "2_linear", "3_if", "4_linear", "5_lif", "output"
    ]  # fmt: skip
    assert isinstance(graph.nodes["0_linear"], nir.Affine)
    assert isinstance(graph.nodes["2_linear"], nir.Linear)  # no bias
    back = from_nir(graph)
    _assert_same_net(net, back)
    x = _spikes((10,), 0)
    assert torch.equal(_active(back, x), _active(net, x))


def test_exported_time_constants() -> None:
    net = _dense()
    beta = net[1].beta.double().numpy()
    exact = to_nir(net).nodes["1_lif"]
    np.testing.assert_allclose(exact.tau, -DT / np.log(beta), rtol=1e-15)
    np.testing.assert_allclose(exact.tau, np.linspace(4e-3, 30e-3, 12), rtol=1e-6)
    np.testing.assert_allclose(exact.r, exact.tau / DT, rtol=1e-15)  # input gain R·dt/τ = 1
    np.testing.assert_array_equal(exact.v_leak, 0.0)
    euler = to_nir(net, method="euler").nodes["1_lif"]
    np.testing.assert_allclose(euler.tau, DT / (1 - beta), rtol=1e-12)
    if_node = to_nir(net).nodes["3_if"]
    assert isinstance(if_node, nir.IF)
    np.testing.assert_allclose(if_node.r, np.full(5, 1 / DT))
    np.testing.assert_allclose(if_node.v_threshold, np.full(5, 0.9), rtol=1e-7)


def test_conv_round_trip() -> None:
    torch.manual_seed(1)
    net = _conv()
    _scale(net, 1)
    graph = to_nir(net, input_shape=(2, 12, 12))
    assert isinstance(graph.nodes["2_avgpool2d"], nir.AvgPool2d)
    assert isinstance(graph.nodes["5_avgpool2d"], nir.SumPool2d)
    back = from_nir(graph)
    _assert_same_net(net, back)
    x = _spikes((2, 12, 12), 1)
    assert torch.equal(_active(back, x), _active(net, x))


def test_file_round_trip(tmp_path: object) -> None:
    torch.manual_seed(2)
    net = _conv()
    _scale(net, 2)
    path = f"{tmp_path}/net.nir"
    nir.write(path, to_nir(net, input_shape=(2, 12, 12), dt=DT))
    back = from_nir(nir.read(path))  # dt and method come from the file's metadata
    _assert_same_net(net, back)
    x = _spikes((2, 12, 12), 2)
    assert torch.equal(back(x), net(x))


def test_graph_built_with_nir_api_matches_hand_built_net() -> None:
    g = np.random.default_rng(3)
    w1 = g.normal(0, 0.6, (12, 10)).astype(np.float32)
    b1 = g.uniform(0, 0.05, 12).astype(np.float32)
    w2 = g.normal(0, 0.8, (4, 12)).astype(np.float32)
    tau = np.linspace(5e-3, 20e-3, 12)
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([10])),
            "fc1": nir.Affine(weight=w1, bias=b1),
            "lif": nir.LIF(
                tau=tau, r=2 * tau / DT, v_leak=np.zeros(12), v_threshold=np.full(12, 0.9)
            ),  # input gain R·dt/τ = 2
            "fc2": nir.Linear(weight=w2),
            "if": nir.IF(r=np.full(4, 1 / DT), v_threshold=np.full(4, 1.1)),
            "out": nir.Output(output_type=np.array([4])),
        },
        edges=[("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "if"), ("if", "out")],
    )
    ours = from_nir(graph, dt=DT)
    hand = ns.Sequential(
        ns.Linear(10, 12),
        ns.LIF(tau_mem=torch.tensor(tau), dt=DT, v_th=0.9),
        ns.Linear(12, 4, bias=False),
        ns.IF(v_th=1.1),
    )
    with torch.no_grad():
        hand[0].weight.copy_(torch.from_numpy(2 * w1))  # the gain of 2, folded by hand
        hand[0].bias.copy_(torch.from_numpy(2 * b1))
        hand[2].weight.copy_(torch.from_numpy(w2))
    _assert_same_net(hand, ours)
    x = _spikes((10,), 3)
    assert torch.equal(_active(ours, x), hand(x))


def test_conv_graph_built_with_nir_api_matches_hand_built_net() -> None:
    g = np.random.default_rng(4)
    w = g.normal(0, 0.5, (3, 1, 3, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)
    wf = g.normal(0, 0.5, (2, 3 * 4 * 4)).astype(np.float32)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([1, 8, 8])),
        nir.Conv2d((8, 8), w, stride=1, padding=1, dilation=1, groups=1, bias=b),
        nir.IF(r=np.full((3, 8, 8), 1 / DT), v_threshold=np.full((3, 8, 8), 0.5)),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.zeros(2)),
        nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0),
        nir.Affine(weight=wf, bias=np.zeros(2, np.float32)),
        nir.LIF(
            tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2)
        ),
    )  # fmt: skip
    ours = from_nir(graph, dt=DT)
    hand = ns.Sequential(
        ns.Conv2d(1, 3, 3, padding=1),
        ns.IF(v_th=0.5),
        ns.AvgPool2d(2, divisor_override=1),
        ns.Flatten(),
        ns.Linear(48, 2),
        ns.LIF(tau_mem=0.01, dt=DT),
    )
    with torch.no_grad():
        hand[0].weight.copy_(torch.from_numpy(w))
        hand[0].bias.zero_()
        hand[4].weight.copy_(torch.from_numpy(wf))
        hand[4].bias.zero_()
    _assert_same_net(hand, ours)
    x = _spikes((1, 8, 8), 4)
    assert torch.equal(_active(ours, x), hand(x))


@pytest.mark.parametrize("kind", ["LIF", "IF"])
def test_membrane_follows_nir_continuous_time_solution(kind: str) -> None:
    """A constant current I (the Affine's bias) into NIR's ODE, τ dv/dt = −v + R·I, gives
    v(t) = R·I·(1 − exp(−t/τ)) (IF: v(t) = R·I·t); the imported net at dt = τ/1000 follows
    it to O(dt/τ)."""
    tau, r, current, steps = 10e-3, 3.0, 0.5, 2000
    dt = tau / 1000
    huge = np.ones(1) * 1e9  # no spikes: sub-threshold dynamics only
    neuron = (
        nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1), v_threshold=huge)
        if kind == "LIF"
        else nir.IF(r=np.array([r]), v_threshold=huge)
    )
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([1])),
        nir.Affine(weight=np.zeros((1, 1)), bias=np.array([current])),
        neuron,
    )
    net = from_nir(graph, dt=dt).double()
    mem = net.run(torch.zeros(steps, 1, 1, dtype=torch.float64), record_membrane=True).membranes[1]
    t = (torch.arange(steps, dtype=torch.float64) + 1) * dt  # the membrane at the end of step t
    if kind == "LIF":
        expected = r * current * (1 - torch.exp(-t / tau))
        torch.testing.assert_close(mem.flatten(), expected, rtol=1e-3, atol=0)
    else:
        # exact up to the float32 rounding of the folded bias R·dt·I
        torch.testing.assert_close(mem.flatten(), r * current * t, rtol=1e-6, atol=0)


def test_unsupported_layers_and_nodes_are_named() -> None:
    with pytest.raises(ValueError, match=r"layer 2 \(MaxPool2d\) has no NIR form"):
        to_nir(ns.Sequential(ns.Conv2d(1, 2, 3), ns.IF(), ns.MaxPool2d(2)), input_shape=(1, 6, 6))
    with pytest.raises(ValueError, match=r"layer 1 \(LIF\): reset='zero'"):
        to_nir(ns.Sequential(ns.Linear(3, 2), ns.LIF(reset="zero")))
    with pytest.raises(ValueError, match=r"layer 1 \(LIF\).*reset_timing='delayed'"):
        to_nir(ns.Sequential(ns.Linear(3, 2), ns.LIF(reset_timing="delayed")))
    with pytest.raises(ValueError, match=r"layer 1 \(RecurrentLIF\): reset='zero'"):
        to_nir(ns.Sequential(ns.Linear(3, 2), ns.RecurrentLIF(2, reset="zero")))
    with pytest.raises(ValueError, match="input_shape"):
        to_nir(ns.Sequential(ns.Conv2d(1, 2, 3), ns.IF()))
    cuba = nir.CubaLIF(
        tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2), v_leak=np.zeros(2),
        v_threshold=np.ones(2),
    )  # fmt: skip
    graph = nir.NIRGraph.from_list(nir.Affine(np.ones((2, 3)), np.zeros(2)), cuba)
    with pytest.raises(ValueError, match=r"node 'cubalif' \(CubaLIF\) is not supported.*LIF"):
        from_nir(graph, dt=DT)
    with pytest.raises(ValueError, match="metadata 'dt'"):
        from_nir(graph)
    leak = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.ones(2), v_threshold=np.ones(2))
    with pytest.raises(ValueError, match="v_leak must be 0"):
        from_nir(nir.NIRGraph.from_list(nir.Affine(np.ones((2, 3)), np.zeros(2)), leak), dt=DT)


def test_branches_and_cycles_are_refused() -> None:
    aff = nir.Affine(np.ones((2, 2)), np.zeros(2))
    lif = nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    nodes = {"in": nir.Input(np.array([2])), "a": aff, "l": lif, "out": nir.Output(np.array([2]))}
    cycle = nir.NIRGraph(nodes, [("in", "a"), ("a", "l"), ("l", "a")])
    with pytest.raises(ValueError, match="cycle"):
        from_nir(cycle, dt=DT)
    branch = nir.NIRGraph(nodes, [("in", "a"), ("a", "l"), ("a", "out"), ("l", "out")])
    with pytest.raises(ValueError, match="chains only"):
        from_nir(branch, dt=DT)


@pytest.mark.parametrize("r", [10.0, 20.0])  # input gain R·dt/τ = 1 (nothing folded) or 2
def test_mismatched_node_sizes_are_named(r: float) -> None:
    """An Affine giving 4 values into a LIF of 5 neurons was loaded (gain 1: a 4-neuron LIF
    that ran; gain 2: a deep broadcasting RuntimeError); now a ValueError names both."""
    lif = nir.LIF(tau=np.full(5, 0.01), r=np.full(5, r), v_leak=np.zeros(5), v_threshold=np.ones(5))
    graph = nir.NIRGraph.from_list(nir.Affine(np.ones((4, 3)), np.zeros(4)), lif)
    with pytest.raises(ValueError, match=r"node 'lif' \(LIF\) takes input of shape \[5\], but "):
        from_nir(graph, dt=DT)
    out = nir.NIRGraph(
        {"in": nir.Input(np.array([3])), "fc": nir.Linear(np.ones((4, 3))),
         "out": nir.Output(np.array([6]))},
        [("in", "fc"), ("fc", "out")],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"node 'out' \(Output\) .* node 'fc' gives \[4\]"):
        from_nir(out, dt=DT)


def test_registries_reject_duplicates() -> None:
    with pytest.raises(ValueError, match="already registered"):
        EXPORTERS.register(ns.Linear, lambda m, c: None)
    with pytest.raises(ValueError, match="already registered"):
        IMPORTERS.register(nir.LIF, lambda n, c: [])
    assert "CubaLIF" not in IMPORTERS.supported()


def test_missing_nir_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match=r'pip install "neurosim\[nir\]"'):
        to_nir(_dense())


def test_euler_decay() -> None:
    lif = nir.LIF(
        tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.ones(2)
    )
    graph = nir.NIRGraph.from_list(nir.Affine(np.ones((2, 3)), np.zeros(2)), lif)
    assert float(from_nir(graph, dt=DT, method="euler")[1].beta) == pytest.approx(0.9)
    assert float(from_nir(graph, dt=DT)[1].beta) == pytest.approx(math.exp(-0.1))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_same_padding_is_written_as_numbers(tmp_path: object) -> None:
    torch.manual_seed(5)
    net = ns.Sequential(
        ns.Conv2d(1, 2, 3, padding="same"), ns.IF(), ns.Flatten(), ns.Linear(72, 3), ns.LIF()
    )
    graph = to_nir(net, input_shape=(1, 6, 6))
    assert tuple(graph.nodes["0_conv2d"].padding) == (1, 1)
    nir.write(f"{tmp_path}/same.nir", graph)
    back = from_nir(nir.read(f"{tmp_path}/same.nir"))
    x = _spikes((1, 6, 6), 5)
    assert torch.equal(back(x), net(x))
    with pytest.raises(ValueError, match="asymmetric"):
        to_nir(ns.Sequential(ns.Conv2d(1, 2, 2, padding="same"), ns.IF()), input_shape=(1, 4, 4))
