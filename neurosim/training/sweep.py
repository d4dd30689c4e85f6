"""Sweeps: one training job per grid point (penalty kind × profile × weight × seed).

``expand(sweep)`` lists the runs, each with a stable id such as ``energy-loihi-w1e-06-s0``
(a ``none`` penalty is one run per profile × seed, whatever the weights). ``run_sweep``
trains each run into ``out_dir/runs/<id>/`` with ``run_job``, in this process, in a pool of
processes, or as Ray tasks, skipping runs already done with the same config (so a killed
sweep resumes where it stopped; runs are seeded, so the results are the same), and writes
the table of results to ``out_dir/sweep.json`` and ``out_dir/sweep.csv``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from neurosim.hardware.profile import available
from neurosim.training.job import TrainConfig, run_job
from neurosim.training.penalties import check_profile
from neurosim.training.sweep_store import (
    ROW_FIELDS,
    front_table,
    load_table,
    pareto_front,
    read_metrics,
    run_state,
    write_table,
)

__all__ = [
    "KINDS",
    "ROW_FIELDS",
    "RunSpec",
    "SweepConfig",
    "SweepError",
    "SweepResult",
    "expand",
    "front_table",
    "load_table",
    "pareto_front",
    "run_id",
    "run_sweep",
]

KINDS = ("none", "energy", "spikes", "rate")

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=0)]


def _unique(name: str, values: list[Any]) -> list[Any]:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{name} has duplicates: {', '.join(dupes)}")
    return values


class SweepConfig(BaseModel):
    """A grid of training jobs around ``base`` (whose penalty kind, weight and profile, logged
    profile and seed each run replaces). ``base`` may be given as the keyword arguments of
    ``TrainConfig.for_dataset`` (model input shape and classes then come from the dataset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: TrainConfig
    kinds: list[str] = Field(default=["energy"], min_length=1, description="penalty kinds")
    weights: list[Weight] = Field(default=[], description="penalty weights (not for 'none')")
    profiles: list[str] = Field(min_length=1, description="penalty's and logged profile")
    seeds: list[Seed] = Field(default=[0], min_length=1)

    @field_validator("base", mode="before")
    @classmethod
    def _base_from_dataset(cls, v: Any) -> Any:
        model = v.get("model", {}) if isinstance(v, dict) else None
        if isinstance(model, dict) and "input_shape" not in model:
            kw = dict(v)
            return TrainConfig.for_dataset(kw.pop("dataset", "digits"), **kw)
        return v

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: list[str]) -> list[str]:
        for k in v:
            if k not in KINDS:
                raise ValueError(f"unknown penalty kind {k!r}; expected one of {', '.join(KINDS)}")
        return _unique("kinds", v)

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, v: list[str]) -> list[str]:
        return _unique("profiles", [check_profile(p) for p in v])

    @field_validator("weights", "seeds")
    @classmethod
    def _no_duplicates(cls, v: list[Any], info: Any) -> list[Any]:
        return _unique(info.field_name, v)

    @model_validator(mode="after")
    def _weights_for_penalties(self) -> SweepConfig:
        needs = [k for k in self.kinds if k != "none"]
        if needs and not self.weights:
            raise ValueError(f"penalty kind(s) {', '.join(needs)} need at least one weight")
        return self


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its id (also its folder name) and the job's full config."""

    id: str
    kind: str
    profile: str
    weight: float
    seed: int
    config: TrainConfig


def _fmt_weight(w: float) -> str:
    short = f"{w:g}"
    return short if float(short) == w else repr(w)


def _profile_tag(profile: str) -> str:
    if profile in available():
        return profile
    # a YAML path: its stem (made path-safe) plus a hash of the path, so two files differ
    stem = "".join(c if c.isalnum() or c in "._" else "_" for c in Path(profile).stem)
    return f"{stem}_{hashlib.sha1(profile.encode()).hexdigest()[:8]}"


def run_id(kind: str, profile: str, weight: float, seed: int) -> str:
    """``<kind>-<profile>-w<weight>-s<seed>``; ``none-<profile>-s<seed>`` for no penalty."""
    w = "" if kind == "none" else f"-w{_fmt_weight(weight)}"
    return f"{kind}-{_profile_tag(profile)}{w}-s{seed}"


def expand(sweep: SweepConfig) -> list[RunSpec]:
    """The runs of ``sweep`` in a fixed order: kind, profile, weight, seed."""
    base = sweep.base.model_dump()
    specs: list[RunSpec] = []
    for kind in sweep.kinds:
        for profile in sweep.profiles:
            for weight in [0.0] if kind == "none" else sweep.weights:
                for seed in sweep.seeds:
                    penalty = {**base["penalty"], "kind": kind, "weight": weight}
                    penalty["profile"] = profile
                    cfg = TrainConfig.model_validate(
                        {**base, "seed": seed, "penalty": penalty, "energy_profile": profile}
                    )
                    rid = run_id(kind, profile, weight, seed)
                    specs.append(RunSpec(rid, kind, profile, weight, seed, cfg))
    return specs


