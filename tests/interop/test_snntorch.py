"""from_snntorch: the imported network reproduces snnTorch's spikes and membranes step by step."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import snntorch as snn
import snntorch.surrogate as snn_surrogate
import snntorch.utils as snn_utils
import torch
from torch import nn

import neurosim as ns
from neurosim.interop import from_snntorch
from neurosim.interop.snntorch import CONVERTERS

pytestmark = pytest.mark.interop

T, B = 20, 4


def _scale(model: nn.Module, seed: int, gain: float) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.1)


def _snntorch_run(model: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, Any]]:
    """Step ``model`` over ``x [T, B, ...]``; output spikes and every neuron's membrane."""
    snn_utils.reset(model)
    neurons = {i: m for i, m in enumerate(model) if isinstance(m, (snn.Leaky, snn.RLeaky))}
    outs, mems = [], {i: [] for i in neurons}
    with torch.no_grad():
        for t in range(x.shape[0]):
            out = model(x[t])
            outs.append(out[0] if isinstance(out, tuple) else out)
            for i, m in neurons.items():
                mems[i].append(m.mem.clone())
    return torch.stack(outs), {i: torch.stack(v) for i, v in mems.items()}


def _check(model: nn.Sequential, x: torch.Tensor) -> ns.Sequential:
    net = from_snntorch(model)
    assert len(net) == len(model)
    s_theirs, m_theirs = _snntorch_run(model, x)
    run = net.run(x, record_membrane=True)
    assert 0.02 < s_theirs.mean().item() < 0.8
    assert (s_theirs.sum(0) > 1).any()  # some neuron fired repeatedly: resets mattered
    assert torch.equal(run.output, s_theirs)
    for i, mem in m_theirs.items():
        assert 0.01 < run.activity[i].output.mean().item() < 0.9, i
        torch.testing.assert_close(run.membranes[i], mem, rtol=0, atol=1e-5)
    return net


def _input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < 0.3).float()


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_linear_leaky(reset: str) -> None:
    torch.manual_seed(0)
    th = 4.0 if reset == "none" else 1.0
    model = nn.Sequential(
        nn.Linear(20, 30),
        snn.Leaky(beta=0.8, threshold=th, reset_mechanism=reset, init_hidden=True),
        nn.Linear(30, 10),
        snn.Leaky(
            beta=torch.linspace(0.5, 0.95, 10), reset_mechanism=reset, init_hidden=True, output=True
        ),
    )
    _scale(model, 0, gain=3.0)
    net = _check(model, _input((20,), 0))
    assert isinstance(net[1], ns.LIF)
    assert net[1].reset == reset
    assert net[1].reset_timing == "delayed"
    assert net[1].detach_reset
    assert float(net[1].beta) == pytest.approx(0.8)
    assert torch.equal(net[3].beta, torch.linspace(0.5, 0.95, 10))
    assert torch.equal(net[0].weight, model[0].weight)
    assert net[0].weight.data_ptr() != model[0].weight.data_ptr()  # copied, not shared


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_conv_leaky(reset: str) -> None:
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        snn.Leaky(beta=0.7, reset_mechanism=reset, init_hidden=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=1),
        snn.Leaky(beta=0.9, threshold=0.8, reset_mechanism=reset, init_hidden=True),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 5),
        snn.Leaky(beta=0.85, reset_mechanism=reset, init_hidden=True, output=True),
    )
    _scale(model, 1, gain=2.5)
    net = _check(model, _input((2, 12, 12), 1))
    assert [type(layer).__name__ for layer in net] == [
        "Conv2d",
        "LIF",
        "MaxPool2d",
        "Conv2d",
        "LIF",
        "AvgPool2d",
        "Flatten",
        "Linear",
        "LIF",
    ]


