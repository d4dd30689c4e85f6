"""Operation counts of neurosim against NeuroBench's ``SynapticOperations`` workload metric.

How NeuroBench counts (``neurobench/metrics/workload/synaptic_operations.py`` and
``neurobench/metrics/utils/layers/`` of NeuroBench 2.3.0): a forward pre-hook on every
``nn.Linear``/``nn.Conv*`` records each input the layer is called with. For each recorded
input, ``single_layer_MACs`` binarises the input (``x ≠ 0 → 1``) and a copy of the layer
(weights ``≠ 0 → 1``, bias zeroed) and sums that copy's output: the number of
(nonzero input, nonzero synapse) pairs. If every input value is in {−1, 0, 1} the call is
counted as spiking (``Effective_ACs``), otherwise as ``Effective_MACs``. ``Dense`` repeats
the count with the input *and the weights* set to all ones. All three are divided by the
number of samples (``data[0].size(0)``, the batch dimension of NeuroBench's
``[B, T, ...]`` data).

neurosim's counts (``neurosim/energy/counts.py``), per inference (divided by B):
``synops`` = binary events × nonzero fan-out, ``macs`` = nonzero non-binary inputs × nonzero
fan-out, ``dense_macs`` = all inputs × every synapse (zero weights included). Hence, with
the same activity:

* ``Effective_ACs == Σ synops`` and ``Effective_MACs == Σ macs`` (zero weights excluded by
  both, biases by both).
* ``Dense == Σ dense_macs``: both count zero-weight synapses (NeuroBench through an
  all-ones weight copy). Checked below with zero weights.
* The spiking/non-spiking decision: NeuroBench decides per recorded call on the layer's
  *direct* input; neurosim decides per run on the layer's *event source* (through flatten
  and average pooling). They agree except after average pooling: NeuroBench sees graded
  pooled values and counts one MAC per nonzero pooled value per synapse, neurosim counts
  one synaptic event per spike per synapse of its pooled unit. Checked exactly below.
* Time: ``TorchModel`` calls the network once with the whole ``[B, T, ...]`` sequence (one
  recorded input per layer), ``SNNTorchModel`` calls it once per step (T recorded inputs);
  both sum over the T steps, as neurosim does.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import neurosim as ns
from neurosim.energy import estimate_run, make_plan
from neurosim.hardware import load

pytestmark = pytest.mark.interop

pytest.importorskip("neurobench")
nb_models = pytest.importorskip("neurobench.models")
nb_bench = pytest.importorskip("neurobench.benchmarks")
nb_workload = pytest.importorskip("neurobench.metrics.workload")
snn = pytest.importorskip("snntorch")

T, B, N_BATCHES = 8, 4, 2
BETA = 0.5
GRID = 16.0  # weights are multiples of 1/16, analog inputs multiples of 1/8: exact float32


class _BatchFirst(nn.Module):
    """NeuroBench feeds ``[B, T, ...]``; neurosim networks take ``[T, B, ...]``."""

    def __init__(self, net: ns.Sequential) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1)).transpose(0, 1)


def _grid(shape: tuple[int, ...], std: float, g: torch.Generator) -> torch.Tensor:
    w = torch.round(torch.randn(shape, generator=g) * std * GRID) / GRID
    w[w == 0] = 1.0 / GRID
    return w


def _net(g: torch.Generator, pool: bool = False) -> ns.Sequential:
    """Conv(stride 2, padding 1) → LIF → Conv(groups 2) → LIF → [AvgPool] → Flatten → Linear →
    LIF, weights without zeros, biases on (not counted by either tool)."""
    conv1 = ns.Conv2d(2, 4, 3, stride=2, padding=1)
    conv2 = ns.Conv2d(4, 6, 3, padding=1, groups=2)
    fc = ns.Linear(6 * 4 * 4 if pool else 6 * 8 * 8, 10)
    with torch.no_grad():
        conv1.weight.copy_(_grid(tuple(conv1.weight.shape), 0.8, g))
        conv2.weight.copy_(_grid(tuple(conv2.weight.shape), 0.8, g))
        fc.weight.copy_(_grid(tuple(fc.weight.shape), 0.5, g))
        for layer in (conv1, conv2, fc):
            layer.bias.copy_(torch.round(torch.rand(layer.bias.shape, generator=g) * 4) / GRID)

    def lif() -> ns.LIF:
        return ns.LIF.from_beta(BETA, reset_timing="delayed")  # snnTorch's Leaky

    layers: list[nn.Module] = [conv1, lif(), conv2, lif()]
    if pool:
        layers.append(ns.AvgPool2d(2))
    return ns.Sequential(*layers, ns.Flatten(), fc, lif())


def _data(seed: int, analog: bool) -> torch.Tensor:
    """``[N_BATCHES·B, T, 2, 16, 16]`` (NeuroBench's layout): graded values k/8 with 40 %
    zeros, or binary spikes."""
    g = torch.Generator().manual_seed(seed)
    shape = (N_BATCHES * B, T, 2, 16, 16)
    if analog:
        x = torch.randint(1, 8, shape, generator=g).float() / 8
        return x * (torch.rand(shape, generator=g) > 0.4)
    return (torch.rand(shape, generator=g) < 0.3).float()


def _neurobench(model: object, data: torch.Tensor) -> dict[str, float]:
    loader = DataLoader(TensorDataset(data, torch.zeros(len(data))), batch_size=B)
    bench = nb_bench.Benchmark(model, loader, [], [], [[], [nb_workload.SynapticOperations]])
    results = bench.run(quiet=True)
    bench.workload_metric_manager.cleanup_hooks(model)
    return results["SynapticOperations"]


def _neurosim(net: ns.Sequential, data: torch.Tensor) -> tuple[ns.Run, dict[str, float]]:
    """Totals per inference over all samples at once (samples do not interact)."""
    with torch.no_grad():
        run = net.run(data.transpose(0, 1))
    report = estimate_run(run, load("loihi"))
    syn = [la.counts for la in report.per_layer if la.kind == "synaptic"]
    return run, {
        "Effective_ACs": sum(c["synops"] for c in syn),
        "Effective_MACs": sum(c["macs"] for c in syn),
        "Dense": sum(c["dense_macs"] for c in syn),
    }


def _active(run: ns.Run) -> None:
    for a in run.spiking_layers():
        assert 0 < float(a.output.mean()) < 1, f"{a.name}: no spiking activity to count"


@pytest.mark.parametrize("seed", [0, 1])
def test_neurobench_torchmodel_on_the_neurosim_network(seed: int) -> None:
    """The neurosim network itself, wrapped in NeuroBench's ``TorchModel``: NeuroBench hooks
    the very ``ns.Conv2d``/``ns.Linear`` modules (subclasses of torch's) neurosim counts."""
    net = _net(torch.Generator().manual_seed(10 + seed)).eval()
    data = _data(seed, analog=True)  # graded first layer: MACs; spiking layers: ACs
    run, mine = _neurosim(net, data)
    _active(run)
    theirs = _neurobench(nb_models.TorchModel(_BatchFirst(net)), data)
    assert mine["Effective_MACs"] > 0
    assert mine["Effective_ACs"] > 0
    # integer counts divided by the same number of samples: exact
    assert theirs == mine


def _snntorch_twin(net: ns.Sequential) -> nn.Sequential:
    """snnTorch network with the same weights; ``Leaky`` = neurosim LIF, delayed reset."""
    mods: list[nn.Module] = []
    for layer in net:
        if isinstance(layer, ns.LIF):
            mods.append(snn.Leaky(beta=BETA, init_hidden=True))
        elif isinstance(layer, ns.Conv2d):
            c = nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                groups=layer.groups,
            )
            c.load_state_dict(layer.state_dict())
            mods.append(c)
        elif isinstance(layer, ns.Linear):
            f = nn.Linear(layer.in_features, layer.out_features)
            f.load_state_dict(layer.state_dict())
            mods.append(f)
        elif isinstance(layer, ns.Flatten):
            mods.append(nn.Flatten())
        else:  # pragma: no cover - the networks here have no other layers
            raise TypeError(type(layer).__name__)
    mods[-1] = snn.Leaky(beta=BETA, init_hidden=True, output=True)  # returns (spk, mem)
    return nn.Sequential(*mods)


def test_neurobench_snntorchmodel_per_step_calls() -> None:
    """NeuroBench's own SNN path: an snnTorch twin called once per time step by
    ``SNNTorchModel`` (T recorded inputs per layer, each judged spiking or not on its own)."""
    net = _net(torch.Generator().manual_seed(20)).eval()
    data = _data(5, analog=True)
    run, mine = _neurosim(net, data)
    _active(run)
    twin = _snntorch_twin(net)
    theirs = _neurobench(nb_models.SNNTorchModel(twin), data)
    # same spikes: the last layer's spikes as NeuroBench returns them, [B, T, ...]
    snn.utils.reset(twin)
    with torch.no_grad():
        out = torch.stack([twin(data[:, t])[0] for t in range(T)], 1)
    assert torch.equal(out, run.output.transpose(0, 1))
    assert theirs == mine


def test_zero_weights_dense_counts_every_synapse() -> None:
    """With zero weights: effective counts skip them, ``Dense`` (both) counts every synapse."""
    g = torch.Generator().manual_seed(30)
    net = _net(g).eval()
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Conv2d | nn.Linear):
                layer.weight[torch.rand(layer.weight.shape, generator=g) < 0.3] = 0.0
    data = _data(6, analog=True)
    run, mine = _neurosim(net, data)
    _active(run)
    theirs = _neurobench(nb_models.TorchModel(_BatchFirst(net)), data)
    assert theirs["Effective_ACs"] == mine["Effective_ACs"]
    assert theirs["Effective_MACs"] == mine["Effective_MACs"]
    # NeuroBench Dense = T × Σ_i structural fan-out (weights as ones), as neurosim's dense_macs
    structural = 0.0
    for a in run.activity:
        if isinstance(a.layer, nn.Conv2d | nn.Linear):
            ones = torch.ones(1, *a.input.shape[2:])
            with torch.no_grad():
                copy = type(a.layer)(**_ctor(a.layer))
                nn.init.ones_(copy.weight)
                nn.init.zeros_(copy.bias)
                structural += float(copy(ones.unsqueeze(0)).sum()) * T
    assert theirs["Dense"] == structural
    assert mine["Dense"] == theirs["Dense"]


