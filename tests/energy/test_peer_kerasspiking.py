"""neurosim against KerasSpiking's ``ModelEnergy`` device formula (re-implemented here).

KerasSpiking needs TensorFlow, so it is not installed; its formula and device table are
recorded, with their source, in ``energy/references/kerasspiking.md``:

    energy/inference = Σ_layers  e_synop · connections · input_rate · dt · T
                               + e_neuron · neurons · T

with ``connections`` structural (``in·out`` for ``Dense``, ``output_size·k_h·k_w·C_in`` for a
convolution), ``neurons`` the units of each ``SpikingActivation`` (updated every step),
``input_rate = mean |x|`` of the layer input over batch, time and units, in Hz (KerasSpiking's
spikes have amplitude 1/dt), and device ``loihi`` = 27.1 pJ per synop, 81 pJ per neuron.

neurosim prices the same run with a ``loihi`` profile variant holding exactly those two
constants (synop 27.1 pJ; neuron update 81 pJ driven *and* idle, as KerasSpiking does not
distinguish) and every other constant 0.
"""

from __future__ import annotations

import pytest
import torch

import neurosim as ns
from neurosim.energy import estimate_run, make_plan
from neurosim.hardware import Constant, HardwareProfile, load

pytestmark = pytest.mark.interop

T, B = 10, 6
DT = 1e-3  # keras_spiking.default.dt
# ModelEnergy.devices["loihi"] (keras_spiking/model_energy.py), joules
KS_LOIHI = {"energy_per_synop": (23.6 + 3.5) * 1e-12, "energy_per_neuron": 81e-12}
REF = "KerasSpiking ModelEnergy.devices['loihi'] (energy/references/kerasspiking.md)"


def _kerasspiking_profile() -> HardwareProfile:
    base = load("loihi")
    update: dict[str, object] = {
        name: Constant(value=0.0, source=REF, grade="convention")
        for name, value in base
        if isinstance(value, Constant)
    }
    synop = KS_LOIHI["energy_per_synop"] * 1e12
    neuron = KS_LOIHI["energy_per_neuron"] * 1e12
    update["e_synop_pj"] = Constant(value=synop, source=REF, grade="convention")
    for name in ("e_neuron_driven_pj", "e_neuron_idle_pj"):
        update[name] = Constant(value=neuron, source=REF, grade="convention")
    return base.model_copy(update={"name": "kerasspiking-loihi", **update})


