"""Synaptic-operation counts of neurosim against sinabs's synops hooks (``sinabs.hooks``).

Both run the same weights on the same binary input spikes; the spikes of every layer are
checked to be identical before the counts are compared.

How sinabs counts (``sinabs/hooks.py`` of sinabs 3.1.3; ``SNNAnalyzer`` in
``sinabs/synopcounter.py`` is the same computation and is deprecated):

* ``conv_layer_synops_hook``: ``(input * connection_map).mean(0).sum()``, where the
  connection map is a ``ConvTranspose2d`` of ones (same kernel, stride, padding, dilation,
  groups) applied to a tensor of ones of the output's shape: the exact structural fan-out of
  every input element, borders, stride, padding and groups included.
* ``linear_layer_synops_hook``: ``input.mean(0).sum() * out_features``.
* ``ModelSynopsHook`` (on the ``nn.Sequential``): multiplies a layer's count by ``k²`` of every
  ``AvgPool2d`` since the previous weight layer (kernel = stride, so every spike that falls in
  a pooling window drives the pooled unit's synapses once).

Conventions reconciled here:

* **Per step vs per run.** sinabs reports ``layer_synops_per_timestep``: the mean over the
  squeezed ``B·T`` dimension, summed over neurons. neurosim's report gives counts per
  inference (the run's total over T steps divided by B). So ``sinabs · T == neurosim``.
* **Zero weights.** sinabs's connection map and ``out_features`` are structural: a synapse of
  weight 0 is counted. neurosim counts nonzero synapses only. With whole output channels /
  rows zeroed, neurosim's count equals sinabs's count on the pruned layer (those outputs
  deleted); with scattered zero taps it equals sinabs's count minus the zero-weight synapses,
  and sinabs's count equals the structural fan-out (a ones-weight copy) times the events.
* **Average pooling.** neurosim pulls the fan-out back through the pool (sum-pooling
  connectivity); sinabs rescales the pooled input by ``k²``. For kernel = stride and sizes
  divisible by the kernel both equal ``Σ spikes × fan-out of the pooled unit``.
* **First layer.** Both count the binary network input as events × fan-out. Biases are not
  synaptic operations in either.
* **Spike condition.** sinabs's ``SingleSpike`` fires at ``v ≥ θ``, neurosim at ``v > θ``.
  Weights, biases and inputs here are multiples of 1/16 and θ = 1 + 1/1024, so every membrane
  value is exact in float32 and never equals θ: the two simulators' spikes are identical
  (asserted), whatever the order of their floating-point operations.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.energy import estimate_run
from neurosim.energy.connectivity import fanout
from neurosim.hardware import load

pytestmark = pytest.mark.interop

sinabs = pytest.importorskip("sinabs")
sl = pytest.importorskip("sinabs.layers")
hooks = pytest.importorskip("sinabs.hooks")
activation = pytest.importorskip("sinabs.activation")

T, B = 8, 4  # B·T = 32: sinabs's mean over the squeezed B·T axis is exact in float32
THETA = 1.0 + 1.0 / 1024.0
GRID = 16.0  # weights, biases: multiples of 1/16


def _grid(shape: tuple[int, ...], std: float, g: torch.Generator) -> torch.Tensor:
    return torch.round(torch.randn(shape, generator=g) * std * GRID) / GRID


def _torch_layers(g: torch.Generator) -> list[nn.Module]:
    """Conv(stride 2, padding 1) → IAF → pool → Conv(groups 2) → IAF → pool → Linear → IAF."""
    conv1 = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=True)
    conv2 = nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=True)
    fc = nn.Linear(24, 10, bias=False)
    with torch.no_grad():
        conv1.weight.copy_(_grid(tuple(conv1.weight.shape), 0.6, g))
        conv1.bias.copy_(_grid(tuple(conv1.bias.shape), 0.1, g))
        conv2.weight.copy_(_grid(tuple(conv2.weight.shape), 0.8, g))
        conv2.bias.copy_(_grid(tuple(conv2.bias.shape), 0.1, g))
        fc.weight.copy_(_grid(tuple(fc.weight.shape), 1.0, g))
    return [conv1, conv2, fc]


def _iaf() -> nn.Module:
    return sl.IAFSqueeze(
        batch_size=B, spike_threshold=torch.tensor(THETA), spike_fn=activation.SingleSpike
    )


def _sinabs_model(conv1: nn.Module, conv2: nn.Module, fc: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        conv1, _iaf(), nn.AvgPool2d(2), conv2, _iaf(), nn.AvgPool2d(2), nn.Flatten(), fc, _iaf()
    )


def _neurosim_model(conv1: nn.Module, conv2: nn.Module, fc: nn.Module) -> ns.Sequential:
    c1 = ns.Conv2d(2, 4, 3, stride=2, padding=1, bias=True)
    c2 = ns.Conv2d(4, 6, 3, padding=1, groups=2, bias=True)
    lin = ns.Linear(24, 10, bias=False)
    for mine, theirs in ((c1, conv1), (c2, conv2), (lin, fc)):
        mine.load_state_dict(theirs.state_dict())
    return ns.Sequential(
        c1,
        ns.IF(v_th=THETA),
        ns.AvgPool2d(2),
        c2,
        ns.IF(v_th=THETA),
        ns.AvgPool2d(2),
        ns.Flatten(),
        lin,
        ns.IF(v_th=THETA),
    )


def _input(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, 2, 16, 16, generator=g) < 0.35).float()


def _squeeze(x: torch.Tensor) -> torch.Tensor:
    """neurosim's ``[T, B, ...]`` → sinabs's squeezed ``[B·T, ...]`` (batch-major)."""
    return x.transpose(0, 1).flatten(0, 1)


def _unsqueeze(y: torch.Tensor) -> torch.Tensor:
    return y.unflatten(0, (B, T)).transpose(0, 1)


SYNAPTIC = (0, 3, 7)  # indices of the weight layers in both Sequentials
SPIKING = (1, 4, 8)


def _run_both(
    layers: list[nn.Module], x: torch.Tensor
) -> tuple[dict[int, float], dict[int, float], ns.Run, list[torch.Tensor]]:
    """Per-layer synops per inference: (sinabs · T, neurosim), the neurosim run and the
    sinabs spikes of each spiking layer (neurosim layout)."""
    model = _sinabs_model(*layers)
    hooks.register_synops_hooks(model)
    outputs: list[torch.Tensor] = []
    for i in SPIKING:
        model[i].register_forward_hook(lambda m, inp, out: outputs.append(out.detach()))
    with torch.no_grad():
        model(_squeeze(x))
    per_step = model.hook_data["synops_per_timestep"]
    theirs = {i: float(per_step[i]) * T for i in SYNAPTIC}

    net = _neurosim_model(*layers)
    with torch.no_grad():
        run = net.run(x)
    report = estimate_run(run, load("loihi"))
    mine = {i: report.per_layer[i].counts["synops"] for i in SYNAPTIC}
    return theirs, mine, run, [_unsqueeze(o).float() for o in outputs]


def _check_same_spikes(run: ns.Run, sinabs_spikes: list[torch.Tensor]) -> None:
    for i, theirs in zip(SPIKING, sinabs_spikes, strict=True):
        out = run.activity[i].output
        assert torch.equal(out, theirs), f"layer {i}: spikes differ between sinabs and neurosim"
        assert 0 < float(out.mean()) < 1, f"layer {i}: no spiking activity to count"


@pytest.mark.parametrize("seed", [0, 1])
def test_synops_equal_sinabs_per_layer(seed: int) -> None:
    g = torch.Generator().manual_seed(100 + seed)
    layers = _torch_layers(g)
    with torch.no_grad():  # no zero weights here: structural = nonzero fan-out
        for layer in layers:
            w = layer.weight
            w[w == 0] = 1.0 / GRID
    theirs, mine, run, spikes = _run_both(layers, _input(seed))
    _check_same_spikes(run, spikes)
    for i in SYNAPTIC:
        assert mine[i] > 0
        # every value on both sides is exact in float32 (B·T = 32, dyadic inputs), so the
        # agreement is exact, not approximate
        assert mine[i] == theirs[i], f"layer {i}: neurosim {mine[i]} vs sinabs {theirs[i]}"


def _pruned_conv(conv: nn.Conv2d, keep: list[int]) -> nn.Conv2d:
    p = nn.Conv2d(
        conv.in_channels,
        len(keep),
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        groups=conv.groups,
        bias=False,
    )
    with torch.no_grad():
        p.weight.copy_(conv.weight[keep])
    return p


def _pruned_linear(fc: nn.Linear, keep: list[int]) -> nn.Linear:
    p = nn.Linear(fc.in_features, len(keep), bias=False)
    with torch.no_grad():
        p.weight.copy_(fc.weight[keep])
    return p


def _sinabs_count(head: list[nn.Module], spikes: torch.Tensor) -> float:
    """sinabs's synops per inference of the last layer of ``head`` fed ``spikes`` [T, B, ...]."""
    seq = nn.Sequential(*head)
    hooks.register_synops_hooks(seq)
    with torch.no_grad():
        seq(_squeeze(spikes))
    return float(seq.hook_data["synops_per_timestep"][len(head) - 1]) * T


