"""Sweep results on disk: the per-run state, the table (JSON + CSV) and its Pareto front.

A run folder ``runs/<id>/`` is *done* when its ``metrics.json`` exists and the config stored
there equals the run's config; the table is rebuilt from those files, so a resumed sweep
writes the same table as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from rich.table import Table

from neurosim.io.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint
from neurosim.training.job import TrainConfig

__all__ = [
    "ROW_FIELDS",
    "front_table",
    "load_table",
    "pareto_front",
    "run_state",
    "write_table",
]

ROW_FIELDS = ("id", "kind", "profile", "weight", "seed", "test_accuracy", "energy_pj")

Row = dict[str, Any]


def _same_config(stored: Any, cfg: TrainConfig) -> bool:
    if not isinstance(stored, Mapping):
        return False
    try:
        return TrainConfig.model_validate(stored) == cfg
    except ValidationError:
        return False


def run_state(run_dir: Path, cfg: TrainConfig) -> Literal["done", "resume", "fresh"]:
    """``done``: finished with ``cfg``; ``resume``: a checkpoint of ``cfg`` from a run that
    was stopped mid-training; ``fresh``: nothing usable (absent, other config, unreadable)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        metrics = None
    if isinstance(metrics, Mapping) and _same_config(metrics.get("config"), cfg):
        return "done"
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.is_file():
        try:
            if _same_config(load_checkpoint(ckpt)["config"], cfg):
                return "resume"
        except (CheckpointError, OSError):
            pass
    return "fresh"


def read_metrics(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "metrics.json").read_text())
    return data


def write_table(
    out_dir: Path, rows: Sequence[Row], front: Sequence[Row], sweep: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write ``sweep.json`` (sweep config, rows, front) and ``sweep.csv`` (rows), atomically."""
    doc = {"sweep": dict(sweep), "rows": list(rows), "front": [r["id"] for r in front]}
    json_path, csv_path = out_dir / "sweep.json", out_dir / "sweep.csv"
    atomic_write_bytes(json_path, (json.dumps(doc, indent=2) + "\n").encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in ROW_FIELDS})
    atomic_write_bytes(csv_path, buf.getvalue().encode())
    return json_path, csv_path


def load_table(path: str | os.PathLike[str]) -> list[Row]:
    """The rows of a sweep: ``path`` is ``sweep.json`` or the sweep's output folder."""
    p = Path(path)
    if p.is_dir():
        p = p / "sweep.json"
    rows: list[Row] = json.loads(p.read_text())["rows"]
    return rows


def _usable(row: Row) -> bool:
    e, a = row.get("energy_pj"), row.get("test_accuracy")
    return (
        isinstance(e, int | float)
        and isinstance(a, int | float)
        and math.isfinite(e)
        and math.isfinite(a)
    )


def pareto_front(rows: Iterable[Row]) -> list[Row]:
    """The non-dominated rows (higher ``test_accuracy``, lower ``energy_pj``) of each profile.

    A row is dominated when another row of the same profile is at least as accurate and at
    most as costly, and strictly better in one of the two; rows that tie exactly are all kept.
    Rows without a finite energy or accuracy are left out. Order: profiles in order of first
    appearance, then energy ascending (accuracy ascending, id for exact ties)."""
    by_profile: dict[Any, list[Row]] = {}
    for row in rows:
        if _usable(row):
            by_profile.setdefault(row.get("profile"), []).append(row)
    front: list[Row] = []
    for group in by_profile.values():
        ordered = sorted(
            group, key=lambda r: (r["energy_pj"], -r["test_accuracy"], str(r.get("id")))
        )
        best = -math.inf  # highest accuracy among strictly cheaper rows
        i = 0
        while i < len(ordered):
            # rows of equal energy: only those with the highest accuracy can survive
            j = i
            while j < len(ordered) and ordered[j]["energy_pj"] == ordered[i]["energy_pj"]:
                j += 1
            top = ordered[i]["test_accuracy"]
            if top > best:
                front.extend(r for r in ordered[i:j] if r["test_accuracy"] == top)
                best = top
            i = j
    return front


def front_table(front: Sequence[Row], title: str = "Pareto front") -> Table:
    """A rich Table of ``front`` (one line per run)."""
    table = Table(title=title)
    table.add_column("run", no_wrap=True)
    for name in ("profile", "kind"):
        table.add_column(name)
    for name in ("weight", "seed", "accuracy", "energy pJ"):
        table.add_column(name, justify="right")
    for r in front:
        table.add_row(
            str(r["id"]),
            str(r["profile"]),
            str(r["kind"]),
            f"{r['weight']:g}",
            str(r["seed"]),
            f"{r['test_accuracy']:.2%}",
            f"{r['energy_pj']:,.4g}",
        )
    return table
