"""The notebooks in notebooks/: committed without outputs, and each one executes (nbclient)
and shows what it claims to show.

Each notebook runs in a fresh kernel of this interpreter (a kernelspec written to a
temporary JUPYTER_PATH, so no global ``jupyter kernelspec install`` is needed), in a
temporary working directory, with matplotlib's inline backend (Agg rendering, headless)
so that the figures land in the outputs as PNGs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

import neurosim as ns

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = ("01_simulate_and_energy.ipynb",)
CELL_TIMEOUT_S = 300  # a hang guard, not a speed check


def _read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run every cell of ``notebooks/<name>`` in a fresh kernel; return the executed notebook."""
    jupyter = tmp_path / "jupyter"
    write_kernel_spec(str(jupyter / "kernels" / "python3"))  # argv: this interpreter
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    work = tmp_path / "work"
    work.mkdir()
    nb = _read(name)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()
    return nb


def _outputs(nb: Any) -> list[Any]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _n_images(nb: Any) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _summary(nb: Any) -> dict[str, Any]:
    """The JSON the last code cell prints."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    text = "".join(o.text for o in last.outputs if o.output_type == "stream")
    summary: dict[str, Any] = json.loads(text)
    return summary


def test_the_notebooks_are_the_tested_ones() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_without_outputs(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    for i, cell in enumerate(nb.cells):
        assert set(cell.metadata) == set(), f"cell {i} has metadata {dict(cell.metadata)}"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


def test_simulate_and_energy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute(EXPECTED[0], tmp_path, monkeypatch)
    s = _summary(nb)
    totals = s["total_pj"]
    assert set(totals) == set(ns.hardware.available())
    assert all(math.isfinite(v) and v > 0 for v in totals.values())
    assert list(totals.values()) == sorted(totals.values())  # cheapest first, as it says
    assert totals["loihi"] == s["loihi_total_pj"]
    assert s["loihi_parts_pj"] == pytest.approx(s["loihi_total_pj"], rel=1e-9)
    # the rich tables render as HTML; the energy figure as a PNG
    assert sum("text/html" in o.get("data", {}) for o in _outputs(nb)) >= 2
    assert _n_images(nb) >= 1
