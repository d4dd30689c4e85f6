"""GAN and DANN trainers on tiny spiking networks."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import TensorDataset

import neurosim as ns
from neurosim.core.encoding import Direct
from neurosim.training import adversarial as tadv
from neurosim.training.losses import ce_mean
from neurosim.transforms import OverTime, spectral_norm


def _dann(lam: float, backend: str = "auto") -> tadv.DANN:
    torch.manual_seed(0)
    features = ns.Sequential(ns.Linear(5, 8), ns.LIF.from_beta(0.8, backend=backend))
    classifier = ns.Sequential(ns.Linear(8, 3))
    domain = ns.Sequential(ns.Linear(8, 6), torch.nn.ReLU(), ns.Linear(6, 1))
    return tadv.DANN(features, classifier, domain, lam=lam)


def _batches() -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(1)
    x_s = torch.rand(4, 6, 5, generator=gen) * 3
    x_t = torch.rand(4, 6, 5, generator=gen) * 3 + 0.5
    y_s = torch.randint(0, 3, (6,), generator=gen)
    return x_s, y_s, x_t


def test_dann_step_reverses_the_domain_gradient_into_the_features() -> None:
    lam, lr = 0.7, 0.05
    x_s, y_s, x_t = _batches()
    model = _dann(lam)
    ref = copy.deepcopy(model)  # the same network, differentiated without the reversal
    f_s, f_t = ref.features(x_s), ref.features(x_t)
    d_s, d_t = ref.domain_score(f_s, reverse=False), ref.domain_score(f_t, reverse=False)
    dom = F.softplus(d_s).mean() + F.softplus(-d_t).mean()
    cls = ce_mean(ref.classifier(f_s), y_s)
    params = dict(ref.named_parameters())
    grads = [
        torch.autograd.grad(loss, list(params.values()), allow_unused=True, retain_graph=True)
        for loss in (dom, cls)
    ]
    g_dom, g_cls = (dict(zip(params, g, strict=True)) for g in grads)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    out = tadv.dann_step(model, opt, x_s, y_s, x_t, loss=ce_mean)
    assert out["domain_loss"] == pytest.approx(dom.item(), rel=1e-6)
    assert out["class_loss"] == pytest.approx(cls.item(), rel=1e-6)
    zero = torch.zeros(())
    for name, p in model.named_parameters():
        gd = g_dom[name] if g_dom[name] is not None else zero
        gc = g_cls[name] if g_cls[name] is not None else zero
        sign = -lam if name.startswith("features.") else 1.0  # reversed only below the GRL
        want = before[name] - lr * (gc + sign * gd)
        torch.testing.assert_close(p.detach(), want, atol=1e-6, rtol=1e-5)
    assert g_dom["features.layers.0.weight"].abs().sum() > 0  # the check is not vacuous


def test_dann_step_with_wasserstein_critic_and_penalty_runs() -> None:
    x_s, y_s, x_t = _batches()
    model = _dann(1.0)
    model.domain = spectral_norm(model.domain)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    out = tadv.dann_step(
        model, opt, x_s, y_s, x_t, loss=ce_mean, domain_loss="wasserstein", gp_weight=10.0,
        generator=gen,
    )  # fmt: skip
    assert out["penalty"] > 0
    assert all(math.isfinite(v) for k, v in out.items() if k != "domain_accuracy")
    zero = tadv.dann_step(
        model, opt, x_s, y_s, x_t, loss=ce_mean, gp_weight=1.0, gp_target=0.0, generator=gen
    )
    assert 0 < zero["penalty"] < 1e3
    assert 0.0 <= zero["domain_accuracy"] <= 1.0


def test_fit_dann_history_schedule_and_evaluation() -> None:
    gen = torch.Generator().manual_seed(2)
    source = TensorDataset(torch.rand(40, 5, generator=gen), torch.randint(0, 3, (40,)))
    target = torch.rand(25, 5, generator=gen)
    test = TensorDataset(torch.rand(10, 5, generator=gen), torch.randint(0, 3, (10,)))
    model = _dann(1.0)
    hist = tadv.fit_dann(
        model, source, target, encoder=Direct(3), loss=ce_mean, epochs=2, batch_size=16,
        gp_weight=1.0, target_test=test,
    )  # fmt: skip
    assert [h["epoch"] for h in hist] == [1, 2]
    last_progress = (2 * 3 - 1) / 6
    assert hist[-1]["lam"] == pytest.approx(tadv.ganin_lambda(last_progress))
    assert 0.0 <= hist[-1]["target_accuracy"] <= 1.0
    assert hist[-1]["penalty"] > 0


def test_ganin_schedule_closed_form() -> None:
    assert tadv.ganin_lambda(0.0) == 0.0
    assert tadv.ganin_lambda(1.0, lam=0.5) == pytest.approx(0.5 * math.tanh(5.0))


def test_critic_losses_closed_form() -> None:
    d_real, d_fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.0])
    d, g = tadv.critic_losses(d_real, d_fake, "ns")
    want_d = (math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2 + (
        math.log1p(math.exp(0.5)) + math.log(2)
    ) / 2
    assert float(d) == pytest.approx(want_d)
    assert float(g) == pytest.approx((math.log1p(math.exp(-0.5)) + math.log(2)) / 2)
    d, g = tadv.critic_losses(d_real, d_fake, "wgan")
    assert float(d) == pytest.approx(0.25 - 0.5)
    assert float(g) == pytest.approx(-0.25)


def test_fit_gan_with_spiking_generator_and_critic() -> None:
    torch.manual_seed(0)
    gen_net = OverTime(
        ns.Sequential(ns.Linear(3, 16), ns.LIF.from_beta(0.9), ns.Linear(16, 2)), Direct(4)
    )
    critic = OverTime(
        spectral_norm(
            ns.Sequential(ns.Linear(2, 16), ns.LIF.from_beta(0.9, backend="loop"), ns.Linear(16, 1))
        ),
        Direct(4),
    )

    def real(n: int, g: torch.Generator) -> Tensor:
        return torch.randn(n, 2, generator=g) * 0.1 + 1.0

    logs: list[dict[str, float]] = []
    hist = tadv.fit_gan(
        gen_net, critic, real, z_dim=3, steps=6, batch_size=16, loss="wgan", gp_weight=10.0,
        r1_gamma=1.0, n_critic=2, log_every=4, on_log=logs.append,
    )  # fmt: skip
    assert [h["step"] for h in hist] == [4, 6]
    assert logs == hist
    assert all(math.isfinite(v) for h in hist for v in h.values())
    assert hist[0]["penalty"] > 0


def test_trainers_bad_input() -> None:
    net = OverTime(ns.Sequential(ns.Linear(2, 1)), Direct(1))

    def real(n: int, g: torch.Generator) -> Tensor:
        return torch.zeros(n, 2)

    with pytest.raises(ValueError, match="loss='hinge'"):
        tadv.fit_gan(net, net, real, z_dim=2, steps=1, loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps=0"):
        tadv.fit_gan(net, net, real, z_dim=2, steps=0)
    with pytest.raises(ValueError, match="gp_weight=-1"):
        tadv.fit_gan(net, net, real, z_dim=2, steps=1, gp_weight=-1.0)
    with pytest.raises(ValueError, match=r"generator samples \[4, 1\]"):
        tadv.fit_gan(net, net, real, z_dim=2, steps=1, batch_size=4)
    source = TensorDataset(torch.rand(8, 5), torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"target inputs \[4\]"):
        tadv.fit_dann(_dann(1.0), source, torch.rand(8, 4), encoder=Direct(2), loss=ce_mean,
                      epochs=1)  # fmt: skip
    with pytest.raises(ValueError, match="lam=-1"):
        tadv.fit_dann(_dann(1.0), source, torch.rand(8, 5), encoder=Direct(2), loss=ce_mean,
                      epochs=1, lam=-1.0)  # fmt: skip
    x_s, y_s, x_t = _batches()
    model = _dann(1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="domain_loss='mmd'"):
        tadv.dann_step(model, opt, x_s, y_s, x_t, loss=ce_mean, domain_loss="mmd")  # type: ignore[arg-type]
    fused_head = _dann(1.0)  # a LIF domain head on the fused kernel: no double backward
    fused_head.domain = ns.Sequential(ns.Linear(8, 6), ns.LIF.from_beta(0.8), ns.Linear(6, 1))
    opt = torch.optim.SGD(fused_head.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"domain head.*layers\.1 \(LIF\).*backend='loop'"):
        tadv.dann_step(fused_head, opt, x_s, y_s, x_t, loss=ce_mean, gp_weight=1.0)
    with pytest.raises(TypeError, match="domain must be a neurosim Sequential"):
        tadv.DANN(model.features, model.classifier, torch.nn.Linear(8, 1))  # type: ignore[arg-type]