def test_zero_weights_sinabs_counts_structural_synapses() -> None:
    g = torch.Generator().manual_seed(7)
    conv1, conv2, fc = _torch_layers(g)
    with torch.no_grad():
        for layer in (conv1, conv2, fc):
            w = layer.weight
            w[w == 0] = 1.0 / GRID
        # conv1: scattered zero taps (about a third of them)
        conv1.weight[torch.rand(conv1.weight.shape, generator=g) < 0.35] = 0.0
        # conv2 (groups=2, 3 output channels per group): one whole output channel per group
        conv2.weight[[0, 3]] = 0.0
        # linear: two whole output rows
        fc.weight[[2, 7]] = 0.0
    x = _input(3)
    theirs, mine, run, spikes = _run_both([conv1, conv2, fc], x)
    _check_same_spikes(run, spikes)

    # sinabs counts every structural synapse: strictly more than neurosim in each layer
    for i in SYNAPTIC:
        assert theirs[i] > mine[i] > 0, f"layer {i}"

    # conv1, scattered zeros: sinabs = events × structural fan-out (a ones-weight copy);
    # neurosim = events × nonzero fan-out (checked against brute force in test_counts.py)
    ones = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False)
    nn.init.ones_(ones.weight)
    structural = fanout(ones, (2, 16, 16))
    events = x.to(torch.float64).sum(dim=(0, 1))
    assert theirs[0] == float((events * structural).sum()) / B
    nonzero = fanout(run.activity[0].layer, (2, 16, 16))
    assert mine[0] == float((events * nonzero).sum()) / B

    # conv2 and linear, whole outputs zeroed: neurosim == sinabs on the pruned layer, fed the
    # same spikes through the same pooling (sinabs applies its k² pooling correction itself)
    keep2 = [c for c in range(6) if c not in (0, 3)]
    pruned2 = _sinabs_count([nn.AvgPool2d(2), _pruned_conv(conv2, keep2)], spikes[0])
    assert mine[3] == pruned2
    keep_fc = [r for r in range(10) if r not in (2, 7)]
    pruned_fc = _sinabs_count(
        [nn.AvgPool2d(2), nn.Flatten(), _pruned_linear(fc, keep_fc)], spikes[1]
    )
    assert mine[7] == pruned_fc
