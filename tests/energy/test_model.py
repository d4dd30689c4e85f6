"""The energy model: formulas by hand, properties, reports."""

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import neurosim as ns
from neurosim.energy import (
    ann_baseline,
    compare,
    comparison_table,
    count,
    estimate,
    estimate_run,
    load_report,
    make_plan,
)
from neurosim.energy.model import layer_terms
from neurosim.hardware import HardwareProfile

CONSTANTS = [n for n in HardwareProfile.model_fields if n.startswith(("e_", "p_", "t_"))]


def _net(seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    return ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1),
        ns.LIF.from_beta(0.9, v_th=0.3),
        ns.AvgPool2d(2),
        ns.Flatten(),
        ns.Linear(64, 16),
        ns.LIF(v_th=0.2),
        ns.Linear(16, 5),
        ns.LIF(),
    )


def _x(seed: int, steps: int = 3) -> torch.Tensor:
    return torch.rand(steps, 2, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_terms_by_hand(make_profile) -> None:  # type: ignore[no-untyped-def]
    p = make_profile(
        e_synop_pj=2,
        e_mac_pj=3,
        e_neuron_driven_pj=5,
        e_neuron_idle_pj=7,
        e_spike_pj=11,
        e_packet_pj=13,
        e_hop_x_pj=17,
        e_hop_y_pj=19,
        e_weight_read_pj_per_byte=23,
        e_state_rw_pj_per_byte=29,
        weight_bits=16,
        state_bits=8,
    )
    net = _net(0)
    run = net.run(_x(0))
    counts = count(run, make_plan(run, p))
    for c in counts:
        t = layer_terms(c, p)
        assert t["synaptic"].item() == pytest.approx(2 * c.synops.item())
        assert t["dense"].item() == pytest.approx(3 * c.macs.item())
        want_neuron = 5 * c.driven.item() + 7 * c.idle.item() + 11 * c.spikes.item()
        assert t["neuron"].item() == pytest.approx(want_neuron)
        want_route = 13 * c.packets.item() + 17 * c.hops_x.item() + 19 * c.hops_y.item()
        assert t["routing"].item() == pytest.approx(want_route)
        want_mem = (c.synops + c.macs).item() * 2 * 23 + c.updates.item() * 2 * 1 * 29
        assert t["memory"].item() == pytest.approx(want_mem)
    report = estimate_run(run, p)
    assert report.total_pj == pytest.approx(
        sum(
            sum(
                layer_terms(c, p)[k].item()
                for k in ("synaptic", "dense", "neuron", "routing", "memory")
            )
            for c in counts
        )
        / 2
    )


def test_dense_hardware_prices_every_mac(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = ns.Sequential(ns.Linear(3, 2), ns.LIF())
    x = torch.tensor([[[0.5, 0.0, 0.25]]])
    skip = estimate(net, x, make_profile(e_mac_pj=1.0, skips_zero_inputs=True))
    dense = estimate(net, x, make_profile(e_mac_pj=1.0, skips_zero_inputs=False))
    assert skip.terms_pj["dense"] == 4.0
    assert dense.terms_pj["dense"] == 6.0


def test_latency_and_static_by_hand(make_profile) -> None:  # type: ignore[no-untyped-def]
    p = make_profile(t_synop_s=1e-9, t_neuron_s=2e-9, t_step_sync_s=1e-6, p_static_mw=10.0)
    lin = ns.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    net = ns.Sequential(nn.Identity(), ns.LIF(v_th=0.5), lin, ns.LIF(v_th=100.0))
    x = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])  # T=2, B=1: 3 spikes, 6 synops
    r = estimate(net, x, p)
    busy = 6 * 1e-9 + (4 + 4) * 2e-9  # synops + updates of both LIF layers (1 core each)
    assert r.run_time_s == pytest.approx(2 * 1e-6 + busy)
    assert r.static_pj == pytest.approx(10.0 * 1e-3 * r.run_time_s * 1e12)
    assert r.latency_per_step_s == pytest.approx(r.run_time_s / 2)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), field=st.sampled_from(CONSTANTS), value=st.floats(0.1, 50))
def test_energy_is_linear_in_each_constant(
    make_profile, seed: int, field: str, value: float
) -> None:  # type: ignore[no-untyped-def]
    base = {k: 1.0 for k in CONSTANTS if k.startswith(("e_", "p_"))}
    base |= {k: 1e-9 for k in CONSTANTS if k.startswith("t_")}
    run = _net(seed % 7).run(_x(seed))
    e = [
        estimate_run(run, make_profile(**(base | {field: v}))).total_pj
        for v in (0, value, 2 * value)
    ]
    assert e[2] - e[0] == pytest.approx(2 * (e[1] - e[0]), rel=1e-9, abs=1e-9)
    assert min(e) >= 0.0


def test_zero_spikes_cost_no_synaptic_or_routing_energy(make_profile) -> None:  # type: ignore[no-untyped-def]
    p = make_profile(e_synop_pj=1, e_packet_pj=1, e_hop_x_pj=1, e_hop_y_pj=1, neurons_per_core=8)
    net = ns.Sequential(nn.Identity(), ns.LIF(), ns.Linear(64, 16), ns.LIF(), ns.Linear(16, 4))
    r = estimate(net, torch.zeros(5, 3, 64), p)
    assert r.terms_pj["synaptic"] == 0.0
    assert r.terms_pj["routing"] == 0.0


