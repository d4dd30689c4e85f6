import json
from pathlib import Path

from typer.testing import CliRunner

from neurosim.cli import app

runner = CliRunner()


def test_help_lists_train() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "train" in result.output
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in ("--dataset", "--model", "--T", "--epochs", "--out"):
        assert option in result.output


def test_train_prints_accuracy_and_rates(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--epochs", "2", "--T", "4", "--out", str(tmp_path), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output
    assert "firing rate 2.LIF" in result.output
    assert "firing rate 4.LIF" in result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["model"]["T"] == 4
    assert f"{100 * metrics['test_accuracy']:.2f} %" in result.output


def test_bad_options_give_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--model", "s2nn", "--T", "3", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "single-step: T must be 1, got 3" in result.output
    result = runner.invoke(app, ["train", "--epochs", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "epochs" in result.output
    missing = tmp_path / "nowhere"
    result = runner.invoke(
        app, ["train", "--dataset", "mnist", "--data-dir", str(missing), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_bad_device_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--device", "toaster", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--device 'toaster' is not valid" in result.output


def test_profiles_lists_every_bundled_profile() -> None:
    from neurosim.hardware import available

    result = runner.invoke(app, ["profiles"])
    assert result.exit_code == 0, result.output
    for name in available():
        assert name in result.output
    one = runner.invoke(app, ["profiles", "loihi"])
    assert one.exit_code == 0
    assert "23.6" in one.output
    assert "Davies" in one.output
    bad = runner.invoke(app, ["profiles", "nope"])
    assert bad.exit_code == 2
    assert "unknown hardware profile 'nope'" in bad.output


def test_energy_on_a_checkpoint(tmp_path: Path) -> None:
    trained = runner.invoke(
        app, ["train", "--epochs", "1", "--T", "3", "--out", str(tmp_path), "--no-progress"]
    )
    assert trained.exit_code == 0, trained.output
    args = ["energy", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--samples", "20"]
    args += ["--profile", "loihi", "--profile", "asic45-fp32", "--baseline"]
    args += ["--json", str(tmp_path / "e.json"), "--plot", str(tmp_path / "e.png")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "energy per inference on loihi" in result.output
    assert "ANN baseline" in result.output
    data = json.loads((tmp_path / "e.json").read_text())
    assert set(data["snn"]) == {"loihi", "asic45-fp32"}
    assert data["snn"]["loihi"]["energy_total_pj"] > 0
    assert (tmp_path / "e.png").stat().st_size > 1000


def test_energy_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["energy", "--checkpoint", str(tmp_path / "none.pt")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_train_with_energy_penalty_reports_energy(tmp_path: Path) -> None:
    args = ["train", "--epochs", "1", "--T", "3", "--out", str(tmp_path), "--no-progress"]
    args += ["--energy-profile", "loihi", "--energy-weight", "1e-6"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "energy on loihi" in result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["penalty"] == {
        "kind": "energy",
        "weight": 1e-6,
        "profile": "loihi",
        "p": 1.0,
    }
    assert metrics["energy_pj"] > 0
    assert f"{metrics['energy_pj']:,.0f} pJ per inference" in result.output


def test_sweep_runs_resumes_and_plots(tmp_path: Path) -> None:
    args = ["sweep", "--out", str(tmp_path / "s"), "--epochs", "1", "--hidden", "16", "--T", "2"]
    args += ["--kind", "energy", "--kind", "none", "--weight", "1e-6", "--profile", "loihi"]
    args += ["--no-progress", "--plot", str(tmp_path / "p.png")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "2 runs trained, 0 already done" in first.output
    assert "Pareto front" in first.output
    again = runner.invoke(app, args)
    assert "0 runs trained, 2 already done" in again.output
    rows = json.loads((tmp_path / "s" / "sweep.json").read_text())["rows"]
    assert {r["id"] for r in rows} == {"energy-loihi-w1e-06-s0", "none-loihi-s0"}
    assert (tmp_path / "p.png").stat().st_size > 1000
    bad = runner.invoke(app, ["sweep", "--out", str(tmp_path / "b"), "--weight", "-1"])
    assert bad.exit_code == 2
    assert "greater than or equal to 0" in bad.output


def test_raster_and_plot_energy_commands(tmp_path: Path) -> None:
    import torch

    import neurosim as ns

    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(6, 20), ns.LIF(v_th=0.2), ns.Linear(20, 4), ns.LIF(v_th=0.1))
    run = net.run(torch.rand(10, 3, 6))
    run.save(tmp_path / "run.h5")
    ok = runner.invoke(app, ["raster", str(tmp_path / "run.h5"), "--layer", "1", "-o",
                             str(tmp_path / "r.png"), "--sample", "2"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r.png").stat().st_size > 1000
    bad = runner.invoke(app, ["raster", str(tmp_path / "run.h5"), "--layer", "7", "-o", "x.png"])
    assert bad.exit_code == 2
    assert "not a recorded layer; recorded: 1.LIF, 3.LIF" in bad.output
    ns.energy.estimate(net, torch.rand(4, 2, 6), "loihi").save_json(tmp_path / "e.json")
    plotted = runner.invoke(app, ["plot", "energy", str(tmp_path / "e.json"), "-o",
                                  str(tmp_path / "e.png")])  # fmt: skip
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "e.png").stat().st_size > 1000
    (tmp_path / "bad.json").write_text("{}")
    nope = runner.invoke(app, ["plot", "energy", str(tmp_path / "bad.json"), "-o", "y.png"])
    assert nope.exit_code == 2
    assert "not a neurosim energy report" in nope.output


def test_record_a_trained_network(tmp_path: Path) -> None:
    from neurosim.io import load_run

    trained = runner.invoke(
        app, ["train", "--epochs", "1", "--T", "3", "--out", str(tmp_path), "--no-progress"]
    )
    assert trained.exit_code == 0, trained.output
    args = ["record", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--samples", "5"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "run.h5")])
    assert result.exit_code == 0, result.output
    with load_run(tmp_path / "run.h5") as rec:
        assert (rec.T, rec.B) == (3, 5)
        assert rec.layers == ["2.LIF", "4.LIF"]
        assert rec.metadata["dataset"] == "digits"
        assert rec.membrane("2.LIF").shape == (3, 5, 128)
