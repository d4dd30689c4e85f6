"""neurosim vs Brian2 on the same weights, parameters and input spikes (float64).

Brian2 integrates the membrane equations itself (exact linear solver, numpy target); the
only thing shared with neurosim is the constants. Spikes must be identical, membranes equal
to rounding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.interop import run_brian2, simulate_brian2, to_brian2

pytestmark = pytest.mark.interop

T, B, N_IN, N_HID, N_OUT = 30, 3, 20, 16, 8


def _scale_weights(net: ns.Sequential, seed: int, gain: float = 0.7, bias: float = 0.05) -> None:
    """Deterministic weights large enough that every layer fires often but not always."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net:
            mods = [layer.recurrent] if isinstance(layer, ns.RecurrentLIF) else [layer]
            for m in mods:
                if isinstance(m, nn.Linear):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain)
                    if m.bias is not None:
                        m.bias.copy_(torch.rand(m.bias.shape, generator=g) * bias)


def _input(seed: int, n: int = N_IN) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 100)
    return (torch.rand(T, B, n, generator=g) < 0.3).double()


def _check(net: ns.Sequential, x: torch.Tensor) -> None:
    net = net.double()
    ours = net.run(x, record_membrane=True)
    theirs = run_brian2(net, x, record_membrane=True)
    assert set(theirs.spikes) == set(ours.membranes)
    for i, s in theirs.spikes.items():
        s_ours = ours.activity[i].output
        rate = s_ours.mean().item()
        assert 0.02 < rate < 0.8, (i, rate)  # every layer is active, but not saturated
        assert torch.equal(s, s_ours), f"layer {i}: {int((s != s_ours).sum())} spikes differ"
        torch.testing.assert_close(theirs.membranes[i], ours.membranes[i], rtol=0, atol=1e-9)
    assert torch.equal(theirs.output, ours.output)
    # a reset mattered: some neuron fired at two or more steps
    assert (ours.output.sum(0) > 1).any()


NETS: dict[str, Callable[[], ns.Sequential]] = {
    "lif_subtract": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.LIF(tau_mem=10e-3, v_th=1.0),
        ns.Linear(N_HID, N_OUT),
        ns.LIF(tau_mem=5e-3, v_th=0.8),
    ),
    "lif_zero": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.LIF(tau_mem=10e-3, reset="zero"),
        ns.Linear(N_HID, N_OUT),
        ns.LIF(tau_mem=20e-3, reset="zero", v_reset=-0.2),
    ),
    "if_subtract": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID, bias=False),
        ns.IF(v_th=1.5),
        ns.Linear(N_HID, N_OUT, bias=False),
        ns.IF(v_th=1.0),
    ),
    "if_zero": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID), ns.IF(reset="zero"), ns.Linear(N_HID, N_OUT), ns.IF()
    ),
    "no_reset_per_neuron": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.LIF(tau_mem=torch.linspace(2e-3, 30e-3, N_HID), v_th=torch.linspace(0.5, 2, N_HID)),
        ns.Linear(N_HID, N_OUT),
        ns.LIF(tau_mem=4e-3, reset="none", v_th=3.0),
    ),
    "delayed_subtract": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.LIF.from_beta(0.8, reset_timing="delayed"),
        ns.Linear(N_HID, N_OUT),
        ns.LIF.from_beta(0.9, reset_timing="delayed"),
    ),
    "recurrent": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.RecurrentLIF(N_HID, bias=True, tau_mem=10e-3),
        ns.Linear(N_HID, N_OUT),
        ns.LIF(tau_mem=5e-3),
    ),
    "recurrent_zero_out": lambda: ns.Sequential(
        ns.Linear(N_IN, N_HID),
        ns.LIF(tau_mem=10e-3),
        ns.Linear(N_HID, N_OUT),
        ns.RecurrentLIF(N_OUT, tau_mem=8e-3, reset="zero"),
    ),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_same_spikes_as_neurosim(name: str) -> None:
    seed = sorted(NETS).index(name)
    torch.manual_seed(seed)
    net = NETS[name]()
    _scale_weights(net, seed)
    _check(net, _input(seed))


