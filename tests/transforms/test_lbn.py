"""Layer-Batch Norm: statistics by hand, running averages, batch of one, gradcheck, folding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.core.binary import BatchNorm, BNNConv2d, BNNLinear
from neurosim.models import ModelConfig, build_model
from neurosim.transforms import LayerBatchNorm, fold, fold_, quantize


def _by_hand(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mu, var = x.mean(), x.var()  # over every element: batch, channels, space
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mu) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (7, 5), (1, 4, 3, 3), (1, 5)])
def test_training_forward_by_hand(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=torch.float64) * 3 + 1
    lbn = LayerBatchNorm(shape[1]).double()
    with torch.no_grad():
        lbn.weight.copy_(torch.rand(shape[1], generator=g) + 0.5)
        lbn.bias.copy_(torch.randn(shape[1], generator=g))
    y = lbn(x)
    want = _by_hand(x.numpy(), lbn.weight.detach().numpy(), lbn.bias.detach().numpy(), 1e-5)
    assert np.allclose(y.detach().numpy(), want, atol=1e-12)


def test_running_averages_and_eval() -> None:
    x = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lbn = LayerBatchNorm(2, momentum=0.25).double()
    lbn(x)
    n = x.numel()
    assert lbn.running_mean.item() == pytest.approx(0.25 * x.mean().item())
    unbiased = x.var().item()  # torch's default is the unbiased variance
    assert unbiased == pytest.approx(x.var(unbiased=False).item() * n / (n - 1))
    assert lbn.running_var.item() == pytest.approx(0.75 + 0.25 * unbiased)
    assert int(lbn.num_batches_tracked) == 1
    lbn.eval()
    mu, var = lbn.running_mean.item(), lbn.running_var.item()
    want = (x - mu) / np.sqrt(var + 1e-5)
    assert torch.allclose(lbn(x), want, atol=1e-12)
    assert lbn.running_mean.item() == mu  # eval does not update


def test_batch_of_one_where_batchnorm_cannot() -> None:
    x = torch.randn(1, 8, generator=torch.Generator().manual_seed(2))
    y = LayerBatchNorm(8)(x)
    assert y.mean().abs() < 1e-6
    assert y.var(unbiased=False).item() == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(8)(x)


def test_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    lbn = LayerBatchNorm(3).double()
    with torch.no_grad():
        lbn.weight.copy_(torch.rand(3, generator=g) + 0.5)
    x = torch.randn(2, 3, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: lbn(t), (x,))


def test_lifted_in_a_network_and_bad_shapes() -> None:
    net = ns.Sequential(ns.Conv2d(1, 3, 3), ns.Lifted(LayerBatchNorm(3)), ns.LIF())
    assert net(torch.rand(2, 1, 1, 5, 5)).shape == (2, 1, 3, 3, 3)
    with pytest.raises(ns.ShapeError, match=r"expects input \[N, 4, \.\.\.\]"):
        LayerBatchNorm(4)(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="num_features"):
        LayerBatchNorm(0)
    with pytest.raises(TypeError, match="num_features"):
        LayerBatchNorm(2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="momentum"):
        LayerBatchNorm(2, momentum=0.0)
    with pytest.raises(TypeError, match="momentum=None is not valid; expected a number"):
        LayerBatchNorm(2, momentum=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="eps='x'"):
        LayerBatchNorm(2, eps="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="affine=1"):
        LayerBatchNorm(2, affine=1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# folding


def _trained(net: ns.Sequential, x: torch.Tensor) -> ns.Sequential:
    """Random affine parameters and running statistics from a few batches, then eval."""
    g = torch.Generator().manual_seed(5)
    for m in net.modules():
        if isinstance(m, LayerBatchNorm | nn.BatchNorm1d | nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    for i in range(5):
        net(x * (1 + 0.1 * i))
    return net.eval()


def _cnn(norm: type[nn.Module], bias: bool = True) -> ns.Sequential:
    torch.manual_seed(0)
    return ns.Sequential(
        ns.Conv2d(1, 4, 3, padding=1, bias=bias),
        ns.Lifted(norm(4)),
        nn.ReLU(),
        ns.AvgPool2d(2),
        ns.Flatten(),
        ns.Linear(64, 16, bias=bias),
        ns.Lifted(LayerBatchNorm(16)),
        nn.ReLU(),
        ns.Lifted(nn.Linear(16, 5)),
        ns.Lifted(norm(5) if norm is LayerBatchNorm else nn.BatchNorm1d(5)),
    )


@pytest.mark.parametrize("norm", [LayerBatchNorm, nn.BatchNorm2d])
@pytest.mark.parametrize("bias", [True, False])
def test_fold_changes_outputs_by_at_most_1e5(norm: type[nn.Module], bias: bool) -> None:
    x = torch.rand(2, 8, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    net = _trained(_cnn(norm, bias), x)
    folded = fold(net)
    assert not any(isinstance(m, LayerBatchNorm | nn.BatchNorm2d) for m in folded.modules())
    assert (folded(x) - net(x)).abs().max().item() <= 1e-5
    double = fold(net.double())
    assert (double(x.double()) - net(x.double())).abs().max().item() <= 1e-12


def test_fold_quantised_network_keeps_levels_and_bits() -> None:
    x = torch.rand(1, 8, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    net = _cnn(LayerBatchNorm)
    q = _trained(quantize(net, weight_states=3, act_states=5, input_bits=8), x)
    folded = fold(q)
    assert (folded(x) - q(x)).abs().max().item() <= 1e-5
    conv = folded[0]
    assert type(conv) is ns.Conv2d  # a plain layer: the quantised values are frozen
    assert (conv.weight_bits, conv.act_bits, conv.weight_states) == (2, 8, 3)
    for c in range(4):  # three levels per output channel, scaled by the channel's factor
        assert torch.unique(conv.weight.detach()[c]).numel() <= 3
    assert q(x).shape == (1, 8, 5)  # the quantised network still runs: nothing shared broke


def test_fold_in_place_and_errors() -> None:
    x = torch.rand(1, 4, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    net = _trained(_cnn(LayerBatchNorm), x)
    copy_before = fold(net)
    assert isinstance(net[1], ns.Lifted)  # fold leaves its input alone
    assert fold_(net) is net
    assert isinstance(net[1], nn.Identity)
    assert torch.equal(net(x), copy_before(x))
    bad = ns.Sequential(ns.Linear(3, 3), nn.ReLU(), ns.Lifted(LayerBatchNorm(3)))
    with pytest.raises(ValueError, match=r"layer 2 \(LayerBatchNorm\).*follows ReLU"):
        fold(bad)
    first = ns.Sequential(ns.Lifted(LayerBatchNorm(3)))
    with pytest.raises(ValueError, match="the network input"):
        fold(first)
    mismatch = ns.Sequential(ns.Flatten(), ns.Lifted(LayerBatchNorm(3)))
    with pytest.raises(ValueError, match="follows Flatten"):
        fold(mismatch)
    with pytest.raises(TypeError, match="neurosim Sequential"):
        fold(nn.Sequential())  # type: ignore[arg-type]


def test_fold_without_affine() -> None:
    torch.manual_seed(8)
    net = ns.Sequential(ns.Linear(5, 4, bias=False), ns.Lifted(LayerBatchNorm(4, affine=False)))
    x = torch.randn(2, 6, 5)
    net(x)
    net.eval()
    folded = fold(net)
    assert (folded(x) - net(x)).abs().max().item() <= 1e-5
    lbn = net[1].module
    s = 1 / torch.sqrt(lbn.running_var + lbn.eps)
    assert torch.allclose(folded[0].weight, net[0].weight * s)
    assert torch.allclose(folded[0].bias, -s * lbn.running_mean.expand(4))


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("binary", [True, False])
def test_fold_bnn_keeps_its_pre_sign_values(arch: str, binary: bool) -> None:
    """A binary-weight BNN layer folds as the ``α·sign W`` it computes with, scaled per
    channel (its own forward would binarise the folded weights again)."""
    torch.manual_seed(9)
    cfg = ModelConfig(
        kind="bnn", arch=arch, input_shape=(1, 8, 8), n_classes=3, hidden=(6,),
        channels=(4,), binary_weights=binary,
    )  # fmt: skip
    net = build_model(cfg)
    g = torch.Generator().manual_seed(10)
    for m in net:
        if isinstance(m, BatchNorm):
            bn = m.module
            with torch.no_grad():  # channel scales far apart, so a lost scale shows
                bn.weight.copy_(torch.rand(bn.weight.shape, generator=g) * 3 + 0.2)
                bn.bias.copy_(torch.randn(bn.bias.shape, generator=g))
                bn.running_mean.copy_(torch.randn(bn.running_mean.shape, generator=g))
                bn.running_var.copy_(torch.rand(bn.running_var.shape, generator=g) + 0.5)
    net.eval()
    folded = fold(net)
    x = torch.rand(1, 16, 1, 8, 8, generator=g)
    h = x
    layers = list(net)
    checked = 0
    for i, (layer, new) in enumerate(zip(layers, folded, strict=True)):
        if isinstance(layer, BNNLinear | BNNConv2d) and isinstance(
            layers[i + 1] if i + 1 < len(layers) else None, BatchNorm
        ):
            # by hand: α·sign(W) for binary weights, then the eval-mode batch norm
            w = layer.weight.detach()
            if binary:  # folded: ±α·s_c, one magnitude per output channel
                w = w.abs().mean() * torch.where(w >= 0, 1.0, -1.0)
                assert torch.unique(new.weight.detach()[0].abs()).numel() == 1
            assert new.weight_bits == (1 if binary else None)
            assert new.act_bits == layer.act_bits
            want = net[i + 1](
                nn.functional.linear(h, w, layer.bias)
                if isinstance(layer, BNNLinear)
                else nn.functional.conv2d(h.flatten(0, 1), w, layer.bias, padding=1).unflatten(
                    0, h.shape[:2]
                )
            )
            assert (new(h) - want).abs().max().item() <= 1e-5
            checked += 1
        h = layer(h)
    assert checked == (2 if arch == "cnn" else 1)
    assert torch.equal(folded(x), net(x))
