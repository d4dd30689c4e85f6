from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

import neurosim as ns
from neurosim.core.encoding import Poisson
from neurosim.io import load_checkpoint
from neurosim.training import ce_count, evaluate, fit


def _data(seed: int, n: int = 96) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.rand(n, 12, generator=g) * 0.3
    x[torch.arange(n), y * 4] = 1.0  # one bright pixel per class
    return TensorDataset(x, y)


def _net(seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    return ns.Sequential(
        ns.Linear(12, 16), ns.LIF.from_beta(0.9), ns.Dropout(0.1), ns.Linear(16, 3), ns.LIF()
    )


def _fit(net: ns.Sequential, epochs: int, **kw: object) -> list[dict]:
    return fit(
        net,
        _data(0),
        test=_data(1),
        encoder=Poisson(6),
        loss=ce_count,
        epochs=epochs,
        lr=1e-2,
        batch_size=16,
        seed=3,
        progress=False,
        **kw,
    )  # type: ignore[arg-type]


def test_same_seed_same_result() -> None:
    a, b = _net(0), _net(0)
    ha, hb = _fit(a, 2), _fit(b, 2)
    assert [m["train_loss"] for m in ha] == [m["train_loss"] for m in hb]
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    full = _net(0)
    h_full = _fit(full, 3)
    part = _net(0)
    ck = tmp_path / "ck.pt"
    _fit(part, 2, checkpoint=ck)
    assert load_checkpoint(ck)["epoch"] == 2
    resumed = _net(7)  # different init: everything must come from the checkpoint
    h_res = _fit(resumed, 3, checkpoint=ck, resume=True)
    assert len(h_res) == 3
    assert h_res[-1]["train_loss"] == h_full[-1]["train_loss"]
    for pa, pb in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_training_learns_and_reports_rates() -> None:
    net = _net(0)
    hist = _fit(net, 6)
    assert hist[-1]["test_accuracy"] > 0.8  # chance is 1/3
    assert set(hist[-1]["firing_rates"]) == {"1.LIF", "4.LIF"}
    res = evaluate(net, _data(1), encoder=Poisson(6), loss=ce_count)
    rates = res.firing_rates["1.LIF"]
    assert 0.0 < rates < 1.0


def test_penalty_hook_lowers_activity() -> None:
    def spikes(run: ns.Run) -> torch.Tensor:
        return 0.05 * sum(a.output.sum() for a in run.spiking_layers()) / run.output.shape[1]

    plain, penalised = _net(0), _net(0)
    _fit(plain, 4)
    hist = _fit(penalised, 4, penalty=spikes)
    assert "train_penalty" in hist[-1]
    r_plain = evaluate(plain, _data(1), encoder=Poisson(6), loss=ce_count).firing_rates
    r_pen = evaluate(penalised, _data(1), encoder=Poisson(6), loss=ce_count).firing_rates
    assert r_pen["1.LIF"] < r_plain["1.LIF"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="epochs=0"):
        _fit(_net(0), 0)
    with pytest.raises(ValueError, match="needs a checkpoint"):
        _fit(_net(0), 1, resume=True)
    with pytest.raises(TypeError, match="TensorDataset"):
        fit(_net(0), [1, 2], encoder=Poisson(2), loss=ce_count, epochs=1)  # type: ignore[arg-type]


def test_diverging_loss_is_reported() -> None:
    def nan_penalty(run: ns.Run) -> torch.Tensor:
        return run.output.sum() * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1"):
        _fit(_net(0), 1, penalty=nan_penalty)
