"""``python -m benchmarks [--quick] [--out DIR] [--iters N] [--peers a,b] [--only TEXT]``.

Runs the suite (each case and library in its own subprocess), prints one line per
measurement, then writes ``results.json`` and ``results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import peers, report
from benchmarks.cases import PEER_ORDER, full_suite, quick_suite
from benchmarks.runner import ROOT, Options, plan_tasks, run_suite
from benchmarks.timing import Settings

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
QUICK_PEERS = ("neurosim", "snntorch")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time neurosim against snnTorch, SpikingJelly, Norse and sinabs.",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, 2 steps, neurosim+snnTorch")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for results.json/.md")
    p.add_argument(
        "--iters", type=int, help="clean timed steps per measurement (default 7; quick 2)"
    )
    p.add_argument("--warmup", type=int, help="untimed steps first (default 3; quick 1)")
    p.add_argument(
        "--budget",
        type=float,
        help="stop a measurement after this many timed seconds once 3 steps are in (default 15)",
    )
    p.add_argument("--peers", help=f"comma-separated libraries (default: {','.join(PEER_ORDER)})")
    p.add_argument("--only", help="run only the cases whose name contains this text")
    p.add_argument("--jobs", type=int, help="measurements at once (default 1; quick 2)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per subprocess")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per subprocess")
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="neither wait for idle cores, nor prefer steps without CPU contention, nor "
        "rerun disturbed measurements",
    )
    p.add_argument(
        "--no-snapshot",
        action="store_true",
        help="import neurosim from the working tree as it is at each measurement, instead of "
        "a copy taken when the run starts",
    )
    p.add_argument("--list", action="store_true", help="print the measurements and exit")
    return p


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "neurosim"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + (" + uncommitted changes in neurosim/" if dirty else "")


def _source_digest(root: Path) -> str:
    """A digest of the neurosim package's source files under ``root``."""
    h = hashlib.sha256()
    for path in sorted((root / "neurosim").rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _snapshot(dest: Path) -> None:
    """Copy neurosim's source (and the bundled hardware profiles) to ``dest``, so that
    the whole run measures one version even while people edit the working tree."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "neurosim", dest / "neurosim", ignore=skip)
    if (ROOT / "hardware_models").is_dir():
        shutil.copytree(ROOT / "hardware_models", dest / "hardware_models", ignore=skip)


def _meta(args: argparse.Namespace, opt: Options) -> dict[str, Any]:
    import torch

    return {
        "suite": "quick" if args.quick else "full",
        "command": " ".join(["python -m benchmarks", shlex.join(sys.argv[1:])]).strip(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"(CPU), Python {platform.python_version()}, {platform.system()}",
        "neurosim_commit": _commit(),
        "libs": list(opt.libs),
        "versions": {lib: peers.version(lib) for lib in opt.libs},
        "options": {**asdict(opt.timing), "threads": opt.threads, "jobs": opt.jobs},
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    libs = (
        tuple(args.peers.split(",")) if args.peers else (QUICK_PEERS if args.quick else PEER_ORDER)
    )
    unknown = [lib for lib in libs if lib not in PEER_ORDER]
    if unknown:
        print(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEER_ORDER)}")
        return 2
    if "neurosim" not in libs:
        libs = ("neurosim", *libs)
    libs = tuple(lib for lib in PEER_ORDER if lib in libs)
    cases = quick_suite() if args.quick else full_suite()
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    timing = Settings(
        # 3 untimed steps: glibc's mmap and trim thresholds adapt to a step's large buffers
        # over the first steps (page faults on every large buffer until then), for every
        # library alike
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 3),
        iters=args.iters or (2 if args.quick else 7),
        min_iters=1 if args.quick else 3,
        budget_s=args.budget or 15.0,
        clean=2.0 if args.quick or args.no_wait else 0.05,  # quick: every step counts
        gate_s=0.0 if args.quick or args.no_wait else 10.0,
        wait_cap_s=20.0,
    )
    opt = Options(
        timing=timing,
        threads=args.threads,
        timeout_s=args.timeout,
        jobs=args.jobs or (2 if args.quick else 1),
        libs=libs,
        retry_noisy=not (args.quick or args.no_wait),
    )
    if args.list:
        for task in plan_tasks(cases, libs):
            print(task.label())
        return 0
    for lib in libs:
        if not peers.installed(lib):
            print(f"note: {peers.DISPLAY[lib]} is not installed; its rows will say so")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="neurosim-bench-") as snap:
        if not args.no_snapshot:
            _snapshot(Path(snap))
            # before the first child: the fork server takes its sys.path from here
            sys.path.insert(0, snap)
        digest = _source_digest(ROOT if args.no_snapshot else Path(snap))
        rows = run_suite(cases, opt, log=lambda s: print(s, flush=True))
    meta = _meta(args, opt)
    meta["wall_s"] = time.perf_counter() - t0
    meta["neurosim_source"] = digest
    meta["neurosim_snapshot"] = not args.no_snapshot
    meta["neurosim_changed_during_run"] = _source_digest(ROOT) != digest
    if meta["neurosim_changed_during_run"]:
        print(
            "note: neurosim's source changed in the working tree during the run; "
            + (
                "the run used the copy taken at its start"
                if not args.no_snapshot
                else "the results mix versions"
            )
        )
    data = report.write(rows, meta, args.out)
    print()
    print(report.markdown(data))
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
