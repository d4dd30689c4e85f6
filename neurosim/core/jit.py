"""numba for neurosim's compiled CPU loops: one import, one set of decorators, one way to
call them (``neurosim.core.kernels_cpu``, ``event_scan``, ``neurosim.energy.scan``).

``jit`` compiles a parallel loop nest (``prange`` splits it over threads) with IEEE
arithmetic (no fast-math) and numba's on-disk cache; ``inline`` is for helpers the loops call.
``run(fn, *args)`` calls a compiled function on ``torch.get_num_threads()`` threads, one call
at a time (numba's thread pools must not be entered concurrently).

Forked processes. numba's default threading layer here is GNU OpenMP, which aborts a forked
child that runs a parallel function once the parent has ("fork() called from a process
already using GNU OpenMP"). A child forked after a compiled loop ran on that layer is marked
unusable, and callers take their torch paths there (``usable``). numba's fork-safe layers
were measured slower: its work queue took 10.35 ms where OpenMP took 7.69 ms for the
sparse-inference benchmark step, whose chunks make many short calls (``python -m
benchmarks.probe steps sparse_infer 2 neurosim 30``, with ``NUMBA_THREADING_LAYER=workqueue``
for the work queue).

Without numba (it is a dependency; this keeps torch-only use working) the decorators leave
the functions as they are and ``usable()`` is false.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import torch

__all__ = ["available", "inline", "jit", "prange", "run", "usable"]

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency
    numba = None


def _identity(f: Any) -> Any:
    return f


jit: Any = _identity
inline: Any = _identity
prange: Any = range
if numba is not None:
    jit = numba.njit(parallel=True, cache=True, fastmath=False, boundscheck=False)
    inline = numba.njit(inline="always", fastmath=False)
    prange = numba.prange

_lock = threading.Lock()
_pool_started = False  # a parallel function has run in this process
_fork_blocked = False  # forked from a process whose OpenMP pool was running


def _after_fork_in_child() -> None:
    global _fork_blocked, _lock
    _lock = threading.Lock()
    if _pool_started and numba is not None and numba.threading_layer() == "omp":
        _fork_blocked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def available() -> bool:
    """Whether numba imported."""
    return numba is not None


def usable() -> bool:
    """Whether compiled loops can run in this process: numba imported, and this is not a
    child forked after its parent ran them on GNU OpenMP."""
    return numba is not None and not _fork_blocked


def why_unusable() -> str | None:
    """Why ``usable()`` is false, in words (``None`` when it is true)."""
    if numba is None:
        return "numba is not installed"
    if _fork_blocked:
        return "this process was forked after the parent ran them on GNU OpenMP"
    return None


def run(fn: Any, *args: Any) -> None:
    """Call the compiled ``fn`` on ``torch.get_num_threads()`` threads."""
    global _pool_started
    assert numba is not None
    with _lock:
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        fn(*args)
        _pool_started = True
