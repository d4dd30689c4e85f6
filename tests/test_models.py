"""The four model kinds (snn, s2nn, ann, bnn) built from ModelConfig, trained and reloaded."""

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from typer.testing import CliRunner

import neurosim as ns
from neurosim.cli import app
from neurosim.core.binary import BatchNorm, BinarySign, BNNConv2d, BNNLinear
from neurosim.datasets import load
from neurosim.models import ModelConfig, build_encoder, build_model
from neurosim.training.job import TrainConfig, load_model, run_job


def _cfg(**kw: object) -> ModelConfig:
    return ModelConfig(input_shape=(1, 8, 8), n_classes=10, **kw)  # type: ignore[arg-type]


def _digits(n: int = 16) -> torch.Tensor:
    return load("digits", "test").tensors[0][:n]


@pytest.mark.parametrize("kind", ["s2nn", "ann", "bnn"])
def test_single_step_kinds_refuse_more_steps(kind: str) -> None:
    with pytest.raises(ValidationError, match="T must be 1"):
        _cfg(kind=kind, T=4)
    assert _cfg(kind=kind).steps == 1


def test_binary_weights_need_a_bnn() -> None:
    with pytest.raises(ValidationError, match="binary_weights=True needs kind 'bnn'"):
        _cfg(kind="s2nn", binary_weights=True)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_s2nn_is_single_step_with_real_input_and_output(arch: str) -> None:
    torch.manual_seed(0)
    cfg = _cfg(kind="s2nn", arch=arch)
    net = build_model(cfg)
    x = build_encoder(cfg)(_digits())
    assert x.shape == (1, 16, 1, 8, 8)
    run = net.run(x)
    assert all(a.input.shape[0] == 1 for a in run.activity)
    assert all(a.output.shape[0] == 1 for a in run.activity)
    assert run.output.shape == (1, 16, 10)
    neurons = run.spiking_layers()
    assert neurons
    assert all(isinstance(a.layer, ns.S2NN) for a in neurons)
    for a in neurons:  # spikes between the hidden layers
        assert set(a.output.unique().tolist()) <= {0.0, 1.0}
    first = next(a for a in run.activity if isinstance(a.layer, ns.Linear | ns.Conv2d))
    assert not set(first.input.unique().tolist()) <= {0.0, 1.0}  # real-valued input
    assert isinstance(net[len(net) - 1], ns.Linear)  # real-valued output, no neuron after
    assert not set(run.output.unique().tolist()) <= {0.0, 1.0}


def test_pool_choice() -> None:
    with pytest.raises(ValidationError, match="pool='avg' is not valid for kind 'bnn'"):
        _cfg(kind="bnn", pool="avg")
    for kind, pool, want in [("s2nn", None, ns.AvgPool2d), ("s2nn", "max", ns.MaxPool2d),
                             ("bnn", None, ns.MaxPool2d)]:  # fmt: skip
        net = build_model(_cfg(kind=kind, arch="cnn", pool=pool))
        pools = [m for m in net if isinstance(m, ns.AvgPool2d | ns.MaxPool2d)]
        assert len(pools) == 2
        assert all(type(m) is want for m in pools)


def test_snn_runs_T_steps_and_spikes_at_the_output() -> None:
    cfg = _cfg(kind="snn", T=5)
    net = build_model(cfg)
    run = net.run(build_encoder(cfg)(_digits()))
    assert run.output.shape == (5, 16, 10)
    assert isinstance(net[len(net) - 1], ns.LIF)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("binary", [False, True])
def test_bnn_activations_are_plus_minus_one(arch: str, binary: bool) -> None:
    torch.manual_seed(1)
    cfg = _cfg(kind="bnn", arch=arch, binary_weights=binary)
    net = build_model(cfg)
    signs = [m for m in net if isinstance(m, BinarySign)]
    assert len(signs) == len(cfg.hidden) + (len(cfg.channels) if arch == "cnn" else 0)
    assert sum(isinstance(m, BatchNorm) for m in net) == len(signs)
    if arch == "cnn":
        assert any(isinstance(m, ns.MaxPool2d) for m in net)
        assert not any(isinstance(m, ns.AvgPool2d) for m in net)
    run = net.run(build_encoder(cfg)(_digits()))
    assert run.output.shape == (1, 16, 10)
    for a in run.activity:
        if isinstance(a.layer, BinarySign):
            assert set(a.output.unique().tolist()) == {-1.0, 1.0}
    synaptic = [m for m in net if isinstance(m, nn.Linear | nn.Conv2d)]
    assert all(isinstance(m, BNNLinear | BNNConv2d) for m in synaptic)
    assert [m.weight_bits for m in synaptic] == [1 if binary else None] * len(synaptic)
    # every layer but the first reads ±1 values: 1-bit inputs for the energy model
    assert [m.act_bits for m in synaptic] == [None] + [1] * (len(synaptic) - 1)


def test_bnn_binary_weights_are_plus_minus_scale_per_layer() -> None:
    """Each synaptic layer of the built BNN computes with ±α, α = mean |W| of that layer."""
    torch.manual_seed(2)
    net = build_model(_cfg(kind="bnn", arch="cnn", binary_weights=True))
    g = torch.Generator().manual_seed(3)
    checked = 0
    for m in net:
        if isinstance(m, BNNLinear | BNNConv2d):
            w = m.weight.detach()
            wb = w.abs().mean() * torch.where(w >= 0, 1.0, -1.0)  # by hand
            if isinstance(m, BNNLinear):
                x = torch.randn(1, 3, m.in_features, generator=g)
                want = torch.nn.functional.linear(x, wb, m.bias)
            else:
                x = torch.randn(1, 3, m.in_channels, 6, 6, generator=g)
                want = torch.nn.functional.conv2d(x[0], wb, m.bias, padding=1)[None]
            with torch.no_grad():
                assert torch.allclose(m(x), want, atol=1e-5)
            checked += 1
    assert checked == 4  # two convs, the hidden and the output Linear


def test_s2nn_training_on_digits_reaches_90_percent(tmp_path: Path) -> None:
    cfg = TrainConfig.for_dataset("digits", model={"kind": "s2nn"}, epochs=10)
    result = run_job(cfg, tmp_path, progress=False)
    assert result.test_accuracy >= 0.90


def test_bnn_trains_and_reloads_with_its_batch_norm_statistics(tmp_path: Path) -> None:
    model = {"kind": "bnn", "binary_weights": True}
    cfg = TrainConfig.for_dataset("digits", model=model, epochs=3)
    result = run_job(cfg, tmp_path, progress=False)
    assert result.test_accuracy >= 0.5  # 10 classes: far above chance after 3 epochs
    net, cfg2 = load_model(result.checkpoint)
    assert cfg2.model.binary_weights
    x = build_encoder(cfg.model)(_digits(64))
    result.net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), result.net(x))


def test_cli_trains_a_bnn_with_binary_weights(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        ["train", "--model", "bnn", "--binary-weights", "--epochs", "1", "--out", str(tmp_path)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["model"]["kind"] == "bnn"
    assert metrics["config"]["model"]["binary_weights"] is True
    res = CliRunner().invoke(
        app, ["train", "--model", "s2nn", "--binary-weights", "--out", str(tmp_path / "x")]
    )
    assert res.exit_code == 2
    assert "binary_weights=True needs kind 'bnn'" in res.output
