"""Energy of the four model kinds (snn, s2nn, ann, bnn) against a hand count.

A tiny MLP 4 → 3 → 2 with fixed weights on the input x = (1, 0.5, 0.25, 0):
hidden pre-activations h = W1 x = (1.075, −0.925, 0.425), so
  S2NN spikes (h > 0): (1, 0, 1) → 2 spikes, each reaching 2 synapses → 4 synops;
  ReLU: (1.075, 0, 0.425) → 2 nonzero inputs × 2 = 4 effective MACs (6 dense);
  sign: (1, −1, 1) → every input nonzero: 6 MACs;
  LIF (T = 2, β = e^{−1/20}, v_th = 1, subtract reset): hidden neuron 0 fires at both steps
  (1.075, then β·0.075 + 1.075), the others never → 2 spikes → 4 synops; the output LIF
  receives (1.5, 0.5) at both steps and its neuron 0 fires twice (1.5, β·0.5 + 1.5).
First layer: analog input, in × out = 12 dense MACs per step (3 nonzero inputs × 3 = 9
where zero inputs are skipped). The expected energies below are these counts times the
profile's constants, term by term as written in energy/MODEL.md; the BNN's second layer
reads ±1 inputs (``act_bits = 1``), so its MACs are accumulates (``e_synop_pj``).
"""

import pytest
import torch

import neurosim as ns
from neurosim.energy import estimate
from neurosim.hardware import load
from neurosim.models import ModelConfig, build_encoder, build_model

X = torch.tensor([[1.0, 0.5, 0.25, 0.0]] * 2)  # two identical samples: per-inference = each
W1 = torch.tensor([[1.0, 0.1, 0.1, 0.1], [-1.0, 0.1, 0.1, 0.1], [-0.1, 1.0, 0.1, 0.1]])
W2 = torch.tensor([[1.5, 1.0, 1.0], [0.5, 0.5, 0.5]])

DENSE = ("asic45-fp32", "asic45-int8", "gpu", "cpu")
SPIKING = (*DENSE, "loihi", "fpga-hls")

# per kind: time steps, then per layer with work (first linear, activation, second linear,
# output neuron): hand counts per inference
HAND: dict[str, dict[str, float]] = {
    #          T   MACs(eff, dense) layer 1; updates, driven, spikes; synops, MACs(eff,
    #          dense), dense synops layer 2; output LIF updates, driven, spikes
    "s2nn": dict(T=1, m1=9, d1=12, u=3, dr=3, sp=2, syn=4, m2=0, d2=6, uo=0, dro=0, spo=0),
    "ann": dict(T=1, m1=9, d1=12, u=3, dr=3, sp=0, syn=0, m2=4, d2=6, uo=0, dro=0, spo=0),
    "bnn": dict(T=1, m1=9, d1=12, u=3, dr=3, sp=0, syn=0, m2=6, d2=6, uo=0, dro=0, spo=0),
    "snn": dict(T=2, m1=18, d1=24, u=6, dr=6, sp=2, syn=4, m2=0, d2=12, uo=4, dro=4, spo=2),
}


def _net(kind: str, binary_weights: bool = False) -> tuple[ns.Sequential, torch.Tensor]:
    cfg = ModelConfig(
        kind=kind,  # type: ignore[arg-type]
        input_shape=(4,),
        n_classes=2,
        hidden=(3,),
        T=2 if kind == "snn" else None,
        binary_weights=binary_weights,
    )
    net = build_model(cfg)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, w in zip(linears, (W1, W2), strict=True):
            lin.weight.copy_(w)
            lin.bias.zero_()
    return net, build_encoder(cfg)(X)


