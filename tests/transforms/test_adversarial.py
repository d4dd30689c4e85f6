"""Spectral normalisation, gradient penalties, gradient reversal, OverTime."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import Tensor, nn

import neurosim as ns
from neurosim.core.encoding import Direct
from neurosim.transforms import adversarial as adv


def _mixed_net() -> ns.Sequential:
    """Every kind of weight: neurosim Conv2d/Linear, torch modules in Lifted, recurrence."""
    return ns.Sequential(
        ns.Conv2d(1, 3, 3),
        ns.LIF.from_beta(0.9),
        ns.Lifted(nn.ConvTranspose2d(3, 2, 2)),
        ns.Flatten(),
        ns.Linear(2 * 7 * 7, 12),
        ns.RecurrentLIF(12, tau_mem=5e-3, dt=1e-3),
        ns.Lifted(nn.Sequential(nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 4))),
    )


def _matrix(m: nn.Module, w: Tensor) -> Tensor:
    """Torch's reshaping convention, written out: [out, rest]; transposed conv [in, rest]."""
    if isinstance(m, nn.ConvTranspose2d):
        return w.permute(1, 0, 2, 3).reshape(w.shape[1], -1)
    return w.reshape(w.shape[0], -1)


def _weighted(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d)]


@pytest.fixture
def x_img() -> Tensor:
    return torch.rand(3, 2, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_every_weight_has_top_singular_value_one(x_img: Tensor) -> None:
    torch.manual_seed(0)
    net = _mixed_net()
    originals = [m.weight.detach().clone() for m in _weighted(net)]
    sn = adv.spectral_norm(net, n_power_iterations=20)
    sn.train()
    with torch.no_grad():
        for _ in range(5):  # each training forward runs more power iterations
            sn(x_img)
    sn.eval()
    layers = _weighted(sn)
    assert len(layers) == 6  # conv, conv-transpose, linear, recurrent, two in Lifted
    for m, w0 in zip(layers, originals, strict=True):
        w = m.weight.detach()
        top = torch.linalg.svdvals(_matrix(m, w).double())[0]
        assert float(top) == pytest.approx(1.0, abs=1e-5)
        sigma0 = torch.linalg.svdvals(_matrix(m, w0).double())[0]
        torch.testing.assert_close(w.double(), w0.double() / sigma0, atol=1e-6, rtol=1e-5)
    assert all(v == pytest.approx(1.0, abs=1e-5) for v in adv.top_singular_values(sn).values())


def test_input_network_is_not_mutated(x_img: Tensor) -> None:
    torch.manual_seed(0)
    net = _mixed_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    classes = [type(m) for m in net.modules()]
    out_before = net(x_img)
    sn = adv.spectral_norm(net)
    sn(x_img)
    assert [type(m) for m in net.modules()] == classes
    assert net.state_dict().keys() == before.keys()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    torch.testing.assert_close(net(x_img), out_before, rtol=0, atol=0)
    assert isinstance(sn[0], ns.Conv2d)  # still a neurosim layer (energy rules by MRO)


def test_spiking_net_trains_through_normalised_weights() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(4, 16), ns.LIF.from_beta(0.9), ns.Linear(16, 3))
    sn = adv.spectral_norm(net)
    x = torch.rand(5, 2, 4) * 3
    out = sn(x)
    assert out.shape == (5, 2, 3)
    out.sum().backward()
    original = sn[0].parametrizations.weight.original
    assert original.grad is not None
    assert original.grad.abs().sum() > 0
    report = ns.energy.estimate(sn, x, "loihi")
    assert report.total_pj > 0


def test_deepcopy_and_remove_keep_values_and_leave_the_original_working(x_img: Tensor) -> None:
    torch.manual_seed(0)
    sn = adv.spectral_norm(_mixed_net()).eval()
    twin = copy.deepcopy(sn)
    u, u_twin = sn[0].parametrizations.weight[0]._u, twin[0].parametrizations.weight[0]._u
    assert u is not u_twin
    torch.testing.assert_close(twin(x_img), sn(x_img), rtol=0, atol=0)
    plain = adv.remove_spectral_norm(sn)
    assert type(plain[0]) is ns.Conv2d
    assert "weight" in dict(plain[0].named_parameters())
    torch.testing.assert_close(plain(x_img), sn(x_img), rtol=0, atol=0)
    pickle.loads(pickle.dumps(plain))
    assert sn[0].weight.shape == (3, 1, 3, 3)  # the original still has its normalised weight


