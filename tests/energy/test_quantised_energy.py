"""Quantised networks priced by bit width: hand counts, quantised < fp32 for the same
activity, penalty == estimate (also while quantised weights change their zeros)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.energy import EnergyPenalty, count, estimate, estimate_run, make_plan
from neurosim.energy.model import layer_terms
from neurosim.hardware import load
from neurosim.transforms import LayerBatchNorm, fold, quantize

# Horowitz, ISSCC 2014, 45 nm (pJ)
INT8_ADD, INT8_MULT, FP32_ADD, FP32_MULT = 0.03, 0.2, 0.9, 3.7


# --------------------------------------------------------------------------------------------
# networks


def _snn() -> ns.Sequential:
    torch.manual_seed(0)
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


def _x() -> torch.Tensor:
    return torch.rand(3, 2, 1, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("profile", ["asic45-fp32", "asic45-int8"])
def test_quantised_costs_less_for_the_same_activity(profile: str) -> None:
    net = _snn()
    low = copy.deepcopy(net)  # same weights, so the same spikes; only the bit widths differ
    for i, w_bits, a_bits in ((0, 2, 8), (4, 2, 1), (6, 2, 1)):
        low[i].weight_bits, low[i].act_bits = w_bits, a_bits
    x = _x()
    run_fp, run_q = net.run(x), low.run(x)
    p = load(profile)
    c_fp, c_q = count(run_fp, make_plan(run_fp, p)), count(run_q, make_plan(run_q, p))
    assert [c.as_floats() for c in c_fp] == [c.as_floats() for c in c_q]
    r_fp, r_q = estimate(net, x, p), estimate(low, x, p)
    assert r_q.total_pj < r_fp.total_pj
    # by hand, layer 4 (binary spikes in: synops), per inference (B = 2)
    syn4 = c_q[4].synops.item() / 2
    assert syn4 > 0
    want = syn4 * INT8_ADD * 2 / 8
    assert r_q.per_layer[4].terms_pj["synaptic"] == pytest.approx(want)
    assert r_q.per_layer[4].terms_pj["memory"] == pytest.approx(
        syn4 * 2 / 8 * p.e_weight_read_pj_per_byte.value
    )
    # layer 0: analog input, dense MACs at 2-bit weights × 8-bit inputs
    dense0 = c_q[0].dense_macs.item() / 2
    assert r_q.per_layer[0].terms_pj["dense"] == pytest.approx(
        dense0 * (INT8_MULT * 2 * 8 / 64 + INT8_ADD * 8 / 8)
    )


def test_binary_input_to_a_dense_layer_is_an_accumulate() -> None:
    torch.manual_seed(1)
    net = ns.Sequential(ns.Linear(6, 4), nn.ReLU(), ns.Linear(4, 3))
    x = torch.randn(2, 3, 6)
    p = load("asic45-fp32")
    run = net.run(x)
    base = layer_terms(count(run, make_plan(run, p))[2], p)["dense"].item()
    net[2].act_bits = 1
    run = net.run(x)
    acc = layer_terms(count(run, make_plan(run, p))[2], p)["dense"].item()
    assert acc == pytest.approx(base * FP32_ADD / (FP32_ADD + FP32_MULT))


@pytest.mark.parametrize("profile", ["asic45-fp32", "asic45-int8", "loihi"])
def test_penalty_equals_estimate_on_quantised_network(profile: str) -> None:
    torch.manual_seed(2)
    net = ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1),
        ns.Lifted(LayerBatchNorm(4)),
        nn.ReLU(),
        ns.AvgPool2d(2),
        ns.Flatten(),
        ns.Linear(64, 16),
        ns.Lifted(LayerBatchNorm(16)),
        nn.ReLU(),
        ns.Linear(16, 5),
    )
    x = _x()
    for states in (2, 5):
        q = quantize(net, states, states, input_bits=8)
        q(x)
        folded = fold(q.eval())
        run = folded.run(x)
        penalty = EnergyPenalty(profile, weight=1.0)(run).item()
        assert penalty == pytest.approx(estimate_run(run, profile).total_pj, rel=1e-9)
        assert estimate(folded, x, profile).total_pj == pytest.approx(penalty, rel=1e-9)


def test_penalty_follows_the_quantised_zero_pattern() -> None:
    """The penalty's cached plan is rebuilt when the zeros of the quantised weights move."""
    torch.manual_seed(3)
    net = quantize(ns.Sequential(ns.Linear(6, 8), ns.LIF(v_th=0.5), ns.Linear(8, 4)), 3)
    x = (torch.rand(4, 2, 6) > 0.5).float()
    penalty = EnergyPenalty("asic45-fp32", weight=1.0)
    penalty(net.run(x))
    zeros_before = (net[2].weight == 0).clone()
    with torch.no_grad():
        latent = net[2].parametrizations.weight.original
        latent.copy_(torch.randn(latent.shape, generator=torch.Generator().manual_seed(9)))
    assert not torch.equal(net[2].weight == 0, zeros_before)
    run = net.run(x)
    assert penalty(run).item() == pytest.approx(estimate_run(run, "asic45-fp32").total_pj)