def _ctor(layer: nn.Module) -> dict[str, object]:
    if isinstance(layer, nn.Conv2d):
        return {
            "in_channels": layer.in_channels,
            "out_channels": layer.out_channels,
            "kernel_size": layer.kernel_size,
            "stride": layer.stride,
            "padding": layer.padding,
            "groups": layer.groups,
        }
    assert isinstance(layer, nn.Linear)
    return {"in_features": layer.in_features, "out_features": layer.out_features}


def test_average_pooling_convention() -> None:
    """After an average pool NeuroBench sees graded values (MACs, one per nonzero pooled
    value and synapse); neurosim sees the spikes behind them (synops, one per spike and
    synapse of its pooled unit)."""
    net = _net(torch.Generator().manual_seed(40), pool=True).eval()
    data = _data(7, analog=False)  # binary input: the first layer is ACs for both
    run, mine = _neurosim(net, data)
    _active(run)
    theirs = _neurobench(nb_models.TorchModel(_BatchFirst(net)), data)
    assert mine["Effective_MACs"] == 0

    plan = make_plan(run, load("loihi"))
    fc = next(i for i, a in enumerate(run.activity) if isinstance(a.layer, nn.Linear))
    pooled = run.activity[fc].input.to(torch.float64)  # [T, B, 96]: k/4 per 2×2 window
    fan = plan.layers[fc].fanout_in
    n = pooled.shape[1]
    nb_macs = float(((pooled != 0) * fan).sum()) / n  # NeuroBench: nonzero pooled values
    ns_fc = float((pooled * 4 * fan).sum()) / n  # neurosim: spikes in the window (4·mean)
    assert theirs["Effective_MACs"] == nb_macs > 0
    assert theirs["Effective_ACs"] == mine["Effective_ACs"] - ns_fc
    assert ns_fc > nb_macs  # windows with more than one spike count once in NeuroBench
    assert theirs["Dense"] == mine["Dense"]
