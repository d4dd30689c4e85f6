import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

import neurosim.training.sweep as sweep_mod
from neurosim.training.job import TrainConfig
from neurosim.training.sweep import (
    ROW_FIELDS,
    SweepConfig,
    SweepError,
    expand,
    front_table,
    load_table,
    pareto_front,
    run_sweep,
)

TINY = {"dataset": "digits", "epochs": 1, "model": {"hidden": [16], "T": 2}}


def _sweep(**kw: Any) -> SweepConfig:
    grid: dict[str, Any] = {
        "base": TINY,
        "kinds": ["none", "energy"],
        "weights": [1e-6, 1e-3],
        "profiles": ["loihi"],
        "seeds": [0],
    }
    return SweepConfig.model_validate({**grid, **kw})


IDS = ["none-loihi-s0", "energy-loihi-w1e-06-s0", "energy-loihi-w0.001-s0"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Runs trained in this process use one thread, as pool and Ray workers do (and the
    tiny models train several times faster than with threads competing for 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One finished three-run sweep (in this process); tests copy it before changing it."""
    out = tmp_path_factory.mktemp("sweep")
    return out, run_sweep(_sweep(), out, progress=False)


def _copy(done: tuple[Path, Any], tmp_path: Path) -> Path:
    out = tmp_path / "sweep"
    shutil.copytree(done[0], out)
    return out


# ---------------------------------------------------------------- grid


def test_grid_ids_are_stable_and_none_is_one_run_per_profile_and_seed() -> None:
    sw = _sweep(
        kinds=["none", "energy", "spikes"],
        weights=[1e-6, 0.5],
        profiles=["loihi", "cpu"],
        seeds=[0, 3],
    )
    specs = expand(sw)
    assert [s.id for s in specs] == [
        "none-loihi-s0",
        "none-loihi-s3",
        "none-cpu-s0",
        "none-cpu-s3",
        *(
            f"{k}-{p}-w{w}-s{s}"
            for k in ("energy", "spikes")
            for p in ("loihi", "cpu")
            for w in ("1e-06", "0.5")
            for s in (0, 3)
        ),
    ]
    assert [s.id for s in expand(sw)] == [s.id for s in specs]  # deterministic
    assert expand(sw) == specs
    base = TrainConfig.for_dataset("digits", epochs=1, model={"hidden": (16,), "T": 2})
    assert sw.base == base
    for s in specs:
        cfg = s.config
        assert (cfg.penalty.kind, cfg.penalty.weight) == (s.kind, s.weight)
        assert cfg.penalty.profile == cfg.energy_profile == s.profile
        assert cfg.seed == s.seed
        assert cfg.model == base.model
        assert cfg.epochs == 1
        assert cfg.lr == base.lr
    none = [s for s in specs if s.kind == "none"]
    assert all(s.weight == 0.0 for s in none)
    # weights that %g would round keep their full value in the id
    ids = [s.id for s in expand(_sweep(weights=[1e-6, 1.0000001e-6]))]
    assert ids[1:] == ["energy-loihi-w1e-06-s0", "energy-loihi-w1.0000001e-06-s0"]


def test_profile_given_as_a_yaml_path_gets_a_safe_id(tmp_path: Path) -> None:
    path = tmp_path / "my chip.yaml"
    path.write_text("name: mine\n")  # only its existence is checked before training
    (spec,) = expand(_sweep(kinds=["none"], profiles=[str(path)]))
    assert spec.id.startswith("none-my_chip_")
    assert spec.id.endswith("-s0")
    assert "/" not in spec.id
    assert " " not in spec.id
    assert spec.config.energy_profile == str(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kinds": ["energy", "watts"]}, "unknown penalty kind 'watts'"),
        ({"profiles": ["loihi", "abacus"]}, "unknown hardware profile 'abacus'"),
        ({"weights": [1e-6, -1.0]}, "greater than or equal to 0"),
        ({"weights": [float("nan")]}, "finite number"),
        ({"seeds": [-1]}, "greater than or equal to 0"),
        ({"weights": [1e-6, 1e-6]}, "weights has duplicates: 1e-06"),
        ({"profiles": ["loihi", "loihi"]}, "profiles has duplicates"),
        ({"kinds": ["energy"], "weights": []}, "energy need at least one weight"),
        ({"kinds": []}, "at least 1 item"),
        ({"profiles": []}, "at least 1 item"),
        ({"epochs": 3}, "Extra inputs"),
        ({"base": {"dataset": "cifar"}}, "unknown dataset 'cifar'"),
    ],
)
def test_grid_validation(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _sweep(**change)


def test_none_only_sweep_needs_no_weights() -> None:
    specs = expand(_sweep(kinds=["none"], weights=[], seeds=[0, 1]))
    assert [s.id for s in specs] == ["none-loihi-s0", "none-loihi-s1"]


# ---------------------------------------------------------------- running


def _read(out: Path) -> tuple[bytes, bytes]:
    return (out / "sweep.json").read_bytes(), (out / "sweep.csv").read_bytes()


def test_local_sweep_writes_every_run_and_the_table(done: tuple[Path, Any]) -> None:
    out, result = done
    assert result.ran == IDS
    assert result.skipped == []
    assert result.failed == {}
    for rid in IDS:
        assert (out / "runs" / rid / "metrics.json").is_file()
        assert (out / "runs" / rid / "checkpoint.pt").is_file()
    assert [r["id"] for r in result.rows] == IDS
    for row in result.rows:
        assert tuple(row) == ROW_FIELDS
        metrics = json.loads((out / "runs" / row["id"] / "metrics.json").read_text())
        assert row["test_accuracy"] == metrics["test_accuracy"]
        assert row["energy_pj"] == metrics["energy_pj"] > 0
        assert metrics["config"]["penalty"]["weight"] == row["weight"]
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["rows"] == result.rows == load_table(out)
    assert doc["front"] == [r["id"] for r in result.front]
    assert SweepConfig.model_validate(doc["sweep"]) == _sweep()
    lines = (out / "sweep.csv").read_text().splitlines()
    assert lines[0] == ",".join(ROW_FIELDS)
    assert [ln.split(",")[0] for ln in lines[1:]] == IDS
    assert result.front == pareto_front(result.rows)


def test_two_workers_give_the_same_table(done: tuple[Path, Any], tmp_path: Path) -> None:
    result = run_sweep(_sweep(), tmp_path, workers=2, progress=False)
    assert sorted(result.ran) == sorted(IDS)
    assert result.ran == IDS
    assert result.rows == done[1].rows
    assert _read(tmp_path) == _read(done[0])


def test_resume_runs_only_the_missing_run(
    done: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy(done, tmp_path)
    before = _read(out)
    mtimes = {rid: (out / "runs" / rid / "metrics.json").stat().st_mtime_ns for rid in IDS}
    shutil.rmtree(out / "runs" / IDS[1])
    calls: list[tuple[str, bool]] = []
    real = sweep_mod.run_job

    def counting(cfg: TrainConfig, out_dir: Any, **kw: Any) -> Any:
        calls.append((Path(out_dir).name, kw["resume"]))
        return real(cfg, out_dir, **kw)

    monkeypatch.setattr(sweep_mod, "run_job", counting)
    result = run_sweep(_sweep(), out, progress=False)
    assert calls == [(IDS[1], False)]
    assert result.ran == [IDS[1]]
    assert result.skipped == [IDS[0], IDS[2]]
    assert _read(out) == before
    for rid in (IDS[0], IDS[2]):
        assert (out / "runs" / rid / "metrics.json").stat().st_mtime_ns == mtimes[rid]

    # killed mid-run: a checkpoint without metrics resumes from the checkpoint
    (out / "runs" / IDS[2] / "metrics.json").unlink()
    calls.clear()
    assert run_sweep(_sweep(), out, progress=False).ran == [IDS[2]]
    assert calls == [(IDS[2], True)]
    assert _read(out) == before

    # nothing left to do
    calls.clear()
    assert run_sweep(_sweep(), out, progress=False).skipped == IDS
    assert calls == []


def test_a_run_with_another_config_is_retrained(
    done: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _copy(done, tmp_path)
    path = out / "runs" / IDS[0] / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["config"]["lr"] = 0.5
    path.write_text(json.dumps(metrics))
    ckpt = out / "runs" / IDS[0] / "checkpoint.pt"
    shutil.copy(out / "runs" / IDS[1] / "checkpoint.pt", ckpt)  # another run's checkpoint
    calls: list[tuple[str, bool]] = []

    def stub(cfg: TrainConfig, out_dir: Any, **kw: Any) -> None:
        calls.append((Path(out_dir).name, kw["resume"]))
        raise RuntimeError("stub")

    monkeypatch.setattr(sweep_mod, "run_job", stub)
    with pytest.raises(SweepError, match="1 of 3 runs failed"):
        run_sweep(_sweep(), out, progress=False)
    assert calls == [(IDS[0], False)]  # fresh, not resumed from the mismatching checkpoint


def test_failed_runs_are_reported_after_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sweep_mod.run_job

    def flaky(cfg: TrainConfig, out_dir: Any, **kw: Any) -> Any:
        if cfg.penalty.kind == "none":
            raise RuntimeError("out of cheese")
        return real(cfg, out_dir, **kw)

    monkeypatch.setattr(sweep_mod, "run_job", flaky)
    sw = _sweep(weights=[1e-6])
    with pytest.raises(SweepError, match=r"1 of 2 runs failed:\n  none-loihi-s0: RuntimeError"):
        run_sweep(sw, tmp_path, progress=False)
    with pytest.raises(SweepError) as info:  # the finished run is not trained again
        run_sweep(sw, tmp_path, progress=False)
    result = info.value.result
    assert result.ran == []
    assert result.skipped == [IDS[1]]
    assert [r["id"] for r in result.rows] == [IDS[1]]
    assert list(result.failed) == [IDS[0]]
    assert [r["id"] for r in load_table(tmp_path)] == [IDS[1]]


def test_bad_workers() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_sweep(_sweep(), "unused", workers=0)


def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'neurosim\[ray\]'"):
        run_sweep(_sweep(kinds=["none"]), tmp_path, use_ray=True, progress=False)


@pytest.mark.slow
def test_ray_sweep_matches_the_local_one(done: tuple[Path, Any], tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        result = run_sweep(_sweep(weights=[1e-6]), tmp_path, use_ray=True, progress=False)
    finally:
        ray.shutdown()
    assert result.ran == IDS[:2]
    assert result.rows == done[1].rows[:2]
    for rid in IDS[:2]:
        assert (tmp_path / "runs" / rid / "checkpoint.pt").is_file()


# ---------------------------------------------------------------- Pareto front


def _r(rid: str, acc: float, energy: float | None, profile: str = "loihi") -> dict[str, Any]:
    return {"id": rid, "profile": profile, "test_accuracy": acc, "energy_pj": energy}


def test_pareto_front_by_hand() -> None:
    rows = [
        _r("a", 0.90, 100.0),
        _r("b", 0.80, 50.0),
        _r("c", 0.85, 120.0),  # dominated by a
        _r("d", 0.80, 60.0),  # dominated by b (same accuracy, dearer)
        _r("e", 0.90, 100.0),  # ties a exactly: both kept
        _r("f", 0.70, 50.0),  # dominated by b (same energy, less accurate)
        _r("g", 0.95, 400.0),
        _r("h", 0.99, None),  # no energy: left out
        _r("x", 0.50, 1.0, profile="cpu"),  # another profile: its own front
        _r("y", 0.40, 2.0, profile="cpu"),
    ]
    front = pareto_front(rows)
    assert [r["id"] for r in front] == ["b", "a", "e", "g", "x"]
    assert front[0] is rows[1]
    assert pareto_front([]) == []
    assert [r["id"] for r in pareto_front([_r("z", 0.1, 5.0)])] == ["z"]


def test_front_table_lists_the_front(done: tuple[Path, Any]) -> None:
    from rich.console import Console

    result = done[1]
    table = result.front_table()
    assert table.row_count == len(result.front) >= 1
    assert [c.header for c in table.columns][:3] == ["run", "profile", "kind"]
    console = Console(width=120, record=True)
    console.print(front_table(result.front))
    text = console.export_text()
    assert all(r["id"] in text for r in result.front)
