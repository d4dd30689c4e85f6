"""Small in-process measurements behind figures quoted in docstrings and notes.

``python -m benchmarks.probe steps GROUP [INDEX] [LIB] [N]``
    per-step ms and minor page faults of one benchmark case (``cases.full_suite()``, the
    INDEX-th case of GROUP) in this process, after 3 warm-up steps; e.g.
    ``steps fc_train 3`` (T=25 H=4000), ``steps neuron_train``, ``steps sparse_infer 2``
    (rate 0.02; with ``NUMBA_THREADING_LAYER=workqueue`` for the other threading layer).
``python -m benchmarks.probe event``
    dense vs event-driven ``Linear`` under ``torch.no_grad()`` on ``[25, 128, in]`` binary
    input, by density and width (the table in ``neurosim/core/event.py``).
``python -m benchmarks.probe scan``
    the compiled and the torch scan of ``[3200, 784]`` spikes at density 0.02, and a
    reduction against a skinny matmul on ``[3200, 1000]`` spikes (``energy/counts.py``).
``python -m benchmarks.probe count``
    ``ns.energy.count(run, plan)`` alone on the energy-overhead case's run (Loihi plan).
``python -m benchmarks.probe firstcall``
    max-RSS growth of a fresh process's first compiled LIF call.

Medians over repeated calls, ``torch.set_num_threads(2)``; no peer comparison (that is
``python -m benchmarks``).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch


def _median_ms(fn: Callable[[], object], n: int = 21) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def steps(group: str, index: int = 0, lib: str = "neurosim", n: int = 15) -> None:
    from benchmarks import peers
    from benchmarks.cases import full_suite

    case = [c for c in full_suite() if c.group == group][index]
    bench = peers.build(lib, case)
    for _ in range(3):
        bench.step()
    rows = []
    for _ in range(n):
        f0, t0 = _faults(), time.perf_counter()
        bench.step()
        rows.append(((time.perf_counter() - t0) * 1e3, _faults() - f0))
    print(f"{case.name} | {lib}: " + " ".join(f"{ms:.1f}ms/{f}" for ms, f in rows))
    print(f"median {statistics.median(ms for ms, _ in rows):.2f} ms, "
          f"median faults {statistics.median(f for _, f in rows):.0f} per step")  # fmt: skip


def event() -> None:
    import neurosim as ns
    from neurosim.core import event as ev

    for n_in, n_out in ((784, 1000), (784, 300), (784, 100), (784, 30), (1000, 10)):
        lin, cells = ns.Linear(n_in, n_out), []
        for d in (0.5, 0.3, 0.2, 0.1, 0.05, 0.02):
            x = (torch.rand(25, 128, n_in) < d).float()
            with torch.no_grad():
                with ev.mode("dense"):
                    dense = _median_ms(lambda: lin(x))  # noqa: B023
                with ev.mode("event"):
                    events = _median_ms(lambda: lin(x))  # noqa: B023
            cells.append(f"{d}: {dense:.2f}/{events:.2f}={events / dense:.2f}")
        print(f"{n_in}->{n_out} dense/event ms " + " | ".join(cells))


def scan() -> None:
    from neurosim.core import event_scan

    x = (torch.rand(3200, 784) < 0.02).float()

    def torch_scan() -> object:
        flat = x.reshape(-1)
        idx = flat.view(torch.int32).nonzero().squeeze(1)
        assert bool((flat[idx] == 1).all())
        idx = idx.int()
        bounds = torch.arange(0, 3201 * 784, 784, dtype=idx.dtype)
        return idx % 784, torch.searchsorted(idx, bounds, out_int32=True)

    print(f"scan [3200, 784] at 0.02: compiled {_median_ms(lambda: event_scan.bags(x)):.2f} "
          f"ms, torch {_median_ms(torch_scan):.2f} ms")  # fmt: skip
    s, w = (torch.rand(3200, 1000) < 0.15).float(), torch.rand(1000, 5)
    print(f"[3200, 1000] spikes: matmul with 5 vectors {_median_ms(lambda: s @ w):.2f} ms, "
          f"sum over rows {_median_ms(lambda: s.sum(0)):.2f} ms")  # fmt: skip


def count() -> None:
    import neurosim as ns
    from benchmarks.cases import full_suite
    from benchmarks.peers.neurosim import fc_net
    from benchmarks.workload import inputs

    case = next(c for c in full_suite() if c.group == "energy_overhead")
    x, _ = inputs(case)
    net = fc_net(case.params["H"])
    run = net.run(x)
    with torch.no_grad():
        plan = ns.energy.make_plan(run, ns.hardware.load(case.params["profile"]))
    print(f"{case.name}: ns.energy.count {_median_ms(lambda: ns.energy.count(run, plan)):.2f} ms")


_FIRST_CALL = """
import resource, torch
import neurosim as ns
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
x = torch.rand(10, 128, 1000)
r0 = rss()
with torch.no_grad():
    ns.LIF.from_beta(0.9)(x)
print(f"first compiled LIF call: max RSS +{rss() - r0:.0f} MB")
"""


def firstcall() -> None:
    subprocess.run([sys.executable, "-c", _FIRST_CALL], check=True)


def main(argv: list[str]) -> None:
    torch.set_num_threads(2)
    if not argv or argv[0] not in ("steps", "event", "scan", "count", "firstcall"):
        sys.exit(__doc__)
    if argv[0] == "steps":
        group, *rest = argv[1:]
        index = int(rest[0]) if rest else 0
        lib = rest[1] if len(rest) > 1 else "neurosim"
        n = int(rest[2]) if len(rest) > 2 else 15
        steps(group, index, lib, n)
    else:
        {"event": event, "scan": scan, "count": count, "firstcall": firstcall}[argv[0]]()


if __name__ == "__main__":
    main(sys.argv[1:])