def test_float32_network_gives_the_same_spikes() -> None:
    """Brian2 computes in float64; a float32 neurosim run still emits the same spikes here."""
    torch.manual_seed(4)
    net = NETS["recurrent"]()
    _scale_weights(net, 4)
    x = _input(4).float()
    ours = net.run(x, record_membrane=True)
    theirs = run_brian2(net, x, record_membrane=True)
    assert theirs.output.dtype == torch.float32
    assert torch.equal(theirs.output, ours.output)
    torch.testing.assert_close(theirs.membranes[1], ours.membranes[1], rtol=1e-5, atol=1e-5)


def test_flatten_first_and_single_layer() -> None:
    torch.manual_seed(2)
    net = ns.Sequential(ns.Flatten(), ns.Linear(20, 12), ns.LIF(tau_mem=8e-3))
    _scale_weights(net, 2)
    x = _input(2).view(T, B, 4, 5)
    _check(net, x)
    assert simulate_brian2(net, x).shape == (T, B, 12)


def test_recurrence_changes_the_output() -> None:
    """The recurrent synapses are really simulated: zeroing them changes Brian2's spikes."""
    torch.manual_seed(0)
    net = NETS["recurrent"]().double()
    _scale_weights(net, 0)
    x = _input(0)
    with_rec = simulate_brian2(net, x)
    with torch.no_grad():
        net[1].recurrent.weight.zero_()
    assert not torch.equal(with_rec, simulate_brian2(net, x))


def test_model_uses_an_isolated_network_with_explicit_schedule() -> None:
    net = NETS["recurrent"]()
    model = to_brian2(net, batch_size=2, record_membrane=True)
    assert model.batch_size == 2
    assert sorted(model.groups) == [1, 3]
    assert len(model.groups[1]) == 2 * N_HID
    assert len(model.inputs) == 2 * N_IN
    assert model.dt == pytest.approx(1e-3)
    # one slot; per layer: decay, recurrent input (last step's spikes), feed-forward input
    # (this step's spikes of the layer below), membrane record, threshold, reset, monitor
    entries = model.network.scheduling_summary().entries
    assert {e.when for e in entries} == {"groups"}
    names = [e.name for e in entries if "monitor" not in e.name]
    assert names == [
        "inputs",
        "layer1_stateupdater",
        "recurrent1_pre",
        "synapses1_pre",
        "layer1_spike_thresholder",
        "layer1_spike_resetter",
        "layer3_stateupdater",
        "synapses3_pre",
        "layer3_spike_thresholder",
        "layer3_spike_resetter",
    ]
    run = model.run(torch.ones(2, 2, N_IN))
    assert run.membranes[1].shape == (2, 2, N_HID)


def test_unsupported_layers_are_named() -> None:
    conv = ns.Sequential(ns.Conv2d(1, 2, 3), ns.LIF())
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2d\).*supports"):
        to_brian2(conv)
    s2nn = ns.Sequential(ns.Linear(4, 3), ns.S2NN())
    with pytest.raises(ValueError, match=r"layer 1 \(S2NN\)"):
        to_brian2(s2nn)
    with pytest.raises(ValueError, match="pairs of Linear"):
        to_brian2(ns.Sequential(ns.Linear(4, 3)))
    with pytest.raises(TypeError, match="neurosim Sequential"):
        to_brian2(nn.Linear(3, 3))  # type: ignore[arg-type]


def test_bad_input_is_rejected() -> None:
    net = NETS["lif_subtract"]()
    with pytest.raises(ValueError, match="binary"):
        simulate_brian2(net, torch.full((T, B, N_IN), 0.5))
    with pytest.raises(ValueError, match=f"takes {N_IN}"):
        simulate_brian2(net, torch.zeros(T, B, N_IN + 1))
    model = to_brian2(net, batch_size=2)
    with pytest.raises(ValueError, match=r"takes \[T, 2, 20\]"):
        model.run(torch.zeros(T, B, N_IN))
    model.run(torch.zeros(T, 2, N_IN))
    with pytest.raises(RuntimeError, match="already run"):
        model.run(torch.zeros(T, 2, N_IN))


def test_missing_brian2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "brian2", None)
    with pytest.raises(ImportError, match=r'pip install "neurosim\[brian2\]"'):
        to_brian2(NETS["lif_subtract"]())
