"""Run every (case, library) measurement in its own child process and collect the results.

A fresh process per measurement keeps peak memory per case and stops one library's
allocator state or thread pool from colouring the next. A library that cannot be found is
not started: its row says "not installed". A child that crashes or runs past
``timeout_s`` gives a row with status ``error``/``timeout`` and the run goes on.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import peers
from benchmarks.cases import PEER_ORDER, Case
from benchmarks.timing import Settings

__all__ = ["Options", "Task", "plan_tasks", "run_suite", "run_task"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    timing: Settings = field(default_factory=Settings)
    threads: int = 2
    timeout_s: float = 900.0
    jobs: int = 1
    libs: tuple[str, ...] = PEER_ORDER
    retry_noisy: bool = False


@dataclass(frozen=True)
class Task:
    case: Case
    lib: str
    kind: str  # "time" | "same_spikes" | "energy"

    def label(self) -> str:
        what = {"time": "", "same_spikes": " [same spikes]", "energy": " [energy]"}[self.kind]
        return f"{self.case.name} | {self.lib}{what}"


@dataclass
class CaseResult:
    case: Case
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    same_spikes: dict[str, Any] | None = None
    energy: dict[str, Any] | None = None


def plan_tasks(cases: list[Case], libs: tuple[str, ...]) -> list[Task]:
    tasks = []
    for case in cases:
        if case.group == "energy_overhead":
            if "neurosim" in libs:
                tasks.append(Task(case, "neurosim", "energy"))
            continue
        tasks += [Task(case, lib, "time") for lib in libs if case.runs(lib)]
        if case.check_spikes and len(libs) > 1 and "neurosim" in libs:
            tasks.append(Task(case, "neurosim", "same_spikes"))
    return tasks


_CONTEXT: Any = None


def _context() -> Any:
    """A forkserver that has imported torch once: each measurement is a fresh child
    process forked from it (its own memory and thread pool) without paying torch's
    import time again."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["torch"])
        _CONTEXT = ctx
    return _CONTEXT


def _child(spec: dict[str, Any], conn: Any) -> None:
    from benchmarks.worker import run_task as work

    try:
        result = work(spec)
    except BaseException as err:  # report anything, even SystemExit, to the parent
        result = {"status": "error", "message": f"{type(err).__name__}: {err}"}
    conn.send(result)
    conn.close()


def run_task(task: Task, opt: Options) -> dict[str, Any]:
    """Run ``task`` in a child process and return its result dictionary."""
    if not peers.installed(task.lib):
        return {"status": "not installed", "message": f"{task.lib} is not installed"}
    spec = {
        "case": task.case.to_dict(),
        "lib": task.lib,
        "kind": task.kind,
        **asdict(opt.timing),
        "threads": opt.threads,
        "peers": [lib for lib in opt.libs if lib != "neurosim"],
    }
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, send), name=f"bench {task.label()}")
    t0 = time.perf_counter()
    proc.start()
    send.close()
    result: dict[str, Any] | None = None
    try:
        if recv.poll(opt.timeout_s):
            result = recv.recv()
    except EOFError:  # the child died before sending (killed, out of memory, crash)
        result = None
    finally:
        recv.close()
    if result is None and proc.is_alive():
        proc.kill()
        proc.join()
        return {"status": "timeout", "message": f"no result within {opt.timeout_s:.0f} s"}
    proc.join()
    wall = time.perf_counter() - t0
    if result is None:
        return {
            "status": "error",
            "message": f"worker process exited with code {proc.exitcode} and no result",
            "process_s": round(wall, 2),
        }
    result["process_s"] = round(wall, 2)
    return result


def _describe(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('message', '')}"[:160]
    if "by_lib" in result:
        return "same spikes: " + ", ".join(
            f"{lib} {r.get('same', r.get('status'))} {r.get('mismatches', '')}"
            for lib, r in result["by_lib"].items()
        )
    text = f"{result['median_ms']:.1f} ms (n={result.get('n', result.get('plain', {}).get('n'))})"
    if "overhead" in result:
        text += f", counting {result['counting_ms']:.1f} ms ({100 * result['overhead']:+.1f} %"
        text += f"; no grad {100 * result['overhead_no_grad']:+.1f} %)"
    if "peak_mb" in result:
        text += f", peak +{result['peak_mb']:.0f} MB"
    if _noisy(result):
        text += " [noisy: other processes held the cores]"
    if result.get("waited_s"):
        text += f" (waited {result['waited_s']:.0f} s for idle cores)"
    return text


def _noisy(result: dict[str, Any]) -> bool:
    parts = [result, *(v for v in result.values() if isinstance(v, dict))]
    return result.get("status") == "ok" and any(p.get("noisy") for p in parts)


def _stall(result: dict[str, Any]) -> float:
    parts = [result, *(v for v in result.values() if isinstance(v, dict))]
    return max(float(p.get("stall", 0.0)) for p in parts)


def run_suite(
    cases: list[Case], opt: Options, log: Callable[[str], None] = print
) -> list[CaseResult]:
    """Measure every case with every library of ``opt.libs`` (``opt.jobs`` at a time).

    With ``opt.retry_noisy``, the measurements that other processes disturbed are run once
    more at the end (when the machine may be quieter); the less disturbed result is kept.
    """
    tasks = plan_tasks(cases, opt.libs)
    by_case = {case.name: CaseResult(case) for case in cases}
    results: list[dict[str, Any]] = []

    def one(task: Task) -> dict[str, Any]:
        return run_task(task, opt)

    with ThreadPoolExecutor(max_workers=max(1, opt.jobs)) as pool:
        for i, result in enumerate(pool.map(one, tasks)):
            log(f"[{i + 1}/{len(tasks)}] {tasks[i].label()}: {_describe(result)}")
            results.append(result)
        again = [i for i, r in enumerate(results) if opt.retry_noisy and _noisy(r)]
        retried = pool.map(one, [tasks[i] for i in again])
        for n, (i, result) in enumerate(zip(again, retried, strict=True), 1):
            keep = not _noisy(result) or (
                result.get("status") == "ok" and _stall(result) < _stall(results[i])
            )
            verdict = "kept" if keep else "first kept"
            log(f"[retry {n}/{len(again)}] {tasks[i].label()}: {_describe(result)} ({verdict})")
            if keep:
                result["retried"] = True
                results[i] = result
    for task, result in zip(tasks, results, strict=True):
        row = by_case[task.case.name]
        if task.kind == "same_spikes":
            row.same_spikes = result
        elif task.kind == "energy":
            row.energy = result
            row.results[task.lib] = result
        else:
            row.results[task.lib] = result
    return list(by_case.values())
