"""Tests for neurosim.core.network.Sequential and the lifted layers it runs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosim.core import (
    IF,
    LIF,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Lifted,
    Linear,
    MaxPool2d,
    Neuron,
    RecurrentLIF,
    Sequential,
    ShapeError,
)
from neurosim.core.neurons import LIFState, lif_step


def _reinit(module: nn.Module, g: torch.Generator, scale: float = 0.5) -> None:
    """Overwrite every parameter with seeded normal values (independent of torch's RNG)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def _mlp(g: torch.Generator) -> Sequential:
    net = Sequential(
        Linear(12, 16),
        LIF.from_beta(0.85),
        Linear(16, 10),
        LIF(tau_mem=5e-3, dt=1e-3, reset="zero"),
        Linear(10, 4),
        IF(v_th=0.7),
    )
    _reinit(net, g, 0.6)
    return net


def _input(g: torch.Generator, *shape: int, p: float = 0.4) -> torch.Tensor:
    return (torch.rand(*shape, generator=g) < p).float()


def _by_hand(net: Sequential, x: torch.Tensor) -> torch.Tensor:
    """Reference loop: synapses on the whole sequence, neurons step by step via lif_step."""
    for layer in net:
        if isinstance(layer, Neuron):
            p = layer.params()  # type: ignore[operator]
            zeros = torch.zeros_like(x[0])
            state = LIFState(zeros, zeros)
            out = []
            for t in range(x.shape[0]):
                s, state = lif_step(x[t], state, p, layer.surrogate)  # type: ignore[arg-type]
                out.append(s)
            x = torch.stack(out)
        else:
            x = layer(x)
    return x


def test_forward_run_and_hand_loop_agree() -> None:
    g = torch.Generator().manual_seed(0)
    net = _mlp(g)
    x = _input(g, 20, 3, 12)
    out = net(x)
    run = net.run(x)
    assert out.shape == (20, 3, 4)
    assert out.any()
    for a in run.spiking_layers():
        assert a.output.any(), a.name  # every layer spikes: the comparison is not vacuous
    assert torch.equal(out, run.output)
    assert torch.equal(out, _by_hand(net, x))
    # activity is layer-by-layer consistent
    assert [a.name for a in run.activity] == net.layer_names()
    assert torch.equal(run.activity[0].input, x)
    for prev, nxt in zip(run.activity, run.activity[1:], strict=False):
        assert nxt.input is prev.output
    assert [a.index for a in run.spiking_layers()] == [1, 3, 5]
    rates = run.firing_rates()
    assert set(rates) == {"1.LIF", "3.LIF", "5.IF"}
    assert rates["1.LIF"] == pytest.approx(run.activity[1].output.mean().item())


def test_record_membrane_matches_trace() -> None:
    g = torch.Generator().manual_seed(1)
    net = _mlp(g)
    x = _input(g, 10, 2, 12)
    run = net.run(x, record_membrane=True)
    assert sorted(run.membranes) == [1, 3, 5]
    for i in run.membranes:
        _, _, mem = net[i].trace(run.activity[i].input)  # type: ignore[operator]
        assert torch.equal(run.membranes[i], mem)
    assert net.run(x).membranes == {}


def test_float32_and_float64_agree() -> None:
    g = torch.Generator().manual_seed(2)
    net32 = _mlp(g)
    x = _input(g, 25, 4, 12)
    run32 = net32.run(x, record_membrane=True)
    net64 = _mlp(torch.Generator().manual_seed(2)).double()
    run64 = net64.run(x.double(), record_membrane=True)
    assert run64.output.dtype == torch.float64
    for i, mem64 in run64.membranes.items():
        v_th = net64[i].v_th
        assert isinstance(v_th, torch.Tensor)
        # precondition for exact spike agreement: no membrane within 1e-4 of threshold
        assert ((mem64 - v_th).abs() > 1e-4).all(), f"seed too close to threshold in layer {i}"
        torch.testing.assert_close(run32.membranes[i].double(), mem64, rtol=0, atol=1e-5)
    for a32, a64 in zip(run32.spiking_layers(), run64.spiking_layers(), strict=True):
        assert torch.equal(a32.output.double(), a64.output)


@pytest.mark.parametrize("k", [1, 7, 19])
def test_chunked_run_equals_whole_run(k: int) -> None:
    g = torch.Generator().manual_seed(3)
    net = Sequential(
        Linear(12, 8),
        LIF.from_beta(0.9, reset_timing="delayed"),
        Linear(8, 8),
        RecurrentLIF.from_beta(0.7, n=8),
        Linear(8, 3),
        IF(),
    )
    _reinit(net, g, 0.7)
    x = _input(g, 20, 2, 12)
    whole = net.run(x, record_membrane=True)
    run1 = net.run(x[:k], record_membrane=True)
    run2 = net.run(x[k:], state=run1.states, record_membrane=True)
    assert run1.states[0] is None
    assert isinstance(run1.states[1], LIFState)
    assert whole.output.any()
    assert torch.equal(torch.cat([run1.output, run2.output]), whole.output)
    for i in whole.membranes:
        assert torch.equal(torch.cat([run1.membranes[i], run2.membranes[i]]), whole.membranes[i])
    for a, b in zip(run2.states, whole.states, strict=True):
        if a is None:
            assert b is None
        else:
            assert torch.equal(a.v, b.v)
            assert torch.equal(a.s, b.s)
    # forward() accepts the same states
    assert torch.equal(net(x[k:], state=run1.states), run2.output)


def test_activity_is_in_autograd_graph() -> None:
    g = torch.Generator().manual_seed(4)
    net = _mlp(g)
    run = net.run(_input(g, 10, 3, 12))
    for a in run.activity:
        assert a.output.requires_grad, a.name
    total = sum(a.output.sum() for a in run.spiking_layers())
    assert isinstance(total, torch.Tensor)
    total.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def _conv_net() -> Sequential:
    return Sequential(
        Conv2d(2, 4, 3, padding=1),
        LIF.from_beta(0.9),
        AvgPool2d(2),
        Conv2d(4, 8, 3),
        IF(),
        MaxPool2d(2),
        Flatten(),
        Linear(8 * 2 * 2, 10),
        LIF(),
    )


def test_conv_net_shapes() -> None:
    g = torch.Generator().manual_seed(5)
    net = _conv_net()
    _reinit(net, g, 0.8)
    x = _input(g, 3, 2, 2, 12, 12)
    run = net.run(x)
    shapes = [tuple(a.output.shape) for a in run.activity]
    assert shapes == [
        (3, 2, 4, 12, 12),
        (3, 2, 4, 12, 12),
        (3, 2, 4, 6, 6),
        (3, 2, 8, 4, 4),
        (3, 2, 8, 4, 4),
        (3, 2, 8, 2, 2),
        (3, 2, 32),
        (3, 2, 10),
        (3, 2, 10),
    ]
    assert run.output.shape == (3, 2, 10)
    assert run.activity[1].output.any()


def test_lifted_layers_equal_torch_per_step() -> None:
    g = torch.Generator().manual_seed(6)
    conv = Conv2d(3, 5, 3, padding=1, stride=2).double()
    _reinit(conv, g)
    x = torch.randn(4, 2, 3, 9, 9, generator=g, dtype=torch.float64)
    y = conv(x)
    for t in range(x.shape[0]):
        ref = F.conv2d(x[t], conv.weight, conv.bias, stride=2, padding=1)
        torch.testing.assert_close(y[t], ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(AvgPool2d(3)(x)[t], F.avg_pool2d(x[t], 3))
        assert torch.equal(MaxPool2d(2)(x)[t], F.max_pool2d(x[t], 2))
        assert torch.equal(Flatten()(x)[t], x[t].flatten(1))


def test_dropout_mask_is_shared_over_time() -> None:
    p = 0.5
    drop = Dropout(p)
    x = torch.ones(7, 4, 64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        y = drop(x)
    assert torch.equal(y, y[0].expand_as(y))  # same at every step
    values = set(y.unique().tolist())
    assert values == {0.0, 1.0 / (1.0 - p)}
    drop.eval()
    assert drop(x) is x
    assert Dropout(0.0).train()(x) is x


def test_dropout_in_network_and_bad_p() -> None:
    net = Sequential(Linear(5, 6), Dropout(0.3), LIF())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(8)
        run = net.run(torch.ones(4, 2, 5))
    mask = run.activity[1].output
    assert torch.equal(mask == 0, (mask == 0)[0].expand_as(mask))
    for bad in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p="):
            Dropout(bad)


def test_lifted_batchnorm() -> None:
    g = torch.Generator().manual_seed(9)
    bn = nn.BatchNorm1d(6)
    net = Sequential(Linear(4, 6), Lifted(bn), LIF())
    x = torch.randn(5, 3, 4, generator=g)
    run = net.run(x)
    assert run.output.shape == (5, 3, 6)
    # statistics are over all T·B samples of a feature
    normed = run.activity[1].output
    torch.testing.assert_close(normed.mean((0, 1)), torch.zeros(6), rtol=0, atol=1e-5)
    net.eval()
    assert net(x).shape == (5, 3, 6)


def test_elementwise_torch_activation_allowed() -> None:
    net = Sequential(Linear(3, 3), nn.ReLU(), LIF())
    assert net(torch.randn(2, 1, 3, generator=torch.Generator().manual_seed(0))).shape == (
        2,
        1,
        3,
    )


def test_unlifted_module_raises_type_error_suggesting_lifted() -> None:
    with pytest.raises(TypeError, match="Lifted"):
        Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(Linear(2, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="at least one"):
        Sequential()


@pytest.mark.parametrize(
    ("x", "error", "needle"),
    [
        pytest.param(torch.zeros(5), ShapeError, r"\[T, B", id="rank-1"),
        pytest.param(torch.zeros(()), ShapeError, r"\[T, B", id="rank-0"),
        pytest.param(torch.zeros(0, 2, 12), ShapeError, "T = 0", id="T=0"),
        pytest.param(torch.zeros(3, 0, 12), ShapeError, "empty batch", id="B=0"),
        pytest.param(torch.tensor([[[float("nan")] * 12]]), ValueError, "NaN", id="nan"),
        pytest.param(torch.zeros(3, 2, 12, dtype=torch.int64), TypeError, "int64", id="int"),
        pytest.param([[0.0]], TypeError, "list", id="not-a-tensor"),
    ],
)
def test_bad_input_raises(x: object, error: type[Exception], needle: str) -> None:
    net = Sequential(Linear(12, 4), LIF())
    with pytest.raises(error, match=needle):
        net(x)
    with pytest.raises(error, match=needle):
        net.run(x)  # type: ignore[arg-type]


def test_wrong_feature_size_names_layer_and_shape() -> None:
    net = Sequential(Linear(12, 8), LIF(), Linear(9, 4), LIF())
    with pytest.raises(ShapeError, match="layer 0") as info:
        net(torch.zeros(3, 2, 11))
    assert "[T, B, 12]" in str(info.value)
    assert "[3, 2, 11]" in str(info.value)
    with pytest.raises(ShapeError, match=r"layer 2 \(Linear\).*\[T, B, 9\]"):
        net.run(torch.zeros(3, 2, 12))


def test_wrong_channels_to_conv_names_layer() -> None:
    net = _conv_net()
    with pytest.raises(ShapeError, match=r"layer 0 \(Conv2d\).*2 input channels"):
        net(torch.zeros(2, 1, 3, 12, 12))
    with pytest.raises(ShapeError, match="layer 0"):
        net(torch.zeros(2, 1, 12, 12))  # missing the channel dim


def test_state_list_of_wrong_length_raises() -> None:
    net = Sequential(Linear(3, 4), LIF())
    x = torch.zeros(2, 1, 3)
    with pytest.raises(ValueError, match="3 entries"):
        net(x, state=[None, None, None])
    with pytest.raises(ValueError, match="1 entries"):
        net.run(x, state=[None])
    # a state of the wrong batch shape is a ShapeError naming the layer
    bad = LIFState(torch.zeros(5, 4), torch.zeros(5, 4))
    with pytest.raises(ShapeError, match="layer 1"):
        net(x, state=[None, bad])


def test_module_casts_reach_all_layers() -> None:
    # regression: Sequential once shadowed nn.Module._apply, breaking .to()/.double()
    net = _mlp(torch.Generator().manual_seed(10))
    net.to(torch.float64)
    assert all(t.dtype == torch.float64 for t in net.state_dict().values())
    net.float()
    assert all(t.dtype == torch.float32 for t in net.state_dict().values())
    assert net.to("cpu") is net


def test_layer_names_of_parametrized_layers_keep_the_class_name() -> None:
    from torch.nn.utils.parametrizations import spectral_norm

    net = Sequential(Linear(4, 3), LIF.from_beta(0.9))
    spectral_norm(net[0])
    assert type(net[0]).__name__ == "ParametrizedLinear"
    assert net.layer_names() == ["0.Linear", "1.LIF"]


def test_same_shape_copies_geometry_not_weights() -> None:
    from neurosim.core.layers import same_shape

    conv = torch.nn.Conv2d(2, 4, (3, 5), stride=2, padding=(1, 2), dilation=1, groups=2)
    new = same_shape(conv, Conv2d, bias=False)
    assert type(new) is Conv2d
    assert (new.in_channels, new.out_channels, new.kernel_size) == (2, 4, (3, 5))
    assert (new.stride, new.padding, new.groups, new.bias) == ((2, 2), (1, 2), 2, None)
    lin = same_shape(Linear(3, 5))
    assert type(lin) is Linear
    assert (lin.in_features, lin.out_features, lin.bias is not None) == (3, 5, True)


@pytest.mark.parametrize("seed", range(40))
def test_has_nan_agrees_with_an_elementwise_search(seed: int) -> None:
    """NaN, ±inf (also both: their sum is NaN), huge finite values (their sum overflows)."""
    from neurosim.core.layers import has_nan

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, generator=g, dtype=torch.float64 if seed % 2 else torch.float32)
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 3e38, -3e38])
    picks = torch.randint(0, 5, (int(torch.randint(0, 4, (1,), generator=g)),), generator=g)
    where = torch.randint(0, 50, picks.shape, generator=g)
    x[where] = specials[picks].to(x.dtype)
    assert has_nan(x) == bool(torch.isnan(x).any())
