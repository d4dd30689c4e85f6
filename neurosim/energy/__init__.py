"""Energy estimation: operation counts of a run, priced on a hardware profile.

``estimate(net, x_seq, profile)`` → ``EnergyReport``; ``compare`` prices one run on several
profiles. The formulas are in ``energy/MODEL.md`` at the repository root.
"""

from neurosim.energy.baseline import ann_baseline
from neurosim.energy.counts import LayerCounts, count
from neurosim.energy.model import TERMS, compare, estimate, estimate_run, layer_terms
from neurosim.energy.penalty import EnergyPenalty, RatePenalty, SpikeCountPenalty
from neurosim.energy.plan import Plan, make_plan
from neurosim.energy.report import EnergyReport, LayerEnergy, comparison_table, load_report

__all__ = [
    "TERMS",
    "EnergyPenalty",
    "EnergyReport",
    "LayerCounts",
    "LayerEnergy",
    "Plan",
    "RatePenalty",
    "SpikeCountPenalty",
    "ann_baseline",
    "compare",
    "comparison_table",
    "count",
    "estimate",
    "estimate_run",
    "layer_terms",
    "load_report",
    "make_plan",
]
