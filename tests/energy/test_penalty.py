"""The penalty is the estimate: equal values, true gradients, and it lowers energy."""

import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.energy import (
    TERMS,
    EnergyPenalty,
    RatePenalty,
    SpikeCountPenalty,
    estimate_run,
)
from neurosim.hardware import available


def _fc(seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    return ns.Sequential(
        ns.Flatten(), ns.Linear(64, 32), ns.LIF(v_th=0.4), ns.Linear(32, 16),
        ns.RecurrentLIF(16, v_th=0.5), ns.Linear(16, 5), ns.LIF(v_th=0.3),
    )  # fmt: skip


def _conv(seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    return ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1), ns.IF(v_th=0.3), ns.AvgPool2d(2), ns.Conv2d(4, 6, 3),
        ns.LIF(v_th=0.2), ns.MaxPool2d(2), ns.Flatten(), ns.Linear(6, 5),
    )  # fmt: skip


@pytest.mark.parametrize("profile", available())
@pytest.mark.parametrize("make", [_fc, _conv])
@pytest.mark.parametrize("steps", [1, 4])
def test_penalty_equals_estimate(profile: str, make, steps: int) -> None:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(steps)
    x = torch.rand(steps, 3, 1, 8, 8, generator=g)
    run = make(steps).run(x)
    spikes_in = (torch.rand(steps, 3, 1, 8, 8, generator=g) < 0.3).float()
    for inp in (x, spikes_in):  # analog and binary first-layer input
        run = make(steps).run(inp)
        penalty = EnergyPenalty(profile, weight=1e-6)
        value = penalty(run).item()
        want = estimate_run(run, profile).total_pj * 1e-6
        assert value == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_terms_select_parts_of_the_estimate() -> None:
    run = _fc(0).run(torch.rand(3, 2, 1, 8, 8))
    report = estimate_run(run, "loihi")
    for term in TERMS:
        got = EnergyPenalty("loihi", weight=1.0, terms=[term])(run).item()
        assert got == pytest.approx(report.terms_pj[term], rel=1e-9, abs=1e-9)


def test_gradient_flows_to_weights_through_spikes() -> None:
    net = _fc(1)
    run = net.run(torch.rand(4, 2, 1, 8, 8))
    EnergyPenalty("loihi", weight=1.0, terms=["synaptic", "routing"])(run).backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads
    assert any(g.abs().sum() > 0 for g in grads)


def test_p_family_and_baselines_by_hand() -> None:
    lin = ns.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.weight[0, 2] = 0.0  # input 2 has fan-out 1
    net = ns.Sequential(nn.Identity(), ns.LIF(v_th=0.5), lin, ns.LIF(v_th=100.0))
    x = torch.zeros(3, 1, 3)
    x[:, 0, 0] = 1.0  # neuron 0 spikes 3 times (fan-out 2)
    x[0, 0, 2] = 1.0  # neuron 2 once (fan-out 1)
    run = net.run(x)
    only_syn = {"terms": ["synaptic"]}
    assert EnergyPenalty("asic45-fp32", 1.0, **only_syn)(run).item() == pytest.approx(0.9 * 7)
    p2 = EnergyPenalty("asic45-fp32", 1.0, p=2.0, **only_syn)(run).item()
    assert p2 == pytest.approx(0.9 * (2 * 3**2 + 1 * 1**2))
    assert SpikeCountPenalty(0.5)(run).item() == pytest.approx(0.5 * 4)
    rate = RatePenalty(1.0)(run).item()
    assert rate == pytest.approx(4 / 9)  # layer 1: 4 spikes / (3 steps · 3 neurons)
    assert RatePenalty(1.0, reduction="sum")(run).item() == 4


def test_plan_is_rebuilt_when_weights_are_pruned() -> None:
    net = _fc(2)
    penalty = EnergyPenalty("asic45-fp32", 1.0, terms=["synaptic"])
    x = (torch.rand(3, 2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    before = penalty(net.run(x)).item()
    with torch.no_grad():
        net[1].weight[:, :32] = 0.0  # half of the first layer's synapses removed
    after = penalty(net.run(x)).item()
    assert after == pytest.approx(estimate_run(net.run(x), "asic45-fp32").terms_pj["synaptic"])
    assert after < before


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown hardware profile 'nope'"):
        EnergyPenalty("nope", 1.0)
    with pytest.raises(ValueError, match="weight=-1"):
        EnergyPenalty("loihi", -1.0)
    with pytest.raises(ValueError, match="terms="):
        EnergyPenalty("loihi", 1.0, terms=["synapses"])
    net = _fc(3)
    with pytest.raises(TypeError, match=r"needs the Run returned by net\.run"):
        EnergyPenalty("loihi", 1.0)(net(torch.rand(2, 1, 1, 8, 8)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight=nan"):
        SpikeCountPenalty(float("nan"))


SMOOTH_TERMS = ["synaptic", "routing", "memory", "static"]


@pytest.mark.parametrize(
    ("profile", "terms"),
    [
        ("loihi", SMOOTH_TERMS),  # static follows the run time, which grows with synops
        ("asic45-fp32", SMOOTH_TERMS),
        # SpiNNaker's static energy (0.36 W × 1 ms steps) is a ~1e6 offset that drowns
        # finite differences in rounding; its other terms are checked
        ("spinnaker", SMOOTH_TERMS[:3]),
    ],
)
def test_penalty_gradient_is_exact_on_the_smooth_relaxation(profile: str, terms: list[str]) -> None:
    """gradcheck (float64): the penalty's gradient w.r.t. the weights, through the
    surrogate, equals finite differences of the penalty of the smooth relaxed network."""
    torch.manual_seed(0)
    net = ns.Sequential(
        ns.Linear(6, 5), ns.LIF(v_th=0.3, surrogate="fast_sigmoid"), ns.Linear(5, 4),
        ns.RecurrentLIF(4, v_th=0.2, surrogate="atan"), ns.Linear(4, 3), ns.S2NN(v_th=0.1),
    ).double()  # fmt: skip
    smooth = ns.core.relaxed(net)
    x = torch.rand(3, 2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    penalty = EnergyPenalty(profile, 1e-3, terms=terms)
    names = [n for n, p in smooth.named_parameters() if p.requires_grad]
    wrapper = _Penalised(smooth, penalty, x)

    def penalised(*weights: torch.Tensor) -> torch.Tensor:
        new = {f"net.{n}": w for n, w in zip(names, weights, strict=True)}
        return torch.func.functional_call(wrapper, new, ())

    params = dict(smooth.named_parameters())
    inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(penalised, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


class _Penalised(nn.Module):
    """``() → penalty(net.run(x))`` as a module, so ``functional_call`` can swap weights."""

    def __init__(self, net: ns.Sequential, penalty: EnergyPenalty, x: torch.Tensor) -> None:
        super().__init__()
        self.net, self.penalty, self.x = net, penalty, x

    def forward(self) -> torch.Tensor:
        return self.penalty(self.net.run(self.x))
