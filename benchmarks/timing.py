"""Timing steps on a machine that other people's processes share.

Each timed step records its wall time (``time.perf_counter``), this process's CPU time
(``time.process_time``) and the *stall*: the fraction of the step during which some task
on the machine was runnable but waiting for a core (Linux pressure-stall information,
``/proc/pressure/cpu``, "some" total). With the benchmark's threads alone on the cores the
stall stays near 0; when another process competes for them it rises towards 1 and the wall
time grows with it. A step is *clean* when its stall is below ``clean``; the reported
median is over the clean steps when there are enough of them (else over all, flagged
``noisy``). Before each step the worker may wait, a bounded time, for the other processes
to leave the cores idle (``/proc/stat`` busy share while this process sleeps).
Where the kernel has no pressure-stall file, every step counts as clean.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Sample", "Settings", "measure", "summarise"]

_PSI = "/proc/pressure/cpu"
_STAT = "/proc/stat"


def _stall_us() -> int | None:
    try:
        with open(_PSI) as f:
            return int(f.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


def _busy_jiffies() -> tuple[int, int] | None:
    try:
        with open(_STAT) as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    total = sum(values)
    return total - values[3] - values[4], total  # minus idle and iowait


def machine_busy(probe_s: float = 0.25) -> float:
    """Fraction of all cores busy over ``probe_s`` seconds (this process sleeps meanwhile)."""
    a = _busy_jiffies()
    time.sleep(probe_s)
    b = _busy_jiffies()
    if a is None or b is None or b[1] == a[1]:
        return 0.0
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_quiet(max_wait_s: float, threshold: float) -> float:
    """Sleep until other processes use under ``threshold`` of the cores, at most
    ``max_wait_s`` seconds; return the seconds waited."""
    waited = 0.0
    while waited < max_wait_s:
        t0 = time.perf_counter()
        busy = machine_busy()
        waited += time.perf_counter() - t0
        if busy < threshold:
            break
    return waited


@dataclass(frozen=True)
class Sample:
    ms: float  # wall time of the step
    cpu_ms: float  # CPU time of this process (all its threads) during the step
    stall: float  # fraction of the step with a task waiting for a core (0 without PSI)


@dataclass(frozen=True)
class Settings:
    warmup: int = 1
    iters: int = 7  # clean steps wanted
    min_iters: int = 3  # fewest steps before the time budget may stop the measurement
    budget_s: float = 15.0  # timed seconds after which to stop (once min_iters are in)
    clean: float = 0.05  # a step is clean when its stall fraction is below this
    max_steps_factor: int = 3  # at most this many times ``iters`` steps in all
    gate_s: float = 10.0  # wait at most this long for quiet cores before a step
    wait_cap_s: float = 30.0  # ... and at most this long in all per measurement
    quiet: float = 0.15  # "quiet": other processes use under this share of the cores

    @classmethod
    def from_task(cls, task: dict[str, Any]) -> Settings:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in task.items() if k in names})


def _timed(step: Callable[[], None]) -> Sample:
    s0 = _stall_us()
    c0 = time.process_time()
    t0 = time.perf_counter()
    step()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    s1 = _stall_us()
    stall = 0.0 if s0 is None or s1 is None or wall <= 0 else (s1 - s0) / 1e6 / wall
    return Sample(wall * 1e3, cpu * 1e3, min(stall, 1.0))


def measure(
    steps: dict[str, Callable[[], None]], cfg: Settings
) -> tuple[dict[str, list[Sample]], float]:
    """Time the named steps, interleaved (one of each per round, the order rotating),
    after ``cfg.warmup`` untimed rounds. Stops after ``cfg.iters`` clean rounds, after
    ``max_steps_factor × iters`` rounds, or once ``budget_s`` timed seconds are spent and
    ``min_iters`` rounds are in. Returns the samples per step and the seconds spent
    waiting for quiet cores."""
    for _ in range(cfg.warmup):
        for step in steps.values():
            step()
    samples: dict[str, list[Sample]] = {name: [] for name in steps}
    spent = waited = 0.0
    rounds = clean_rounds = 0
    floor = min(cfg.min_iters, cfg.iters)
    while rounds < cfg.iters * max(1, cfg.max_steps_factor):
        if cfg.gate_s > 0 and waited < cfg.wait_cap_s:
            waited += wait_quiet(min(cfg.gate_s, cfg.wait_cap_s - waited), cfg.quiet)
        # rotate the order every round so that no step always runs right after another
        names = list(steps)
        names = names[rounds % len(names) :] + names[: rounds % len(names)]
        results = {name: _timed(steps[name]) for name in names}
        for name, s in results.items():
            samples[name].append(s)
            spent += s.ms / 1e3
        rounds += 1
        clean_rounds += all(s.stall < cfg.clean for s in results.values())
        if clean_rounds >= cfg.iters:
            break
        if spent > cfg.budget_s and rounds >= floor:
            break
    return samples, waited


def summarise(samples: list[Sample], cfg: Settings) -> dict[str, Any]:
    """Median over the clean steps (over all of them, ``noisy``, when too few are clean)."""
    clean = [s for s in samples if s.stall < cfg.clean]
    noisy = len(clean) < min(cfg.min_iters, cfg.iters, len(samples))
    chosen = samples if noisy else clean
    return {
        "median_ms": statistics.median(s.ms for s in chosen),
        "min_ms": min(s.ms for s in samples),
        "cpu_ms": statistics.median(s.cpu_ms for s in chosen),
        "n": len(chosen),
        "n_total": len(samples),
        "noisy": noisy,
        "stall": statistics.median(s.stall for s in chosen),
        "times_ms": [round(s.ms, 3) for s in samples],
        "stalls": [round(s.stall, 3) for s in samples],
        "cores": os.cpu_count(),
    }