def _layer_stats(run: ns.Run) -> list[dict[str, int]]:
    """KerasSpiking's ``connections``/``neurons`` for the Keras twin of each layer of the
    run's network: Linear ↔ ``Dense`` (linear activation), Conv2d ↔ ``Conv2D`` (valid
    padding, linear activation), LIF ↔ ``SpikingActivation``, Flatten ↔ ``Flatten``."""
    stats = []
    for a in run.activity:
        layer, shape, out = a.layer, a.input.shape[2:], a.output.shape[2:]
        if isinstance(layer, ns.Linear):  # dense_stats: output_size // units · kernel.size
            n_out = out[-1]
            stats.append(
                {"connections": (out.numel() // n_out) * layer.in_features * n_out, "neurons": 0}
            )
        elif isinstance(layer, ns.Conv2d):  # conv_stats: output_size · prod(kernel[:-1])
            assert layer.padding == (0, 0)
            assert layer.groups == 1
            kh, kw = layer.kernel_size
            stats.append({"connections": out.numel() * kh * kw * layer.in_channels, "neurons": 0})
        elif isinstance(layer, ns.LIF):  # spikingactivation_stats: units per step
            stats.append({"connections": 0, "neurons": shape.numel()})
        else:  # Flatten: whitelisted, no stats
            assert isinstance(layer, ns.Flatten)
            stats.append({"connections": 0, "neurons": 0})
    return stats


def _kerasspiking_layers(run: ns.Run) -> list[tuple[float, float]]:
    """``ModelEnergy(model, example_data).layer_energy(layer, "loihi", T, DT)`` for every
    layer, ``(synop_energy, neuron_energy)`` in joules, the layer inputs taken from ``run``
    and spikes scaled to KerasSpiking's amplitude 1/dt."""
    out = []
    for a, st in zip(run.activity, _layer_stats(run), strict=True):
        x = a.input.detach().to(torch.float64)
        rate = float((x / DT).abs().mean())  # np.mean(np.abs(x)) of the layer input, Hz
        synop = KS_LOIHI["energy_per_synop"] * st["connections"] * rate * DT * T
        neuron = KS_LOIHI["energy_per_neuron"] * st["neurons"] * T
        out.append((synop, neuron))
    return out


def _kerasspiking_energy(run: ns.Run) -> float:
    """``ModelEnergy.total_energy("loihi", T, DT)``: the sum over layers."""
    return sum(synop + neuron for synop, neuron in _kerasspiking_layers(run))


def _mlp(g: torch.Generator) -> ns.Sequential:
    net = ns.Sequential(
        ns.Linear(64, 48), ns.LIF.from_beta(0.9), ns.Linear(48, 10), ns.LIF.from_beta(0.9)
    )
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, ns.Linear):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * 0.4)
                assert bool((layer.weight != 0).all())  # KerasSpiking counts zero weights
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_model_energy_equals_kerasspiking(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    net = _mlp(g)
    x = (torch.rand(T, B, 64, generator=g) < 0.2).float()
    with torch.no_grad():
        run = net.run(x)
    for a in run.spiking_layers():
        assert 0 < float(a.output.mean()) < 1, a.name
    report = estimate_run(run, _kerasspiking_profile())
    theirs = _kerasspiking_energy(run)
    assert report.total_pj * 1e-12 == pytest.approx(theirs, rel=1e-9)
    # per layer as well: synaptic ↔ synop_energy, neuron ↔ neuron_energy
    for la, (synop, neuron) in zip(report.per_layer, _kerasspiking_layers(run), strict=True):
        assert la.terms_pj["synaptic"] * 1e-12 == pytest.approx(synop, rel=1e-9, abs=0)
        assert la.terms_pj["neuron"] * 1e-12 == pytest.approx(neuron, rel=1e-9, abs=0)
    assert report.terms_pj["routing"] == report.terms_pj["memory"] == 0.0
    assert report.terms_pj["static"] == report.terms_pj["dense"] == 0.0


def test_conv_mean_field_synops() -> None:
    """KerasSpiking's conv synops are ``connections · mean rate`` (mean field); neurosim's are
    exact per input position (border fan-outs are smaller). They agree when every input
    position spikes equally often, and differ by exactly ``Σ_i (s_i − s̄)·N_i`` otherwise."""
    g = torch.Generator().manual_seed(5)
    net = ns.Sequential(
        ns.Conv2d(2, 4, 3),
        ns.LIF.from_beta(0.9),
        ns.Flatten(),
        ns.Linear(4 * 6 * 6, 10),
        ns.LIF.from_beta(0.9),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.rand(net[0].weight.shape, generator=g) * 0.3 - 0.05)
        net[3].weight.copy_(torch.randn(net[3].weight.shape, generator=g) * 0.3)
    prof = _kerasspiking_profile()

    # whole frames: at each step every pixel of a sample spikes or none does
    frames = (torch.rand(T, B, 1, 1, 1, generator=g) < 0.5).float().expand(T, B, 2, 8, 8)
    with torch.no_grad():
        run = net.run(frames.contiguous())
    assert float(run.activity[1].output.mean()) > 0
    assert estimate_run(run, prof).total_pj * 1e-12 == pytest.approx(
        _kerasspiking_energy(run), rel=1e-9
    )

    # random pixels: neurosim − KerasSpiking = e_synop · Σ_i (s_i − s̄) · N_i / B
    x = (torch.rand(T, B, 2, 8, 8, generator=g) < 0.3).float()
    with torch.no_grad():
        run = net.run(x)
    mine = estimate_run(run, prof).total_pj * 1e-12
    theirs = _kerasspiking_energy(run)
    fan = make_plan(run, prof).layers[0].fanout_in
    s = x.to(torch.float64).sum(dim=(0, 1))  # spikes per input position
    border = float(((s - s.mean()) * fan).sum()) / B * KS_LOIHI["energy_per_synop"]
    assert border != 0.0
    assert mine - theirs == pytest.approx(border, rel=1e-9)
