"""Energy and latency of a run on a hardware profile (formulas in ``energy/MODEL.md``).

Per layer l (counts summed over the run, divided by the batch size for per-inference pJ):

    synaptic = synops · e_synop       (synops: spike events, or every synapse every step on
                                        a profile that is not event-driven)
    dense    = MACs · e_mac           (MACs: nonzero inputs if the profile skips zeros, else all)
    neuron   = driven · e_driven + idle · e_idle + spikes · e_spike
    routing  = packets · e_packet + hops_x · e_hop_x + hops_y · e_hop_y
    memory   = (synops + MACs) · w_bits/8 · e_weight_read + updates · 2 · s_bits/8 · e_state_rw
    time     = (synops · t_synop + MACs · t_mac + updates · t_neuron
                + hops_x · t_hop_x + hops_y · t_hop_y) / cores(l)

and for the network ``run time = T · t_step_sync + Σ_l time_l`` per inference and
``static = p_static · run time``. A layer carrying ``weight_bits`` / ``act_bits`` replaces
``e_synop`` and ``e_mac`` by per-bit-width costs (``neurosim.hardware.bitwidth.op_energy``).
``layer_terms`` works on tensors and is what both
``estimate`` and the training penalty evaluate, so the two are the same function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from neurosim.core.network import Run, Sequential, check_sequence
from neurosim.energy.counts import LayerCounts, count
from neurosim.energy.plan import Plan, make_plan
from neurosim.energy.report import EnergyReport, LayerEnergy
from neurosim.hardware.bitwidth import op_energy
from neurosim.hardware.profile import HardwareProfile, load

__all__ = ["TERMS", "compare", "estimate", "estimate_run", "layer_terms", "network_terms"]

TERMS = ("synaptic", "dense", "neuron", "routing", "memory", "static")
_PJ_PER_MW_S = 1e9  # 1 mW · 1 s = 1e-3 J = 1e9 pJ


def priced_ops(c: LayerCounts, profile: HardwareProfile) -> tuple[Tensor, Tensor]:
    """``(synops, MACs)`` the profile pays for: events or every synapse every step for
    binary inputs (``event_driven``), nonzero or all inputs for analog ones
    (``skips_zero_inputs``)."""
    if c.analog:
        return c.synops, (c.macs if profile.skips_zero_inputs else c.dense_macs)
    if profile.event_driven:
        return c.synops, c.macs
    return c.dense_macs, c.macs


def layer_terms(c: LayerCounts, profile: HardwareProfile) -> dict[str, Tensor]:
    """Energy terms (pJ, summed over the run) and the layer's busy time (s) as tensors."""
    synops, macs = priced_ops(c, profile)
    # per-op energies at the layer's bit widths (the profile's constants when it has none)
    e_synop, e_mac = op_energy(profile, c.weight_bits, c.act_bits, c.name)
    w_bytes = (c.weight_bits or profile.weight_bits) / 8.0
    s_bytes = profile.state_bits / 8.0
    cores = max(c.n_cores, 1)
    return {
        "synaptic": synops * e_synop,
        "dense": macs * e_mac,
        "neuron": c.driven * profile.e_neuron_driven_pj.value
        + c.idle * profile.e_neuron_idle_pj.value
        + c.spikes * profile.e_spike_pj.value,
        "routing": c.packets * profile.e_packet_pj.value
        + c.hops_x * profile.e_hop_x_pj.value
        + c.hops_y * profile.e_hop_y_pj.value,
        "memory": (synops + macs) * w_bytes * profile.e_weight_read_pj_per_byte.value
        + c.updates * 2.0 * s_bytes * profile.e_state_rw_pj_per_byte.value,
        "time_s": (
            synops * profile.t_synop_s.value
            + macs * profile.t_mac_s.value
            + c.updates * profile.t_neuron_s.value
            + c.hops_x * profile.t_hop_x_s.value
            + c.hops_y * profile.t_hop_y_s.value
        )
        / cores,
    }


def network_terms(
    counts: Sequence[LayerCounts], profile: HardwareProfile, steps: int, batch: int
) -> tuple[list[dict[str, Tensor]], Tensor, Tensor]:
    """Per-layer terms per inference, the static energy per inference (pJ) and the run
    time per inference (s), all tensors."""
    per_layer = [{k: v / batch for k, v in layer_terms(c, profile).items()} for c in counts]
    run_time = steps * profile.t_step_sync_s.value + sum(
        (t["time_s"] for t in per_layer), torch.zeros((), dtype=torch.float64)
    )
    static = run_time * profile.p_static_mw.value * _PJ_PER_MW_S
    return per_layer, static, run_time


def _report(run: Run, counts: list[LayerCounts], profile: HardwareProfile) -> EnergyReport:
    steps, batch = run.output.shape[0], run.output.shape[1]
    per_layer, static, run_time = network_terms(counts, profile, steps, batch)
    layers = tuple(
        LayerEnergy(
            c.name,
            c.kind,
            {k: float(t[k].detach()) for k in TERMS if k != "static"},
            c.as_floats(per=batch),
        )
        for c, t in zip(counts, per_layer, strict=True)
    )
    return EnergyReport.build(
        profile.name, steps, batch, layers, float(static.detach()), float(run_time.detach())
    )


def estimate_run(
    run: Run, profile: str | HardwareProfile, plan: Plan | None = None
) -> EnergyReport:
    """Energy report of an existing run (pass ``plan`` to reuse precomputed maps)."""
    prof = load(profile)
    plan = plan or make_plan(run, prof)
    return _report(run, count(run, plan), prof)


@torch.no_grad()
def _run(net: Sequential, x_seq: Tensor) -> Run:
    check_sequence(x_seq, "x_seq")
    was_training = net.training
    net.eval()
    try:
        return net.run(x_seq)
    finally:
        net.train(was_training)


def estimate(net: Sequential, x_seq: Tensor, profile: str | HardwareProfile) -> EnergyReport:
    """Run ``net`` on ``x_seq [T, B, ...]`` (eval mode) and price it on ``profile``.

    The report is per inference (averaged over the B samples).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"estimate expects a neurosim Sequential, got {type(net).__name__}")
    return estimate_run(_run(net, x_seq), profile)


def compare(
    net: Sequential, x_seq: Tensor, profiles: Sequence[str | HardwareProfile]
) -> dict[str, EnergyReport]:
    """One run of ``net``, priced on several profiles: ``{profile name: report}``."""
    if not profiles:
        raise ValueError("compare needs at least one profile")
    run = _run(net, x_seq)
    out: dict[str, EnergyReport] = {}
    for spec in profiles:
        prof = load(spec)
        out[prof.name] = _report(run, count(run, make_plan(run, prof)), prof)
    return out