def test_reading_singular_values_runs_no_power_iteration() -> None:
    torch.manual_seed(0)
    sn = adv.spectral_norm(ns.Sequential(ns.Linear(6, 5))).train()
    u = sn[0].parametrizations.weight[0]._u.clone()
    adv.top_singular_values(sn)
    torch.testing.assert_close(sn[0].parametrizations.weight[0]._u, u, rtol=0, atol=0)
    assert sn[0].training
    sn[0].weight  # noqa: B018  (a training-mode read is a step, torch's behaviour)
    assert not torch.equal(sn[0].parametrizations.weight[0]._u, u)


def test_spectral_norm_bad_input() -> None:
    with pytest.raises(ValueError, match="no Linear or Conv weight"):
        adv.spectral_norm(ns.Sequential(ns.LIF.from_beta(0.9), ns.Flatten()))
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        adv.spectral_norm(ns.Sequential(ns.Linear(2, 2)), n_power_iterations=0)
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        adv.spectral_norm("net")  # type: ignore[arg-type]
    sn = adv.spectral_norm(ns.Sequential(ns.Linear(2, 2)))
    with pytest.raises(ValueError, match=r"layer layers\.0 .* applied twice"):
        adv.spectral_norm(sn)
    with pytest.raises(ValueError, match="no spectrally normalised weight"):
        adv.remove_spectral_norm(ns.Sequential(ns.Linear(2, 2)))
    with pytest.raises(ValueError, match="lazy"):
        adv.spectral_norm(nn.Sequential(nn.LazyLinear(3)))


# ------------------------------------------------------------------ gradient penalties


def _linear_critic(w: Tensor) -> nn.Module:
    class Critic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(w.clone())

        def forward(self, x: Tensor) -> Tensor:
            return x.flatten(1) @ self.w

    return Critic()


def test_gradient_penalty_of_linear_critic_is_closed_form() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, generator=gen, dtype=torch.float64)
    critic = _linear_critic(w)
    real = torch.randn(7, 2, 3, generator=gen, dtype=torch.float64)
    fake = torch.randn(7, 2, 3, generator=gen, dtype=torch.float64)
    gp = adv.gradient_penalty(critic, real, fake, lam=10.0)
    norm = float(w.norm())
    assert float(gp.detach()) == pytest.approx(10.0 * (norm - 1.0) ** 2, rel=1e-12)
    gp.backward()  # d/dw of λ(‖w‖−1)² = 2λ(‖w‖−1) w/‖w‖
    torch.testing.assert_close(critic.w.grad, 2 * 10.0 * (norm - 1.0) * w / norm)
    r1 = adv.r1_penalty(critic, real, gamma=3.0)
    assert float(r1.detach()) == pytest.approx(1.5 * norm**2, rel=1e-12)
    gp0 = adv.gradient_penalty(critic, real, fake, lam=2.0, target=0.0)
    assert float(gp0.detach()) == pytest.approx(2.0 * norm**2, rel=1e-12)