def test_compare_equals_separate_estimates(make_profile) -> None:  # type: ignore[no-untyped-def]
    net, x = _net(1), _x(1)
    a = make_profile(name="a", e_synop_pj=1.0, e_neuron_idle_pj=2.0)
    b = make_profile(name="b", e_mac_pj=4.6, e_packet_pj=3.0, neurons_per_core=16)
    both = compare(net, x, [a, b])
    assert list(both) == ["a", "b"]
    assert both["a"].total_pj == estimate(net, x, a).total_pj
    assert both["b"].total_pj == estimate(net, x, b).total_pj
    assert comparison_table(both).row_count == 2


def test_report_json_round_trip(tmp_path: Path, make_profile) -> None:  # type: ignore[no-untyped-def]
    r = estimate(
        _net(2),
        _x(2),
        make_profile(e_synop_pj=0.9, e_mac_pj=4.6, p_static_mw=1.0, t_step_sync_s=1e-6),
    )
    r.save_json(tmp_path / "r.json")
    back = load_report(tmp_path / "r.json")
    assert back == r
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a neurosim energy report"):
        load_report(tmp_path / "bad.json")


def test_ann_baseline_is_dense_relu_net(make_profile) -> None:  # type: ignore[no-untyped-def]
    net, x = _net(3), _x(3, steps=4)
    ann, xa = ann_baseline(net, x)
    assert xa.shape == (1, *x.shape[1:])
    assert not any(isinstance(layer, ns.Neuron) for layer in ann)
    assert isinstance(ann[1], nn.ReLU)
    r = estimate(ann, xa, make_profile(e_mac_pj=1.0, skips_zero_inputs=False))
    # dense MACs = every connection once: conv 4·22·22 + linear 64·16 + 16·5
    assert r.terms_pj["dense"] == 4 * 22 * 22 + 64 * 16 + 16 * 5
    assert r.terms_pj["synaptic"] == 0.0


def test_estimate_leaves_training_mode_and_rejects_bad_input(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = _net(4)
    net.train()
    estimate(net, _x(4), make_profile())
    assert net.training
    with pytest.raises(ValueError, match="NaN"):
        estimate(net, torch.full((1, 1, 1, 8, 8), float("nan")), make_profile())
    with pytest.raises(TypeError, match="neurosim Sequential"):
        estimate(nn.Linear(2, 2), torch.zeros(1, 1, 2), make_profile())  # type: ignore[arg-type]


def test_dense_processor_pays_every_synapse_every_step(make_profile) -> None:  # type: ignore[no-untyped-def]
    rec = ns.RecurrentLIF(3, v_th=100.0)  # silent: no recurrent events
    net = ns.Sequential(nn.Identity(), ns.LIF(v_th=0.5), ns.Linear(4, 3), rec)
    x = torch.zeros(5, 2, 4)
    x[0, 0, 0] = 1.0  # a single input spike
    events = estimate(net, x, make_profile(e_synop_pj=1.0, event_driven=True))
    dense = estimate(net, x, make_profile(e_synop_pj=1.0, event_driven=False))
    assert events.terms_pj["synaptic"] == 3 / 2  # one spike, fan-out 3, per sample
    # 4·3 feed-forward synapses for 5 steps, 3·3 recurrent ones for 4 steps
    assert dense.terms_pj["synaptic"] == 4 * 3 * 5 + 3 * 3 * 4


def test_every_core_layer_type_is_priced(make_profile) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(5)
    net = ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1), ns.LIF(v_th=0.2), ns.MaxPool2d(2),
        ns.Conv2d(4, 4, 3, padding=1, groups=2), ns.IF(v_th=0.2), ns.AvgPool2d(2),
        ns.Flatten(), ns.Dropout(0.2), ns.Linear(16, 12), ns.S2NN(),
        ns.Linear(12, 8), ns.RecurrentLIF(8, v_th=0.3), ns.Linear(8, 6), nn.ReLU(),
        ns.Linear(6, 3),
    )  # fmt: skip
    p = make_profile(
        e_synop_pj=1,
        e_mac_pj=1,
        e_neuron_driven_pj=1,
        e_neuron_idle_pj=1,
        e_spike_pj=1,
        e_packet_pj=1,
        e_hop_x_pj=1,
        e_hop_y_pj=1,
        neurons_per_core=8,
    )
    report = estimate(net, _x(6, steps=3), p)
    kinds = {la.name: la.kind for la in report.per_layer}
    assert kinds["2.MaxPool2d"] == "pool"
    assert kinds["7.Dropout"] == "passthrough"
    assert kinds["9.S2NN"] == "neuron"
    assert kinds["13.ReLU"] == "activation"
    assert all(v >= 0 for la in report.per_layer for v in la.terms_pj.values())
    assert report.terms_pj["routing"] > 0
    assert report.terms_pj["synaptic"] > 0