def _hand_pj(kind: str, name: str, w_bits: float | None = None) -> dict[str, float]:
    """Per-inference energy terms from the hand counts and the profile's constants."""
    p = load(name)
    h = HAND[kind]
    first = h["m1"] if p.skips_zero_inputs else h["d1"]
    if kind in ("s2nn", "snn"):  # spikes into layer 2: events, or every synapse every step
        syn2, mac2 = (h["syn"], 0.0) if p.event_driven else (h["d2"], 0.0)
    else:  # graded or ±1 input: MACs on nonzero inputs if skipped, else all
        syn2, mac2 = 0.0, (h["m2"] if p.skips_zero_inputs else h["d2"])
    updates, driven = h["u"] + h["uo"], h["dr"] + h["dro"]
    wb = (w_bits or p.weight_bits) / 8
    sb = p.state_bits / 8
    packets = h["sp"] if kind == "snn" else 0.0  # hidden spikes → the output LIF's core
    return {
        "synaptic": syn2 * p.e_synop_pj.value,
        # a ±1 input behind a sign carries act_bits = 1: those MACs are accumulates (MODEL.md)
        "dense": first * p.e_mac_pj.value
        + mac2 * (p.e_synop_pj.value if kind == "bnn" else p.e_mac_pj.value),
        "neuron": driven * p.e_neuron_driven_pj.value
        + (updates - driven) * p.e_neuron_idle_pj.value
        + (h["sp"] + h["spo"]) * p.e_spike_pj.value,
        "routing": packets * p.e_packet_pj.value,  # one tile: no hops
        "memory": (first + syn2 + mac2) * wb * p.e_weight_read_pj_per_byte.value
        + updates * 2 * sb * p.e_state_rw_pj_per_byte.value,
    }


@pytest.mark.parametrize(
    ("kind", "profile"),
    [(k, p) for k in ("s2nn", "snn") for p in SPIKING]
    + [(k, p) for k in ("ann", "bnn") for p in DENSE],
)
def test_energy_of_each_kind_matches_the_hand_count(kind: str, profile: str) -> None:
    net, x = _net(kind)
    assert x.shape[0] == HAND[kind]["T"]
    report = estimate(net, x, profile)
    hand = _hand_pj(kind, profile)
    for term, value in hand.items():
        assert report.terms_pj[term] == pytest.approx(value, rel=1e-9, abs=1e-9), term
    assert load(profile).p_static_mw.value == 0.0
    assert report.total_pj == pytest.approx(sum(hand.values()), rel=1e-9)


@pytest.mark.parametrize("kind", ["s2nn", "snn", "ann", "bnn"])
def test_first_layer_is_dense_macs_and_spikes_are_synops(kind: str) -> None:
    net, x = _net(kind)
    report = estimate(net, x, "asic45-fp32")
    layers = [e for e in report.per_layer if e.kind == "synaptic"]
    first, second = layers
    h = HAND[kind]
    assert first.counts["dense_macs"] == 4 * 3 * h["T"]  # in × out per step
    assert first.counts["macs"] == h["m1"]
    assert first.counts["synops"] == 0
    assert second.counts["synops"] == h["syn"]  # spikes × fan-out (2)
    assert second.counts["macs"] == h["m2"]
    neurons = [e for e in report.per_layer if e.kind in ("neuron", "activation")]
    assert neurons[0].counts["spikes"] == h["sp"]
    assert neurons[0].counts["updates"] == h["u"]
    if kind == "snn":  # the output LIF
        assert neurons[1].counts["spikes"] == h["spo"]
        assert neurons[1].counts["driven"] == h["dro"]


@pytest.mark.parametrize(
    ("profile", "e_first", "e_second"),
    [
        # integer arithmetic (Horowitz 45 nm: int8 add 0.03, mult 0.2 pJ), 1-bit weights;
        # first layer: 1-bit weight × profile-width input, proportional below 8 × 8 bits;
        # second layer: 1-bit weight × ±1 input, an accumulate of 1 bit
        ("asic45-fp32", 0.2 * 1 * 32 / 64 + 0.1, 0.03 * 1 / 8),
        ("asic45-int8", 0.2 * 1 * 8 / 64 + 0.03, 0.03 * 1 / 8),
    ],
)
def test_binary_weights_are_priced_at_one_bit(
    profile: str, e_first: float, e_second: float
) -> None:
    net, x = _net("bnn", binary_weights=True)
    report = estimate(net, x, profile)
    assert report.terms_pj["dense"] == pytest.approx(12 * e_first + 6 * e_second, rel=1e-9)
    hand = _hand_pj("bnn", profile, w_bits=1)
    assert report.terms_pj["memory"] == pytest.approx(hand["memory"], rel=1e-9)
    full = estimate(*_net("bnn"), profile)
    assert report.terms_pj["memory"] < full.terms_pj["memory"]
