"""Operation counts against hand counts and a brute-force connection enumeration."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import neurosim as ns
from neurosim.energy import count, make_plan
from neurosim.energy.connectivity import fanout


def _counts(net: ns.Sequential, x: torch.Tensor, profile):  # type: ignore[no-untyped-def]
    run = net.run(x)
    return run, count(run, make_plan(run, profile))


def _brute_conv_fanout(conv: nn.Conv2d, c: int, h: int, w: int) -> torch.Tensor:
    """Enumerate every (output, kernel tap) pair and count the input it reads."""
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding  # type: ignore[misc]
    dh, dw = conv.dilation
    g = conv.groups
    cin_g, cout_g = c // g, conv.out_channels // g
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    fan = torch.zeros(c, h, w, dtype=torch.float64)
    for oc, oy, ox, ic, ky, kx in itertools.product(
        range(conv.out_channels), range(ho), range(wo), range(cin_g), range(kh), range(kw)
    ):
        if conv.weight[oc, ic, ky, kx] == 0:
            continue
        iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
        if 0 <= iy < h and 0 <= ix < w:
            fan[(oc // cout_g) * cin_g + ic, iy, ix] += 1
    return fan


@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    dil=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    size=st.integers(4, 7),
    seed=st.integers(0, 100),
)
def test_conv_fanout_equals_brute_force(
    k: int, stride: int, pad: int, dil: int, groups: int, size: int, seed: int
) -> None:
    torch.manual_seed(seed)
    conv = ns.Conv2d(2, 4, k, stride=stride, padding=pad, dilation=dil, groups=groups)
    if (size + 2 * pad - dil * (k - 1) - 1) < 0:
        return  # no output
    with torch.no_grad():
        conv.weight[torch.rand_like(conv.weight) < 0.3] = 0.0  # zero weights are excluded
    assert torch.equal(fanout(conv, (2, size, size)), _brute_conv_fanout(conv, 2, size, size))


def test_linear_synops_by_hand(make_profile) -> None:  # type: ignore[no-untyped-def]
    lin = ns.Linear(4, 3, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.weight[0, 1] = 0.0  # input 1 reaches 2 outputs, the others 3
        lin.weight[2, 3] = 0.0  # input 3 reaches 2 outputs
    net = ns.Sequential(lin, ns.LIF(v_th=100.0))
    x = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0, 1.0]]])  # T=2, B=1
    _, c = _counts(net, x, make_profile())
    assert c[0].synops.item() == 3 + 2 + 2 + 2
    assert c[0].macs.item() == 0
    assert c[0].dense_macs.item() == 2 * 4 * 3  # dense hardware multiplies zero weights too
    assert c[1].updates.item() == 2 * 3
    assert c[1].driven.item() == 6  # every neuron gets input at both steps


def test_analog_input_is_counted_as_macs_skipping_zeros(make_profile) -> None:  # type: ignore[no-untyped-def]
    lin = ns.Linear(3, 2)
    net = ns.Sequential(lin, ns.LIF())
    x = torch.tensor([[[0.5, 0.0, 0.25]]])
    _, c = _counts(net, x, make_profile())
    assert c[0].synops.item() == 0
    assert c[0].macs.item() == 2 * 2  # two nonzero inputs, fan-out 2 each
    assert c[0].dense_macs.item() == 3 * 2


def test_pooling_chain_pulls_fanout_back_to_the_spikes(make_profile) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    lif = ns.LIF(v_th=0.5)
    lin = ns.Linear(4, 5)
    net = ns.Sequential(nn.Identity(), lif, ns.AvgPool2d(2), ns.Flatten(), lin, ns.IF())
    x = torch.zeros(3, 2, 1, 4, 4)
    x[0, 0, 0, 0, 0] = 1.0  # one spike in pooling window (0, 0)
    x[1, 1, 0, 3, 3] = 1.0  # one in window (1, 1)
    x[2, 1, 0, 2, 2] = 1.0  # another in window (1, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.weight[:2, 0] = 0.0  # pooled unit 0 reaches 3 outputs
        lin.weight[0, 3] = 0.0  # pooled unit 3 reaches 4 outputs
    _, c = _counts(net, x, make_profile())
    assert c[1].spikes.item() == 3
    assert c[4].synops.item() == 3 + 4 + 4


def test_maxpool_events_are_counted_after_pooling(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = ns.Sequential(
        nn.Identity(),
        ns.LIF(v_th=0.5),
        ns.MaxPool2d(2),
        ns.Flatten(),
        ns.Linear(4, 3),
        ns.LIF(),
    )
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = 1.0  # two spikes, one pooled event
    _, c = _counts(net, x, make_profile())
    assert c[1].spikes.item() == 2
    assert c[2].spikes.item() == 1
    assert c[4].synops.item() == 3


def test_recurrent_synops_use_spikes_of_earlier_steps(make_profile) -> None:  # type: ignore[no-untyped-def]
    rec = ns.RecurrentLIF(3, v_th=0.5)
    with torch.no_grad():
        rec.recurrent.weight.copy_(
            torch.tensor([[0.0, 0.1, 0.0], [0.1, 0.0, 0.1], [0.0, 0.1, 0.0]])
        )
    net = ns.Sequential(nn.Identity(), rec)
    x = torch.zeros(3, 1, 3)
    x[0, 0, 0] = 1.0  # neuron 0 spikes at t=0 (fan-out 1), neuron 1 at t=2 (not sent on)
    x[2, 0, 1] = 1.0
    run, c = _counts(net, x, make_profile())
    assert run.output.sum().item() == 2
    assert c[1].synops.item() == 1
    assert c[1].driven.item() == 2 + 1  # inputs at t=0 and t=2, recurrence reaches n1 at t=1


def test_driven_and_idle_updates(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = ns.Sequential(nn.Identity(), ns.LIF())
    x = torch.zeros(4, 2, 5)
    x[1, 0, :2] = 0.3
    x[3, 1, 4] = 0.3
    _, c = _counts(net, x, make_profile())
    assert c[1].updates.item() == 4 * 2 * 5
    assert c[1].driven.item() == 3
    assert c[1].idle.item() == 40 - 3


def test_routing_by_hand(make_profile) -> None:  # type: ignore[no-untyped-def]
    # 4 neurons on cores of 2 (cores 0, 1), then 4 neurons (cores 2, 3); one core a tile,
    # mesh 2 tiles wide: core 0 (0,0), 1 (1,0), 2 (0,1), 3 (1,1).
    profile = make_profile(neurons_per_core=2, cores_per_tile=1, mesh_width=2)
    lin = ns.Linear(4, 4, bias=False)
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[0, 0] = 1.0  # source 0 (core 0) -> dest 0 (core 2): 1 packet, 1 y-hop
        lin.weight[3, 1] = 1.0  # source 1 (core 0) -> dest 3 (core 3): 1 packet, 1 x + 1 y
        lin.weight[2, 1] = 1.0  # ... and dest 2 (core 3): same packet
        lin.weight[0, 3] = 1.0  # source 3 (core 1) -> core 2 (1 x, 1 y) and core 3 (1 y)
        lin.weight[3, 3] = 1.0
    net = ns.Sequential(nn.Identity(), ns.LIF(v_th=0.5), lin, ns.LIF(v_th=100.0))
    x = torch.zeros(1, 1, 4)
    x[0, 0, [0, 1, 3]] = 1.0
    _, c = _counts(net, x, profile)
    assert c[1].spikes.item() == 3
    assert c[1].packets.item() == 1 + 1 + 2
    assert c[1].hops_x.item() == 0 + 1 + 1
    assert c[1].hops_y.item() == 1 + 1 + 2
    assert c[3].packets.item() == 0  # the last layer's spikes leave the chip


def test_unknown_layer_is_named(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = ns.Sequential(ns.Lifted(nn.BatchNorm1d(3)), ns.LIF())
    run = net.run(torch.rand(2, 4, 3))
    with pytest.raises(TypeError, match="no operation-counting rule for Lifted"):
        make_plan(run, make_profile())


def test_plan_from_other_input_shape_is_refused(make_profile) -> None:  # type: ignore[no-untyped-def]
    net = ns.Sequential(ns.Conv2d(1, 2, 3), ns.LIF())
    plan = make_plan(net.run(torch.rand(1, 1, 1, 5, 5)), make_profile())
    with pytest.raises(ValueError, match="make a plan for this input shape"):
        count(net.run(torch.rand(1, 1, 1, 6, 6)), plan)