def test_gradient_penalty_interpolates_per_sample() -> None:
    """Quadratic critic D(x) = ½ xᵀMx: ∇D(x̂) = M x̂, with x̂ from the same seeded ε."""
    gen = torch.Generator().manual_seed(3)
    m = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    m = m + m.T
    real = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    fake = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    gp = adv.gradient_penalty(
        lambda x: 0.5 * ((x @ m) * x).sum(1),
        real,
        fake,
        lam=0.5,
        generator=torch.Generator().manual_seed(9),
    )
    eps = torch.rand(5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    want = 0.5 * ((x_hat @ m).norm(dim=1) - 1).pow(2).mean()
    assert float(gp.detach()) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gradient_penalty_cpu_generator_with_cuda_inputs() -> None:
    # a quadratic critic, so the value depends on the drawn ε: CPU and CUDA must draw the same
    gen = torch.Generator().manual_seed(5)
    m = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    real, fake = (torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    vals = []
    for dev in ("cpu", "cuda"):
        md = (m + m.T).to(dev)
        vals.append(
            adv.gradient_penalty(
                lambda x, md=md: 0.5 * ((x @ md) * x).sum(1),
                real.to(dev),
                fake.to(dev),
                generator=torch.Generator().manual_seed(0),
            )
        )
    assert float(vals[1]) == pytest.approx(float(vals[0]), rel=1e-9)


def test_penalties_on_time_first_input_and_spiking_critic() -> None:
    w = torch.randn(3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    real = torch.randn(
        4, 6, 3, dtype=torch.float64
    )  # [T, B, d]; ∇ per sample: w/T at each of T steps
    gp = adv.gradient_penalty(lambda x: x.mean(0) @ w, real, real.flip(1), batch_dim=1)
    assert float(gp.detach()) == pytest.approx(10.0 * (float(w.norm()) / 2 - 1) ** 2, rel=1e-12)
    torch.manual_seed(0)
    body = ns.Sequential(ns.Linear(2, 8), ns.LIF.from_beta(0.9, backend="loop"), ns.Linear(8, 1))
    critic = adv.OverTime(body, Direct(4))
    x = torch.randn(6, 2) * 2
    pen = adv.gradient_penalty(critic, x, torch.randn(6, 2)) + adv.r1_penalty(critic, x, 1.0)
    pen.backward()
    assert body[0].weight.grad is not None
    assert torch.isfinite(body[0].weight.grad).all()


def test_penalty_bad_input() -> None:
    critic = _linear_critic(torch.ones(2))
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="lam=-1"):
        adv.gradient_penalty(critic, x, x, lam=-1.0)
    with pytest.raises(ValueError, match=r"gamma=-0\.5"):
        adv.r1_penalty(critic, x, gamma=-0.5)
    with pytest.raises(ValueError, match=r"real \[3, 2\] and fake \[4, 2\]"):
        adv.gradient_penalty(critic, x, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="one score per sample"):
        adv.gradient_penalty(lambda v: v, x, x)
    with pytest.raises(ValueError, match="batch_dim=2"):
        adv.r1_penalty(critic, x, batch_dim=2)
    fused = adv.OverTime(ns.Sequential(ns.Linear(2, 3), ns.LIF.from_beta(0.9)), Direct(2))
    with pytest.raises(ValueError, match="backend='loop'"):
        adv.r1_penalty(fused, x)
    with pytest.raises(TypeError, match="lam must be a number"):
        adv.gradient_penalty(critic, x, x, lam="10")  # type: ignore[arg-type]


# ------------------------------------------------------------------ gradient reversal


def test_gradient_reversal_forward_identity_backward_negated() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    layer = adv.GradientReversal(0.7)
    y = layer(x)
    torch.testing.assert_close(y, x, rtol=0, atol=0)
    v = torch.randn(3, 4, dtype=torch.float64)
    (g,) = torch.autograd.grad(y, x, v)
    torch.testing.assert_close(g, -0.7 * v, rtol=0, atol=0)
    # gradcheck compares backward with finite differences of the forward: the reversal
    # alone must fail it (its backward is deliberately not its derivative); two reversals
    # whose factors multiply to 1 are an identity in both directions and must pass.
    assert not torch.autograd.gradcheck(
        lambda t: adv.grad_reverse(t, 1.0), (x,), raise_exception=False
    )
    assert torch.autograd.gradcheck(lambda t: adv.grad_reverse(adv.grad_reverse(t, 2.5), 0.4), (x,))


def test_gradient_reversal_bad_lambda() -> None:
    with pytest.raises(ValueError, match=r"lam=-0\.1"):
        adv.GradientReversal(-0.1)
    layer = adv.GradientReversal(1.0)
    with pytest.raises(ValueError, match="lam=nan"):
        layer.lam = float("nan")
    with pytest.raises(ValueError, match="lam=-2"):
        adv.grad_reverse(torch.zeros(1), -2)


def test_over_time_readouts_and_errors() -> None:
    net = ns.Sequential(ns.Linear(2, 3))
    x = torch.randn(4, 2)
    seq = Direct(5)(x)
    torch.testing.assert_close(adv.OverTime(net, Direct(5))(x), net(seq).mean(0))
    torch.testing.assert_close(adv.OverTime(net, Direct(5), "sum")(x), net(seq).sum(0))
    torch.testing.assert_close(adv.OverTime(net, None, "last")(seq), net(seq)[-1])
    with pytest.raises(ValueError, match="readout='max'"):
        adv.OverTime(net, Direct(5), "max")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="encoder"):
        adv.OverTime(net, 5)  # type: ignore[arg-type]
