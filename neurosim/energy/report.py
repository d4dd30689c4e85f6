"""Energy reports: per-layer, per-term pJ per inference, with the counts behind them.

Reports print as rich tables, serialise to JSON (``energy_*_pj`` fields carry their unit)
and load back; ``comparison_table`` puts several profiles side by side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from neurosim.io.checkpoint import atomic_write_bytes

__all__ = [
    "REPORT_TERMS",
    "EnergyReport",
    "LayerEnergy",
    "comparison_table",
    "load_report",
    "report_from_dict",
]

REPORT_TERMS = ("synaptic", "dense", "neuron", "routing", "memory")
FORMAT = "neurosim.energy-report"


@dataclass(frozen=True)
class LayerEnergy:
    """One layer: energy per term (pJ per inference) and its counts per inference."""

    name: str
    kind: str
    terms_pj: dict[str, float]
    counts: dict[str, float]

    @property
    def total_pj(self) -> float:
        return sum(self.terms_pj[t] for t in REPORT_TERMS)


@dataclass(frozen=True)
class EnergyReport:
    """Energy of one inference on one hardware profile."""

    profile: str
    steps: int
    batch: int
    per_layer: tuple[LayerEnergy, ...]
    static_pj: float
    run_time_s: float
    terms_pj: dict[str, float] = field(default_factory=dict)
    total_pj: float = 0.0

    @classmethod
    def build(
        cls,
        profile: str,
        steps: int,
        batch: int,
        per_layer: tuple[LayerEnergy, ...],
        static_pj: float,
        run_time_s: float,
    ) -> EnergyReport:
        terms = {t: sum(layer.terms_pj[t] for layer in per_layer) for t in REPORT_TERMS}
        terms["static"] = static_pj
        return cls(
            profile, steps, batch, per_layer, static_pj, run_time_s, terms, sum(terms.values())
        )

    @property
    def latency_per_step_s(self) -> float:
        return self.run_time_s / self.steps

    @property
    def terms(self) -> dict[str, float]:
        """Alias of ``terms_pj`` (pJ per inference by term, static included)."""
        return self.terms_pj

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "profile": self.profile,
            "steps": self.steps,
            "batch": self.batch,
            "energy_total_pj": self.total_pj,
            "energy_terms_pj": self.terms_pj,
            "energy_static_pj": self.static_pj,
            "run_time_s": self.run_time_s,
            "latency_per_step_s": self.latency_per_step_s,
            "layers": [
                {
                    "name": la.name,
                    "kind": la.kind,
                    "energy_terms_pj": la.terms_pj,
                    "energy_total_pj": la.total_pj,
                    "counts": la.counts,
                }
                for la in self.per_layer
            ],
        }

    def save_json(self, path: str | os.PathLike[str]) -> None:
        """Write the report as JSON, atomically."""
        atomic_write_bytes(path, json.dumps(self.to_dict(), indent=2).encode())

    def table(self) -> Table:
        """Per-layer, per-term table (pJ per inference)."""
        t = Table(
            title=f"energy per inference on {self.profile} (T = {self.steps}, "
            f"averaged over {self.batch} samples)"
        )
        t.add_column("layer")
        for term in (*REPORT_TERMS, "total"):
            t.add_column(f"{term} pJ", justify="right")
        t.add_column("synops", justify="right")
        t.add_column("spikes", justify="right")
        for la in self.per_layer:
            if la.total_pj == 0 and not la.counts.get("spikes"):
                continue
            t.add_row(
                la.name,
                *(_fmt(la.terms_pj[k]) for k in REPORT_TERMS),
                _fmt(la.total_pj),
                _fmt(la.counts["synops"]),
                _fmt(la.counts["spikes"]),
            )
        t.add_row("static", *([""] * len(REPORT_TERMS)), _fmt(self.static_pj), "", "")
        t.add_row(
            "[bold]total",
            *(_fmt(self.terms_pj[k]) for k in REPORT_TERMS),
            f"[bold]{_fmt(self.total_pj)}",
            "",
            "",
        )
        t.caption = f"run time {self.run_time_s:.3g} s per inference"
        return t


def _fmt(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"


def comparison_table(reports: Mapping[str, EnergyReport]) -> Table:
    """One row per profile: each term and the total (pJ per inference)."""
    t = Table(title="energy per inference by profile")
    t.add_column("profile")
    for term in (*REPORT_TERMS, "static", "total"):
        t.add_column(f"{term} pJ", justify="right")
    t.add_column("run time s", justify="right")
    for name, r in reports.items():
        t.add_row(
            name,
            *(_fmt(r.terms_pj[k]) for k in (*REPORT_TERMS, "static")),
            _fmt(r.total_pj),
            f"{r.run_time_s:.3g}",
        )
    return t


def report_from_dict(d: object, where: str = "energy report") -> EnergyReport:
    """Rebuild a report from ``EnergyReport.to_dict()`` output."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"{where} is not a neurosim energy report (field 'format' != {FORMAT!r})")
    try:
        layers = tuple(
            LayerEnergy(la["name"], la["kind"], la["energy_terms_pj"], la["counts"])
            for la in d["layers"]
        )
        return EnergyReport.build(
            d["profile"], d["steps"], d["batch"], layers, d["energy_static_pj"], d["run_time_s"]
        )
    except (KeyError, TypeError) as err:
        raise ValueError(f"{where} is missing or has a bad field: {err}") from None


def load_report(path: str | os.PathLike[str]) -> EnergyReport:
    """Read a report written by ``EnergyReport.save_json``."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"energy report {p} cannot be read: {err}") from None
    return report_from_dict(d, f"{p}")
