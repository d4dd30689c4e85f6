"""BNN layers: sign values, the hard-tanh straight-through gradient, binary weights."""

import pytest
import torch
import torch.nn.functional as F

import neurosim as ns
from neurosim.core.binary import (
    BatchNorm,
    BinarySign,
    BNNConv2d,
    BNNLinear,
    binary_weight,
    sign_ste,
)


def test_sign_values_are_plus_minus_one_with_zero_positive() -> None:
    x = torch.tensor([-3.0, -1e-7, 0.0, 1e-7, 2.5])
    assert sign_ste(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0]


def test_ste_gradient_is_one_inside_unit_interval_and_zero_outside() -> None:
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0001, 3.0], requires_grad=True)
    g_out = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    (sign_ste(x) * g_out).sum().backward()
    assert x.grad is not None
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]


def test_ste_gradient_equals_hardtanh_derivative() -> None:
    torch.manual_seed(0)
    x = (torch.randn(1000, dtype=torch.float64) * 2).requires_grad_()
    g = torch.randn(1000, dtype=torch.float64)
    (gs,) = torch.autograd.grad((sign_ste(x) * g).sum(), x)
    (gh,) = torch.autograd.grad((F.hardtanh(x) * g).sum(), x)
    assert torch.equal(gs, gh)


def test_sign_rejects_integer_tensors() -> None:
    with pytest.raises(TypeError, match="floating"):
        sign_ste(torch.tensor([1, -1]))


def test_binary_sign_layer_in_a_network_outputs_plus_minus_one() -> None:
    torch.manual_seed(1)
    net = ns.Sequential(ns.Linear(5, 7), BinarySign())
    y = net(torch.randn(3, 4, 5))
    assert y.shape == (3, 4, 7)
    assert set(y.unique().tolist()) <= {-1.0, 1.0}


def test_binary_weights_are_plus_minus_mean_abs() -> None:
    torch.manual_seed(2)
    w = torch.randn(6, 5)
    wb = binary_weight(w)
    alpha = float(w.abs().mean())
    assert torch.allclose(wb.abs(), torch.full_like(wb, alpha))
    assert torch.equal(torch.sign(wb), torch.sign(w))


def test_binary_weight_gradient_matches_hand_derivation() -> None:
    # W_b = α·sign(W), α = mean|W|: dL/dW_ij = G_ij·α·[|W_ij| ≤ 1] + sign(W_ij)/n · Σ G ⊙ sign(W)
    torch.manual_seed(3)
    w = (torch.randn(4, 3, dtype=torch.float64) * 1.5).requires_grad_()
    g = torch.randn(4, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad((binary_weight(w) * g).sum(), w)
    wd = w.detach()
    s = torch.where(wd >= 0, 1.0, -1.0).to(torch.float64)
    alpha = wd.abs().mean()
    inside = (wd.abs() <= 1).to(torch.float64)
    hand = g * alpha * inside + s / wd.numel() * (g * s).sum()
    assert torch.allclose(grad, hand, atol=1e-12)


def test_binary_linear_equals_linear_with_binarised_weights() -> None:
    torch.manual_seed(4)
    layer = BNNLinear(5, 3, act_bits=1)
    x = torch.randn(2, 4, 5)
    w = layer.weight.detach()
    wb = w.abs().mean() * torch.where(w >= 0, 1.0, -1.0)
    expected = x @ wb.T + layer.bias.detach()
    with torch.no_grad():
        assert torch.allclose(layer(x), expected, atol=1e-6)
    assert (layer.weight_bits, layer.act_bits) == (1, 1)
    with pytest.raises(ns.ShapeError, match=r"\[T, B, 5\]"):
        layer(torch.randn(2, 4, 6))


def test_bnn_layers_with_real_weights_are_plain_layers() -> None:
    torch.manual_seed(7)
    lin = BNNLinear(5, 3, binary_weights=False, act_bits=1)
    x = torch.randn(1, 4, 5)
    assert torch.allclose(lin(x), F.linear(x, lin.weight, lin.bias))
    assert (lin.weight_bits, lin.act_bits) == (None, 1)
    conv = BNNConv2d(2, 3, 3, binary_weights=False)
    xi = torch.randn(1, 2, 2, 5, 5)
    want = F.conv2d(xi[0], conv.weight, conv.bias)
    assert torch.allclose(conv(xi)[0], want, atol=1e-6)


def test_bnn_layers_reject_bad_bit_settings() -> None:
    with pytest.raises(ValueError, match="act_bits=0"):
        BNNLinear(2, 2, act_bits=0)
    with pytest.raises(TypeError, match="binary_weights must be a bool"):
        BNNConv2d(1, 1, 3, binary_weights=1)  # type: ignore[arg-type]


def test_binary_conv_equals_conv_with_binarised_weights() -> None:
    torch.manual_seed(5)
    layer = BNNConv2d(2, 3, 3, padding=1)
    x = torch.randn(2, 4, 2, 5, 5)
    w = layer.weight.detach()
    wb = w.abs().mean() * torch.where(w >= 0, 1.0, -1.0)
    expected = F.conv2d(x.flatten(0, 1), wb, layer.bias.detach(), padding=1)
    with torch.no_grad():
        y = layer(x)
    assert y.shape == (2, 4, 3, 5, 5)
    assert torch.allclose(y, expected.unflatten(0, (2, 4)), atol=1e-5)


def test_batch_norm_normalises_over_time_and_batch() -> None:
    torch.manual_seed(6)
    bn = BatchNorm(3)
    x = torch.randn(2, 50, 3) * 4 + 7
    y = bn(x)
    flat = y.detach().flatten(0, 1)
    assert torch.allclose(flat.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(flat.var(0, unbiased=False), torch.ones(3), atol=1e-3)
    img = BatchNorm(2, image=True)
    assert img(torch.randn(1, 4, 2, 3, 3)).shape == (1, 4, 2, 3, 3)


def test_batch_norm_rejects_bad_sizes_and_shapes() -> None:
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="num_features"):
            BatchNorm(bad)  # type: ignore[arg-type]
    with pytest.raises(ns.ShapeError, match=r"BatchNorm\(3\)"):
        BatchNorm(3)(torch.randn(1, 2, 4))
    with pytest.raises(ns.ShapeError, match="H, W"):
        BatchNorm(3, image=True)(torch.randn(1, 2, 3))
