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
EXPECTED = (
    "01_simulate_and_energy.ipynb",
    "02_energy_penalised_training.ipynb",
    "03_rasters_and_traces.ipynb",
)
CELL_TIMEOUT_S = 300  # a hang guard, not a speed check


def _read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run every cell of ``notebooks/<name>`` in a fresh kernel; return the executed notebook."""
    jupyter = tmp_path / "jupyter"
    write_kernel_spec(str(jupyter / "kernels" / "python3"))  # argv: this interpreter
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    # connection files and IPython's history in the temporary folder, not in $HOME
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
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


def _dominated(row: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Brute force: another row at least as accurate and as cheap, better in one."""
    acc, pj = row["test_accuracy"], row["energy_pj"]
    return any(
        r["test_accuracy"] >= acc
        and r["energy_pj"] <= pj
        and (r["test_accuracy"] > acc or r["energy_pj"] < pj)
        for r in rows
    )


def test_energy_penalised_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute(EXPECTED[1], tmp_path, monkeypatch)
    s = _summary(nb)
    # the penalty is the estimate
    assert s["penalty_energy_pj"] == pytest.approx(s["estimate_pj"], rel=1e-6)
    plain, penalised = s["fit"]["no penalty"], s["fit"]["energy 1e-4"]
    assert plain["test_accuracy"] >= 0.9
    assert penalised["test_accuracy"] >= 0.9
    assert penalised["energy_pj"] < plain["energy_pj"]
    # what the prose says: same dense and neuron terms (the floor), fewer synaptic events
    terms_plain, terms_pen = (
        s["trained_terms_pj"]["no penalty"],
        s["trained_terms_pj"]["energy 1e-4"],
    )
    for term in ("dense", "neuron"):
        assert terms_pen[term] == pytest.approx(terms_plain[term], rel=1e-9)
    assert terms_pen["synaptic"] < terms_plain["synaptic"]
    rate_plain = plain["firing_rates"]["2.LIF"]
    assert penalised["firing_rates"]["2.LIF"] < 0.5 * rate_plain  # "fire far less"
    rows = {r["id"]: r for r in s["sweep"]}
    ids = ["none-loihi-s0"] + [
        f"{kind}-loihi-w{w}-s0"
        for kind in ("energy", "spikes")
        for w in ("1e-05", "0.0001", "0.001")
    ]
    assert sorted(rows) == sorted(ids)
    # the sweep's runs are the hand-written fits (same seed, same model)
    for fit_label, run_id in [
        ("no penalty", "none-loihi-s0"),
        ("energy 1e-4", "energy-loihi-w0.0001-s0"),
    ]:
        assert rows[run_id]["test_accuracy"] == s["fit"][fit_label]["test_accuracy"]
        assert rows[run_id]["energy_pj"] == pytest.approx(
            s["fit"][fit_label]["energy_pj"], rel=1e-9
        )
    # too large a weight silences the network: chance accuracy, energy at the floor
    silent = rows["energy-loihi-w0.001-s0"]
    assert silent["test_accuracy"] < 0.2
    floor = terms_plain["dense"] + terms_plain["neuron"]
    assert silent["energy_pj"] == pytest.approx(floor, rel=1e-3)
    # the front is exactly the non-dominated runs
    front = set(s["front"])
    assert front == {r["id"] for r in s["sweep"] if not _dominated(r, s["sweep"])}
    assert _n_images(nb) >= 2


def test_rasters_and_traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute(EXPECTED[2], tmp_path, monkeypatch)
    s = _summary(nb)
    assert s["test_accuracy"] >= 0.85
    assert s["layers"] == ["2.LIF", "4.LIF"]
    # the HDF5 round trip kept every spike and every membrane value
    assert s["spikes_file"] == s["spikes_run"]
    assert all(n > 0 for n in s["spikes_run"].values())
    assert s["identical_spikes"] is True
    assert s["membrane_max_abs_diff"] == 0.0
    assert s["predicted"] == s["predicted_by_net"]
    assert len(s["labels"]) == len(s["predicted"]) == 8
    assert _n_images(nb) >= 3  # raster, membrane traces, firing rates