class SweepError(RuntimeError):
    """Some runs of a sweep failed; ``result`` holds the others (written to the table)."""

    def __init__(self, message: str, result: SweepResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class SweepResult:
    rows: list[dict[str, Any]]
    front: list[dict[str, Any]]
    ran: list[str]
    skipped: list[str]
    json_path: Path
    csv_path: Path
    failed: dict[str, str] = field(default_factory=dict)

    def front_table(self) -> Table:
        """A rich Table of the Pareto front."""
        return front_table(self.front)


def _execute(config: dict[str, Any], run_dir: str, resume: bool, threads: int | None) -> None:
    """Train one run (top level, so process pools and Ray can ship it by reference)."""
    if threads is not None:
        torch.set_num_threads(threads)
    run_job(TrainConfig.model_validate(config), run_dir, resume=resume, progress=False)


_Task = tuple[RunSpec, Path, bool]
_Done = Callable[[RunSpec, BaseException | None], None]


def _run_here(tasks: list[_Task], done: _Done) -> None:
    for spec, run_dir, resume in tasks:
        try:
            _execute(spec.config.model_dump(mode="json"), str(run_dir), resume, None)
        except Exception as err:
            done(spec, err)
        else:
            done(spec, None)


def _run_pool(tasks: list[_Task], workers: int, done: _Done) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        futures: dict[Future[None], RunSpec] = {
            pool.submit(_execute, s.config.model_dump(mode="json"), str(d), r, 1): s
            for s, d, r in tasks
        }
        try:
            for fut in as_completed(futures):
                done(futures[fut], fut.exception())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(
            "use_ray=True needs Ray; install it with: pip install 'neurosim[ray]'"
        ) from None
    return ray


def _run_ray(tasks: list[_Task], workers: int | None, done: _Done) -> None:
    ray = _import_ray()
    if not ray.is_initialized():  # a local instance on this machine's CPUs
        ray.init()
    remote = ray.remote(num_cpus=1, max_retries=0)(_execute)
    queue: Iterator[_Task] = iter(tasks)
    pending: dict[Any, RunSpec] = {}
    cap = workers or len(tasks)

    def submit() -> None:
        while len(pending) < cap:
            nxt = next(queue, None)
            if nxt is None:
                return
            spec, run_dir, resume = nxt
            ref = remote.remote(spec.config.model_dump(mode="json"), str(run_dir), resume, 1)
            pending[ref] = spec

    submit()
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(ready[0])
            try:
                ray.get(ready[0])
            except Exception as err:
                done(spec, err)
            else:
                done(spec, None)
            submit()
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise


def _row(spec: RunSpec, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": spec.id,
        "kind": spec.kind,
        "profile": spec.profile,
        "weight": spec.weight,
        "seed": spec.seed,
        "test_accuracy": metrics["test_accuracy"],
        "energy_pj": metrics["energy_pj"],
    }


def run_sweep(
    sweep: SweepConfig,
    out_dir: str | os.PathLike[str],
    workers: int | None = None,
    use_ray: bool = False,
    progress: bool = True,
) -> SweepResult:
    """Train every run of ``sweep`` not already done in ``out_dir`` and write the table.

    ``workers``: local processes (default 1: in this process); with ``use_ray`` the most
    Ray tasks in flight (default: all, Ray schedules them on its CPUs). Raises ``SweepError``
    after writing the table of the runs that finished when some runs failed.
    """
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if use_ray:
        _import_ray()  # fail before any work when Ray is missing
    out = Path(out_dir).absolute()  # worker processes may run in another directory
    specs = expand(sweep)
    tasks: list[_Task] = []
    skipped: list[str] = []
    for spec in specs:
        run_dir = out / "runs" / spec.id
        state = run_state(run_dir, spec.config)
        if state == "done":
            skipped.append(spec.id)
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            tasks.append((spec, run_dir, state == "resume"))
    ran: list[str] = []
    failed: dict[str, str] = {}
    with Progress(
        TextColumn("sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=True,
    ) as bar:
        task = bar.add_task("runs", total=len(specs), completed=len(skipped), last="")

        def done(spec: RunSpec, err: BaseException | None) -> None:
            if err is None:
                ran.append(spec.id)
            else:
                failed[spec.id] = f"{type(err).__name__}: {err}"
            bar.update(task, advance=1, last=spec.id + (" failed" if err else ""))

        if tasks and use_ray:
            _run_ray(tasks, workers, done)
        elif tasks and (workers or 1) > 1 and len(tasks) > 1:
            _run_pool(tasks, workers or 1, done)
        elif tasks:
            _run_here(tasks, done)
    rows = [_row(s, read_metrics(out / "runs" / s.id)) for s in specs if s.id not in failed]
    front = pareto_front(rows)
    json_path, csv_path = write_table(out, rows, front, sweep.model_dump(mode="json"))
    order = {s.id: i for i, s in enumerate(specs)}
    result = SweepResult(
        rows, front, sorted(ran, key=order.__getitem__), skipped, json_path, csv_path, failed
    )
    if failed:
        lines = "\n".join(f"  {k}: {v}" for k, v in failed.items())
        raise SweepError(f"{len(failed)} of {len(specs)} runs failed:\n{lines}", result)
    return result
