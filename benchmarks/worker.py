"""One measurement, run in a child process by the runner (or by hand:
``python -m benchmarks.worker '<json task>'``).

The task names a case, a library and what to do (``time``, ``same_spikes`` or
``energy``). The worker sets torch's thread count, builds the workload, runs the warm-up
and the timed steps (``benchmarks.timing``) and returns a result dictionary (by hand: one
line ``BENCH_RESULT {json}`` on stdout). Peak memory is the growth of the process's maximum
resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``) from after the build to after the
last iteration, so it covers the steps and not the imports or the weights.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import sys
import traceback
from typing import Any

from benchmarks.timing import Settings, measure, summarise

MARKER = "BENCH_RESULT "


def max_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def _time(task: dict[str, Any], case: Any) -> dict[str, Any]:
    from benchmarks import peers

    cfg = Settings.from_task(task)
    bench = peers.build(task["lib"], case)
    # Some torch ops import sympy on their first call (~40 MB of modules): load it before
    # the baseline so that a one-off import is not counted as the step's memory.
    importlib.import_module("torch.fx.experimental.symbolic_shapes")
    rss0 = max_rss_mb()
    samples, waited = measure({"step": bench.step}, cfg)
    peak = max_rss_mb() - rss0
    return {
        "status": "ok",
        "note": bench.note,
        "module": getattr(sys.modules.get(task["lib"]), "__file__", None),
        "peak_mb": peak,
        "waited_s": round(waited, 1),
        **summarise(samples["step"], cfg),
    }


def _same_spikes(task: dict[str, Any], case: Any) -> dict[str, Any]:
    """Both layers' spikes of neurosim and of each peer on the same weights and input.

    snnTorch is compared with neurosim in snnTorch's reset convention (delayed, detached);
    the peers that reset immediately (SpikingJelly, Norse, sinabs) with neurosim's default.
    """
    from benchmarks import peers
    from benchmarks.peers import neurosim

    by_lib: dict[str, Any] = {}
    ours = {like: neurosim.spikes(case, like) for like in ("neurosim", "snntorch")}
    for lib in task["peers"]:
        if not peers.installed(lib):
            by_lib[lib] = {"status": "not installed"}
            continue
        try:
            module = importlib.import_module(f"benchmarks.peers.{lib}")
            theirs = module.spikes(case)
        except Exception as err:
            by_lib[lib] = {"status": "error", "message": f"{type(err).__name__}: {err}"}
            continue
        mine = ours["snntorch" if lib == "snntorch" else "neurosim"]
        mismatches = [int((a != b).sum()) for a, b in zip(mine, theirs, strict=True)]
        by_lib[lib] = {
            "status": "ok",
            "same": all(m == 0 for m in mismatches),
            "mismatches": mismatches,
            "spikes": [int(s.sum()) for s in theirs],
            "elements": [s.numel() for s in theirs],
        }
    snn = by_lib.get("snntorch", {})
    return {
        "status": "ok",
        "same": snn.get("same"),
        "by_lib": by_lib,
        "note": 'vs snnTorch: neurosim reset_timing="delayed", detach_reset=True; '
        "vs the others: neurosim's default (immediate reset)",
    }


def _overhead(plain: list[Any], other: list[Any], cfg: Settings) -> float:
    """Median over the rounds of ``other / plain`` − 1 (over the clean rounds if enough)."""
    pairs = list(zip(plain, other, strict=True))
    clean = [(p, o) for p, o in pairs if max(p.stall, o.stall) < cfg.clean]
    use = clean if len(clean) >= min(cfg.min_iters, cfg.iters) else pairs
    return statistics.median(o.ms / p.ms for p, o in use) - 1.0


def _energy(task: dict[str, Any], case: Any) -> dict[str, Any]:
    """A training step with and without energy counting, interleaved step by step so
    that drift in the machine's speed hits both alike."""
    from benchmarks.peers import neurosim

    cfg = Settings.from_task(task)
    steps, info = neurosim.energy_steps(case)
    samples, waited = measure(steps, cfg)
    summary = {name: summarise(s, cfg) for name, s in samples.items()}
    return {
        "status": "ok",
        "note": f"plan made once ({info['make_plan_ms']:.0f} ms, {info['profile']})",
        **summary,
        "median_ms": summary["plain"]["median_ms"],
        "counting_ms": summary["counting"]["median_ms"],
        "overhead": _overhead(samples["plain"], samples["counting"], cfg),
        "counting_no_grad_ms": summary["counting_no_grad"]["median_ms"],
        "overhead_no_grad": _overhead(samples["plain"], samples["counting_no_grad"], cfg),
        "waited_s": round(waited, 1),
        **info,
    }


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    from benchmarks.cases import Case
    from benchmarks.workload import PeerMissing, Unsupported

    torch.set_num_threads(task["threads"])
    torch.manual_seed(0)
    case = Case.from_dict(task["case"])
    load0 = os.getloadavg()[0]
    try:
        if task["kind"] == "time":
            result = _time(task, case)
        elif task["kind"] == "same_spikes":
            result = _same_spikes(task, case)
        elif task["kind"] == "energy":
            result = _energy(task, case)
        else:
            raise ValueError(f"unknown task kind {task['kind']!r}")
        # 1-minute load average of the machine before and after: other processes
        # competing for the cores slow a measurement down.
        result["load"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        return result
    except PeerMissing as err:
        return {"status": "not installed", "message": str(err)}
    except Unsupported as err:
        return {"status": "unsupported", "message": str(err)}
    except Exception as err:
        tb = traceback.format_exc(limit=4)
        return {"status": "error", "message": f"{type(err).__name__}: {err}", "traceback": tb}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.worker '<json task>'", file=sys.stderr)
        return 2
    result = run_task(json.loads(argv[0]))
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
