from pathlib import Path

import pytest
import torch

from neurosim.datasets import load
from neurosim.io import CheckpointError, save_checkpoint
from neurosim.models import build_encoder
from neurosim.training import evaluate, get_loss
from neurosim.training.job import TrainConfig, load_model, run_job


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["snn", "s2nn"])
def test_default_models_reach_90_percent_on_digits(kind: str, tmp_path: Path) -> None:
    cfg = TrainConfig.for_dataset("digits", model={"kind": kind})
    result = run_job(cfg, tmp_path, progress=False)
    assert result.test_accuracy >= 0.90
    # the checkpoint alone rebuilds the same classifier
    net, cfg2 = load_model(result.checkpoint)
    assert cfg2 == cfg
    again = evaluate(
        net,
        load("digits", "test"),
        encoder=build_encoder(cfg.model),
        loss=get_loss(cfg.loss_name),
        seed=cfg.seed,
    )
    assert again.accuracy == result.test_accuracy
    assert (tmp_path / "metrics.json").is_file()


def test_s2nn_is_single_step_end_to_end(tmp_path: Path) -> None:
    cfg = TrainConfig.for_dataset("digits", model={"kind": "s2nn"}, epochs=1)
    net, _ = load_model(run_job(cfg, tmp_path, progress=False).checkpoint)
    x = build_encoder(cfg.model)(load("digits", "test").tensors[0][:5])
    run = net.run(x)
    assert x.shape[0] == 1
    assert all(a.output.shape[0] == 1 for a in run.activity)
    spikes = run.spiking_layers()[0].output
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_resume_with_other_config_is_refused(tmp_path: Path) -> None:
    run_job(TrainConfig.for_dataset(epochs=1), tmp_path, progress=False)
    other = TrainConfig.for_dataset(epochs=2, lr=0.1)
    with pytest.raises(ValueError, match=r"different lr"):
        run_job(other, tmp_path, resume=True, progress=False)
    more = run_job(TrainConfig.for_dataset(epochs=2), tmp_path, resume=True, progress=False)
    assert [m["epoch"] for m in more.history] == [1, 2]


def test_load_model_rejects_bad_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 1, "model_state": {}, "config": {"dataset": "digits"}})
    with pytest.raises(CheckpointError, match="not a valid TrainConfig"):
        load_model(path)
    cfg = TrainConfig.for_dataset()
    bad = {"layers.1.weight": torch.zeros(3, 3)}
    save_checkpoint(path, {"epoch": 1, "model_state": bad, "config": cfg.model_dump(mode="json")})
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_model(path)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        TrainConfig.for_dataset("cifar")
    with pytest.raises(ValueError, match="single-step: T must be 1"):
        TrainConfig.for_dataset(model={"kind": "ann", "T": 4})
    with pytest.raises(ValueError, match="surrogate='nope'"):
        TrainConfig.for_dataset(model={"surrogate": "nope"})
    with pytest.raises(ValueError, match="Extra inputs"):
        TrainConfig.for_dataset(model={"tau": 1.0})


@pytest.mark.slow
def test_energy_penalty_lowers_the_estimate(tmp_path: Path) -> None:
    common = {"epochs": 6, "energy_profile": "loihi"}
    plain = run_job(TrainConfig.for_dataset(**common), tmp_path / "plain", progress=False)
    penalised_cfg = TrainConfig.for_dataset(
        **common, penalty={"kind": "energy", "weight": 1e-5, "profile": "loihi"}
    )
    penalised = run_job(penalised_cfg, tmp_path / "pen", progress=False)
    assert plain.energy_pj is not None
    assert penalised.energy_pj is not None
    assert penalised.energy_pj < 0.9 * plain.energy_pj
    assert all("energy_pj" in m for m in penalised.history)
    assert "train_penalty" in penalised.history[-1]


def test_penalty_config_validation() -> None:
    with pytest.raises(ValueError, match="needs a hardware profile"):
        TrainConfig.for_dataset(penalty={"kind": "energy", "weight": 1.0})
    with pytest.raises(ValueError, match="unknown hardware profile 'lohi'"):
        TrainConfig.for_dataset(penalty={"kind": "energy", "weight": 1.0, "profile": "lohi"})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        TrainConfig.for_dataset(penalty={"kind": "spikes", "weight": -1.0})
