"""``python -m benchmarks --quick`` runs end to end and writes its results.

Only the plumbing is checked (every case ran, times are positive, the files are written);
no assertion is made on any timing.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GROUPS = {"fc_forward", "fc_train", "neuron_train", "conv_train", "sparse_infer"}


def test_quick_suite_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    data = json.loads((tmp_path / "results.json").read_text())
    cases = data["cases"]
    assert {c["group"] for c in cases} == GROUPS | {"energy_overhead"}
    assert sorted(c["params"]["rate"] for c in cases if c["group"] == "sparse_infer") == [
        0.02,
        0.1,
        0.5,
    ]
    assert data["meta"]["libs"] == ["neurosim", "snntorch"]

    have_snntorch = importlib.util.find_spec("snntorch") is not None
    for case in cases:
        if case["group"] == "energy_overhead":
            energy = case["energy"]
            assert energy["status"] == "ok", energy
            assert energy["median_ms"] > 0
            assert energy["counting_ms"] > 0
            continue
        ns = case["results"]["neurosim"]
        assert ns["status"] == "ok", (case["name"], ns)
        assert ns["median_ms"] > 0
        assert ns["peak_mb"] >= 0
        snn = case["results"]["snntorch"]
        if have_snntorch:
            assert snn["status"] == "ok", (case["name"], snn)
            assert snn["median_ms"] > 0
        else:
            assert snn["status"] == "not installed"

    fc_forward = next(c for c in cases if c["group"] == "fc_forward")
    if have_snntorch:
        same = fc_forward["same_spikes"]["by_lib"]["snntorch"]
        assert same["status"] == "ok"
        assert isinstance(same["same"], bool)

    assert len(data["goals"]) == 6
    md = (tmp_path / "results.md").read_text()
    assert "| case | neurosim ms | snnTorch ms | snnTorch/ns |" in md
    for case in cases:
        if case["group"] != "energy_overhead":
            assert f"| {case['name']} |" in md
    assert "Energy counting" in md
    assert "Goals:" in md


def test_probe_scan_and_count_run() -> None:
    """The in-process probes behind figures in docstrings run (numbers not checked)."""
    out = []
    for what in ("scan", "count", "nonsense"):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.probe", what],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        out.append(proc)
    assert out[0].returncode == 0, out[0].stderr
    assert "compiled" in out[0].stdout
    assert out[1].returncode == 0, out[1].stderr
    assert "ns.energy.count" in out[1].stdout
    assert out[2].returncode != 0
    assert "python -m benchmarks.probe steps" in out[2].stderr
