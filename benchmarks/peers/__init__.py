"""One builder per library: ``build(case) -> Bench``.

Each module imports its library inside ``build`` (so a missing library costs nothing until
its row runs) and raises ``PeerMissing`` when the import fails.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata

from benchmarks.cases import Case
from benchmarks.workload import Bench, PeerMissing

__all__ = ["DISPLAY", "MODULES", "build", "installed", "version"]

MODULES: dict[str, str] = {
    "neurosim": "neurosim",
    "snntorch": "snntorch",
    "spikingjelly": "spikingjelly",
    "norse": "norse",
    "sinabs": "sinabs",
}
"""Library → the top-level module (and distribution) it is imported as."""

DISPLAY: dict[str, str] = {
    "neurosim": "neurosim",
    "snntorch": "snnTorch",
    "spikingjelly": "SpikingJelly",
    "norse": "Norse",
    "sinabs": "sinabs",
}


def installed(lib: str) -> bool:
    """Whether the library's module can be found (without importing it)."""
    return importlib.util.find_spec(MODULES[lib]) is not None


def version(lib: str) -> str | None:
    try:
        return metadata.version(MODULES[lib])
    except metadata.PackageNotFoundError:
        return None


def build(lib: str, case: Case) -> Bench:
    """The library's workload for ``case`` (``PeerMissing``/``Unsupported`` if it can't)."""
    if lib not in MODULES:
        raise ValueError(f"unknown library {lib!r}; expected one of {', '.join(MODULES)}")
    module = importlib.import_module(f"benchmarks.peers.{lib}")
    try:
        bench: Bench = module.build(case)
        return bench
    except ImportError as err:
        raise PeerMissing(f"{lib} failed to import: {err}") from err
