"""MaQD quantisers and ``quantize``: levels, idempotence, gradients, every layer type, errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import neurosim as ns
from neurosim.core.surrogate import Triangle, spike
from neurosim.transforms import LayerBatchNorm, QuantAct, quantize
from neurosim.transforms.quantize import (
    act_round_clip,
    bits_for,
    quantize_weight,
    round_clip,
)

FLOATS = st.lists(
    st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=40
)
STATES = st.integers(2, 17)
SCALES = st.sampled_from([0.25, 0.5, 1.0, 4.0 / 3.0, 2.0, 3.0])


# --------------------------------------------------------------------------------------------
# round-clip


@settings(max_examples=60, deadline=None)
@given(values=FLOATS, states=STATES, k=SCALES)
def test_round_clip_twice_equals_once(values: list[float], states: int, k: float) -> None:
    x = torch.tensor(values, dtype=torch.float64)
    once = round_clip(k * x, states) / k
    twice = round_clip(k * once, states) / k
    assert torch.equal(once, twice)
    a_once = act_round_clip(x, states, k)
    assert torch.equal(act_round_clip(a_once, states, k), a_once)


@settings(max_examples=60, deadline=None)
@given(values=FLOATS, states=STATES)
def test_round_clip_levels(values: list[float], states: int) -> None:
    x = torch.tensor(values, dtype=torch.float64)
    q = (states - 1) / 2
    grid = {j - q for j in range(states)}
    levels = set(round_clip(x, states).tolist())
    assert len(levels) <= states
    assert levels <= grid
    a_levels = set(act_round_clip(x, states).tolist())
    assert len(a_levels) <= states
    assert a_levels <= set(map(float, range(states)))


@pytest.mark.parametrize("states", [2, 3, 4, 5, 9])
def test_round_clip_reaches_exactly_n_levels(states: int) -> None:
    x = torch.linspace(-20, 20, 4001)
    assert torch.unique(round_clip(x, states)).numel() == states
    assert torch.unique(act_round_clip(x, states)).numel() == states
    assert torch.unique(QuantAct(states, scale=0.5)(x.view(1, 1, -1))).numel() == states


def test_round_clip_by_hand() -> None:
    x = torch.tensor([-3.0, -1.2, -0.4, 0.2, 0.6, 1.49, 7.0])
    # N = 3: round then clip to [-1, 1]
    assert round_clip(x, 3).tolist() == [-1.0, -1.0, -0.0, 0.0, 1.0, 1.0, 1.0]
    # N = 2: the half-integer grid ±1/2, a sign
    assert round_clip(x, 2).tolist() == [-0.5, -0.5, -0.5, 0.5, 0.5, 0.5, 0.5]
    # N = 4: ±1/2, ±3/2
    assert round_clip(x, 4).tolist() == [-1.5, -1.5, -0.5, 0.5, 0.5, 1.5, 1.5]
    # activations, N = 3, k = 1: levels 0, 1, 2 with thresholds 1/2 and 3/2
    assert act_round_clip(x, 3).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0]


@settings(max_examples=60, deadline=None)
@given(values=FLOATS, states=STATES)
def test_straight_through_gradient(values: list[float], states: int) -> None:
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    round_clip(x, states).sum().backward()
    assert x.grad is not None
    q = (states - 1) / 2
    inside = (x.detach() >= -q) & (x.detach() <= q)
    assert torch.equal(x.grad, inside.to(torch.float64))


@pytest.mark.parametrize("surrogate", ["triangle", "atan", "fast_sigmoid"])
@pytest.mark.parametrize("states", [2, 3, 5])
def test_activation_is_a_sum_of_spikes(surrogate: str, states: int) -> None:
    torch.manual_seed(0)
    k = 1.5
    x = (torch.randn(200, dtype=torch.float64) * 3).requires_grad_()
    y = act_round_clip(x, states, k, surrogate)
    (g,) = torch.autograd.grad(y.sum(), x)
    # independent: the sum of N-1 neurosim spikes at the thresholds (j - 1/2)/k
    x2 = x.detach().clone().requires_grad_()
    s = ns.surrogate.get(surrogate)
    ref = sum(spike(k * x2 - (j - 0.5), s) for j in range(1, states)) / k
    (g2,) = torch.autograd.grad(ref.sum(), x2)  # type: ignore[union-attr]
    assert torch.equal(y.detach(), ref.detach())  # type: ignore[union-attr]
    assert torch.allclose(g, g2, atol=1e-12)


def test_triangle_surrogate_is_one_inside_the_range() -> None:
    x = torch.linspace(0.5, 3.5, 31, dtype=torch.float64, requires_grad=True)  # N = 5, k = 1
    act_round_clip(x, 5).sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, torch.ones_like(x), atol=1e-12)
    far = torch.tensor([-1.0, 5.0], dtype=torch.float64, requires_grad=True)
    act_round_clip(far, 5).sum().backward()
    assert far.grad is not None
    assert far.grad.abs().max() == 0


def test_quantize_weight_by_hand() -> None:
    w = torch.tensor([[-3.0, -1.0, 1.0, 3.0]], dtype=torch.float64)
    std = math.sqrt(5.0)  # population std of the row, mean 0
    k = 3 / 4  # N/4
    # k·Ŵ = ±1.006, ±0.335 → round-clip → ±1, 0 → / k
    want = torch.tensor([[-1 / k, 0.0, 0.0, 1 / k]], dtype=torch.float64)
    got = quantize_weight(w, 3, rescale=False, eps=0.0)
    assert torch.allclose(got, want, atol=1e-12)
    assert torch.allclose(quantize_weight(w, 3, eps=0.0), want * std, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), states=STATES)
def test_quantized_weights_have_n_levels_per_channel(seed: int, states: int) -> None:
    w = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(seed)) * 0.3 + 0.1
    wq = quantize_weight(w, states)
    for c in range(4):
        assert torch.unique(wq[c]).numel() <= states
    grid = quantize_weight(w, states, rescale=False) * (states / 4)
    assert torch.allclose(grid, grid.round() if states % 2 else (grid - 0.5).round() + 0.5)


def test_bits_for() -> None:
    assert [bits_for(n) for n in (2, 3, 4, 5, 8, 9, 16, 17)] == [1, 2, 2, 3, 3, 4, 4, 5]


# --------------------------------------------------------------------------------------------
# quantize() on networks


def _every_layer_net() -> ns.Sequential:
    torch.manual_seed(0)
    return ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1),  # 0
        ns.Lifted(LayerBatchNorm(4)),  # 1
        nn.ReLU(),  # 2 -> quantised activation (5 levels)
        ns.MaxPool2d(2),  # 3
        ns.AvgPool2d(2),  # 4: 4 inputs of 5 levels -> 17 levels
        ns.Flatten(),  # 5
        ns.Dropout(0.1),  # 6
        ns.Linear(16, 8),  # 7: act_bits 5
        ns.LIF(v_th=0.5),  # 8
        ns.Linear(8, 8),  # 9: act_bits 1
        ns.IF(v_th=0.5),  # 10
        ns.Linear(8, 6),  # 11
        ns.RecurrentLIF.from_beta(0.9, n=6, v_th=0.5),  # 12
        ns.Linear(6, 5),  # 13
        ns.S2NN(),  # 14
        ns.Lifted(nn.Linear(5, 3)),  # 15
        nn.Identity(),  # 16
    )


def _x() -> torch.Tensor:
    return torch.rand(3, 2, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_quantize_every_layer_type_without_mutating_input() -> None:
    net = _every_layer_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    types = [type(layer) for layer in net]
    q = quantize(net, weight_states=3, act_states=5, input_bits=8)
    assert q is not net
    assert [type(layer) for layer in net] == types
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(hasattr(layer, "weight_bits") for layer in net)

    bits = {i: (getattr(q[i], "weight_bits", None), getattr(q[i], "act_bits", None)) for i in
            range(len(q))}  # fmt: skip
    assert bits[0] == (2, 8)
    assert bits[7] == (2, math.ceil(math.log2(17)))
    assert bits[9] == (2, 1)
    assert bits[11] == (2, 1)
    assert bits[12] == (2, 1)  # recurrent synapses quantised, spikes in
    assert bits[13] == (2, 1)
    assert bits[15] == (2, 1)
    assert isinstance(q[2], QuantAct)
    assert q[2].states == 5
    for i in (0, 7, 9, 11, 13):
        assert torch.unique(q[i].weight.detach()[0]).numel() <= 3
    assert torch.unique(q[12].recurrent.weight.detach()[0]).numel() <= 3
    assert torch.unique(q[15].module.weight.detach()[0]).numel() <= 3

    x = _x()
    y = q(x)
    assert y.shape == net(x).shape
    y.sum().backward()
    latent = q[0].parametrizations.weight.original
    assert latent.grad is not None
    assert latent.grad.abs().sum() > 0
    for layer in net:  # no gradient reached the input network
        for p in layer.parameters():
            assert p.grad is None


def test_weights_only_and_activations_only() -> None:
    net = _every_layer_net()
    w_only = quantize(net, weight_states=5)
    assert type(w_only[2]) is nn.ReLU
    assert w_only[0].weight_bits == 3
    assert w_only[0].act_bits is None
    a_only = quantize(net, act_states=3)
    assert isinstance(a_only[2], QuantAct)
    assert not hasattr(a_only[0], "weight_bits")
    assert a_only[7].act_bits == math.ceil(math.log2(2 * 4 + 1))
    assert torch.equal(a_only[0].weight, net[0].weight)


def test_two_state_activations_are_spikes() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(6, 5), nn.ReLU(), ns.Linear(5, 3))
    for k in (1.0, 2.0):
        q = quantize(net, act_states=2, act_scale=k)
        assert isinstance(q[1], ns.S2NN)
        assert q[1].surrogate == Triangle()
        x = torch.randn(2, 4, 6)
        run = q.run(x)
        spikes = run.activity[1].output
        assert set(spikes.unique().tolist()) <= {0.0, 1.0}
        z = run.activity[1].input
        assert torch.equal(spikes, k * QuantAct(2, scale=k)(z))
        assert q[2].act_bits == 1


def test_quantised_network_trains() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(
        ns.Linear(4, 16), ns.Lifted(LayerBatchNorm(16)), nn.ReLU(), ns.Linear(16, 2)
    )
    q = quantize(net, weight_states=3, act_states=3)
    x = torch.randn(1, 64, 4)
    target = (x[0, :, 0] > 0).long()
    opt = torch.optim.Adam(q.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        loss = nn.functional.cross_entropy(q(x)[0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.75 * losses[0]  # quantisation makes the loss noisy


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("states", [1, 0, -3])
def test_too_few_states(states: int) -> None:
    with pytest.raises(ValueError, match="at least 2 states"):
        round_clip(torch.zeros(3), states)
    with pytest.raises(ValueError, match="weight_states"):
        quantize(_every_layer_net(), weight_states=states)
    with pytest.raises(ValueError, match="act_states"):
        QuantAct(states)


@pytest.mark.parametrize("states", [2.5, 3.0, "3", True, None])
def test_non_integer_states(states: object) -> None:
    with pytest.raises(TypeError, match="integer number of states"):
        round_clip(torch.zeros(3), states)  # type: ignore[arg-type]
    if states is not None:
        with pytest.raises(TypeError, match="act_states"):
            quantize(_every_layer_net(), act_states=states)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    net = _every_layer_net()
    with pytest.raises(ValueError, match="both are None"):
        quantize(net)
    with pytest.raises(TypeError, match="neurosim Sequential"):
        quantize(nn.Sequential(nn.Linear(2, 2)), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="act_scale"):
        quantize(net, act_states=3, act_scale=0.0)
    with pytest.raises(ValueError, match="weight_scale"):
        quantize(net, 3, weight_scale=-1.0)
    with pytest.raises(ValueError, match="input_bits"):
        quantize(net, 3, input_bits=0)


@pytest.mark.parametrize("act", [nn.Tanh(), nn.Sigmoid(), nn.GELU(), nn.LeakyReLU()])
def test_unsupported_activation(act: nn.Module) -> None:
    net = ns.Sequential(ns.Linear(3, 3), act, ns.Linear(3, 2))
    with pytest.raises(TypeError, match=r"layer 1 \(.*\): cannot quantise activation"):
        quantize(net, 3, act_states=3)
    assert quantize(net, 3)[1] is not act  # weights only: the activation is copied as is


def test_unsupported_lifted_module() -> None:
    net = ns.Sequential(ns.Lifted(nn.Bilinear(3, 3, 2)))
    net_ok = ns.Sequential(ns.Lifted(nn.Softmax(-1)))
    with pytest.raises(TypeError, match=r"layer 0 .*Lifted\(Bilinear\)"):
        quantize(net, 3)
    assert quantize(net_ok, 3) is not net_ok


def test_unsupported_neuron_with_synapses() -> None:
    class Odd(ns.LIF):
        def __init__(self) -> None:
            super().__init__()
            self.extra = nn.Linear(2, 2)

    with pytest.raises(TypeError, match=r"layer 0 .*synapses inside Odd"):
        quantize(ns.Sequential(Odd()), 3)


def test_quantising_twice_is_refused() -> None:
    q = quantize(_every_layer_net(), 3, 5)
    with pytest.raises(ValueError, match=r"layer 0 .*already quantised"):
        quantize(q, 3)
    with pytest.raises(ValueError, match=r"layer 0 \(QuantAct\) is already quantised"):
        quantize(ns.Sequential(q[2]), act_states=3)


def test_quantize_and_spectral_norm_do_not_stack_and_say_so() -> None:
    from neurosim.transforms import spectral_norm

    net = ns.Sequential(ns.Linear(6, 8), ns.LIF.from_beta(0.9), ns.Linear(8, 3))
    with pytest.raises(ValueError, match=r"layer 0 \(ParametrizedLinear\) .*\(_SpectralNorm\)"):
        quantize(spectral_norm(net), 3)
    with pytest.raises(ValueError, match=r"\(WeightQuantizer\): spectral norm applied twice, or"):
        spectral_norm(quantize(net, 3))