@pytest.mark.parametrize("reset", ["subtract", "none"])
def test_rleaky_all_to_all(reset: str) -> None:
    torch.manual_seed(2)
    th = 3.0 if reset == "none" else 1.0
    model = nn.Sequential(
        nn.Linear(20, 16),
        snn.RLeaky(
            beta=0.8, linear_features=16, threshold=th, reset_mechanism=reset, init_hidden=True
        ),
        nn.Linear(16, 6),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    _scale(model, 2, gain=3.0)
    with torch.no_grad():
        model[1].recurrent.weight.copy_(torch.randn(16, 16) * 0.5)
        model[1].recurrent.bias.copy_(torch.rand(16) * 0.1)
    net = _check(model, _input((20,), 2))
    assert isinstance(net[1], ns.RecurrentLIF)
    assert torch.equal(net[1].recurrent.weight, model[1].recurrent.weight)
    assert torch.equal(net[1].recurrent.bias, model[1].recurrent.bias)
    # the recurrence is part of the dynamics: without it the spikes change
    with torch.no_grad():
        net[1].recurrent.weight.zero_()
    assert not torch.equal(net(_input((20,), 2)), _snntorch_run(model, _input((20,), 2))[0])


@pytest.mark.parametrize("per_neuron", [True, False])
def test_rleaky_one_to_one(per_neuron: bool) -> None:
    torch.manual_seed(3)
    v = torch.linspace(-0.5, 0.8, 12) if per_neuron else torch.tensor(0.6)
    model = nn.Sequential(
        nn.Linear(20, 12),
        snn.RLeaky(beta=0.85, all_to_all=False, V=v, init_hidden=True, output=True),
    )
    _scale(model, 3, gain=3.0)
    net = _check(model, _input((20,), 3))
    assert torch.equal(net[1].recurrent.weight, torch.diag(v.expand(12)))
    assert net[1].recurrent.bias is None


@pytest.mark.parametrize("all_to_all", [True, False])
def test_frozen_recurrence_stays_frozen(all_to_all: bool) -> None:
    """learn_recurrent=False: snnTorch never trains W_rec, so neither may the import."""
    kw: dict[str, Any] = (
        {"linear_features": 5} if all_to_all else {"all_to_all": False, "V": torch.ones(5)}
    )
    frozen = snn.RLeaky(0.9, learn_recurrent=False, init_hidden=True, **kw)
    assert not any(p.requires_grad for p in frozen.recurrent.parameters())
    net = from_snntorch(nn.Sequential(nn.Linear(3, 5), frozen))
    assert not any(p.requires_grad for p in net[1].recurrent.parameters())
    net(torch.ones(4, 2, 3)).sum().backward()
    assert net[1].recurrent.weight.grad is None
    assert net[0].weight.grad is not None  # the feed-forward weights still train
    learnt = snn.RLeaky(0.9, init_hidden=True, **kw)  # learn_recurrent=True (default)
    imported = from_snntorch(nn.Sequential(nn.Linear(3, 5), learnt))
    assert all(p.requires_grad for p in imported[1].recurrent.parameters())


def test_surrogate_and_learnable_parameters_carry_over() -> None:
    model = nn.Sequential(
        nn.Linear(4, 3),
        snn.Leaky(
            beta=0.9,
            spike_grad=snn_surrogate.fast_sigmoid(slope=10),
            learn_beta=True,
            learn_threshold=True,
            init_hidden=True,
        ),
    )
    net = from_snntorch(model)
    assert net[1].surrogate == ns.surrogate.get("fast_sigmoid", slope=10.0)
    assert isinstance(net[1].beta, nn.Parameter)
    assert isinstance(net[1].v_th, nn.Parameter)
    default = from_snntorch(nn.Sequential(nn.Linear(4, 3), snn.Leaky(0.9, init_hidden=True)))
    assert default[1].surrogate == ns.surrogate.get("atan", alpha=2.0)
    chosen = from_snntorch(model, surrogate="triangle")
    assert chosen[1].surrogate == ns.surrogate.get("triangle")


def test_unsupported_modules_and_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"module 1 \(snntorch.*Synaptic\) is not supported"):
        from_snntorch(nn.Sequential(nn.Linear(3, 3), snn.Synaptic(0.9, 0.8, init_hidden=True)))
    rl = snn.RLeaky(0.9, linear_features=3, reset_mechanism="zero", init_hidden=True)
    with pytest.raises(ValueError, match=r"module 1 \(RLeaky\): reset_mechanism='zero'"):
        from_snntorch(nn.Sequential(nn.Linear(3, 3), rl))
    conv_rec = snn.RLeaky(0.9, conv2d_channels=2, kernel_size=3, init_hidden=True)
    with pytest.raises(ValueError, match="recurrent convolutions"):
        from_snntorch(nn.Sequential(nn.Conv2d(1, 2, 3), conv_rec))
    late = snn.Leaky(0.9, reset_delay=False, init_hidden=True)
    with pytest.raises(ValueError, match="reset_delay=False"):
        from_snntorch(nn.Sequential(nn.Linear(3, 3), late))
    tri = snn.Leaky(0.9, spike_grad=snn_surrogate.triangular(), init_hidden=True)
    with pytest.raises(ValueError, match="surrogate"):
        from_snntorch(nn.Sequential(nn.Linear(3, 3), tri))
    with pytest.raises(ValueError, match=r"module 0 \(Flatten\(start_dim=2"):
        from_snntorch(nn.Sequential(nn.Flatten(start_dim=2)))
    with pytest.raises(TypeError, match=r"nn\.Sequential"):
        from_snntorch(nn.Linear(3, 3))


def test_registry_rejects_duplicates_and_accepts_new_types() -> None:
    with pytest.raises(ValueError, match="already registered"):
        CONVERTERS.register(snn.Leaky, lambda m, i, prev: [])
    assert CONVERTERS.lookup(ns.Linear) is CONVERTERS.lookup(nn.Linear)  # by MRO

    class Doubler(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    CONVERTERS.register(Doubler, lambda m, i, prev: [ns.Lifted(Doubler())])
    net = from_snntorch(nn.Sequential(nn.Linear(3, 3), Doubler()))
    assert isinstance(net[1], ns.Lifted)


def test_missing_snntorch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snntorch", None)
    with pytest.raises(ImportError, match=r'pip install "neurosim\[snntorch\]"'):
        from_snntorch(nn.Sequential(nn.Linear(3, 3)))
