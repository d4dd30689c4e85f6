"""Gaussian-mixture variational networks: KL against closed forms, gradients, sampling."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence
from torch.func import functional_call

import neurosim as ns
from neurosim.bayes import (
    BayesianSequential,
    BayesLinear,
    Draw,
    bayesian,
    elbo_loss,
    entropy_approx,
    gaussian_mixture_kl,
    predict,
)
from neurosim.training.losses import ce_count, ce_mean

D64 = torch.float64


def _lif() -> nn.Module:
    return ns.LIF(tau_mem=20e-3, dt=1e-3, v_th=0.5)


def _snn(seed: int = 0) -> ns.Sequential:
    torch.manual_seed(seed)
    return ns.Sequential(ns.Flatten(), ns.Linear(16, 12), _lif(), ns.Linear(12, 4), _lif())


def _ann(seed: int = 0, dtype: torch.dtype = torch.float32) -> ns.Sequential:
    torch.manual_seed(seed)
    net = ns.Sequential(ns.Linear(3, 5), nn.Tanh(), ns.Linear(5, 2))
    return net.to(dtype)


def _x(t: int = 6, b: int = 5, seed: int = 1) -> torch.Tensor:
    return 2.0 * torch.rand(t, b, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_kl_for_one_component_is_the_diagonal_gaussian_kl() -> None:
    net = bayesian(_ann(dtype=D64), components=1, prior_std=0.7, init_std=0.05, generator=_gen(0))
    prior = Normal(torch.tensor(0.0, dtype=D64), torch.tensor(0.7, dtype=D64))
    want, hand = torch.zeros((), dtype=D64), torch.zeros((), dtype=D64)
    for m in net.bayes_layers():
        for mu, std in m.means_and_stds():
            want = want + kl_divergence(Normal(mu, std), prior).sum()
            # by hand: log(s/σ) + (σ² + μ²)/(2s²) − ½ per coordinate
            hand = hand + (math.log(0.7) - std.log() + (std**2 + mu**2) / (2 * 0.49) - 0.5).sum()
    assert want.item() == pytest.approx(hand.item(), rel=1e-12)
    assert net.kl().item() == pytest.approx(want.item(), rel=1e-12)


def test_mixture_kl_is_minus_approx_entropy_minus_prior_cross_entropy() -> None:
    g = _gen(3)
    logits = torch.randn(3, generator=g, dtype=D64)
    mu = torch.randn(3, 4, generator=g, dtype=D64)
    std = 0.2 + torch.rand(3, 4, generator=g, dtype=D64)
    kl = gaussian_mixture_kl(logits, [mu[:, :1], mu[:, 1:]], [std[:, :1], std[:, 1:]], 1.3)
    pi = torch.softmax(logits, 0)
    h = entropy_approx(pi, mu, std**2)
    # E_q[log p(w)] by Monte Carlo over the mixture, with its standard error
    k = torch.multinomial(pi, 200_000, replacement=True, generator=g)
    w = mu[k] + std[k] * torch.randn(200_000, 4, generator=g, dtype=D64)
    logp = Normal(0.0, 1.3).log_prob(w).sum(1)
    se = float(logp.std() / math.sqrt(len(logp)))
    assert (-(kl + h)).item() == pytest.approx(float(logp.mean()), abs=5 * se)


def test_kl_gradcheck() -> None:
    g = _gen(4)
    logits = torch.randn(2, generator=g, dtype=D64, requires_grad=True)
    mu = torch.randn(2, 3, generator=g, dtype=D64, requires_grad=True)
    rho = torch.randn(2, 3, generator=g, dtype=D64, requires_grad=True)

    def f(lg: torch.Tensor, m: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return gaussian_mixture_kl(lg, [m], [nn.functional.softplus(r)], 0.9)

    assert torch.autograd.gradcheck(f, (logits, mu, rho))


class _Elbo(nn.Module):
    """The negative ELBO of a fixed batch with fixed noise, as a module (for functional_call)."""

    def __init__(self, net: BayesianSequential, x: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__()
        self.net, self.x, self.y = net, x, y

    def forward(self) -> torch.Tensor:
        return elbo_loss(self.net, self.x, self.y, ce_mean, 10, generator=_gen(7)).loss


def test_elbo_gradcheck_through_reparameterised_samples() -> None:
    net = bayesian(_ann(dtype=D64), components=2, prior_std=1.0, init_std=0.1, generator=_gen(0))
    x = torch.randn(1, 4, 3, generator=_gen(1), dtype=D64)
    elbo = _Elbo(net, x, torch.tensor([0, 1, 1, 0]))
    names = ["mixing_logits", "layers.0.mu_weight", "layers.0.rho_weight", "layers.2.rho_bias"]
    params = dict(net.named_parameters())
    start = tuple(params[n].detach().clone().requires_grad_(True) for n in names)

    def f(*vals: torch.Tensor) -> torch.Tensor:
        over = {"net." + n: v for n, v in zip(names, vals, strict=True)}
        return functional_call(elbo, over, (), tie_weights=True, strict=False)

    assert torch.autograd.gradcheck(f, start)


def test_elbo_gives_gradients_to_means_stds_and_logits_on_a_spiking_net() -> None:
    net = bayesian(_snn(), components=3, prior_std=1.0, init_std=0.05, generator=_gen(0))
    terms = elbo_loss(net, _x(), torch.tensor([0, 1, 2, 3, 0]), ce_count, 100, generator=_gen(2))
    terms.loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_expected_nll_is_the_mixing_weighted_sum_over_components() -> None:
    net = bayesian(_ann(), components=3, init_std=0.1, generator=_gen(0))
    with torch.no_grad():
        net.mixing_logits.copy_(torch.tensor([0.3, -1.0, 0.8]))
    x, y = torch.randn(1, 6, 3, generator=_gen(1)), torch.tensor([0, 1, 0, 1, 1, 0])
    terms = elbo_loss(net, x, y, ce_mean, 50, generator=_gen(5))
    g, pi = _gen(5), torch.softmax(torch.tensor([0.3, -1.0, 0.8]), 0)
    want = sum(pi[k] * ce_mean(net(x, draw=net.draw(k, g)), y) for k in range(3))
    assert terms.nll.item() == pytest.approx(want.item(), rel=1e-6)  # type: ignore[union-attr]
    assert terms.loss.item() == pytest.approx(terms.nll.item() + terms.kl.item() / 50, rel=1e-6)


def _with_weights(net: ns.Sequential, draw: Draw) -> ns.Sequential:
    """A plain copy of ``net`` whose synaptic layers hold the weights of ``draw``."""
    plain = copy.deepcopy(net)
    synaptic = [m for m in plain if isinstance(m, nn.Linear | nn.Conv2d)]
    with torch.no_grad():
        for m, (w, b) in zip(synaptic, draw.params, strict=True):
            m.weight.copy_(w)
            m.bias.copy_(b)
    return plain


def test_one_sample_is_shared_by_all_steps_of_a_spiking_sequence() -> None:
    net = _snn()
    bnet = bayesian(net, components=2, init_std=0.2, generator=_gen(0))
    x = _x(t=8)
    draw = bnet.draw(generator=_gen(3))
    plain = _with_weights(net, draw)
    run = bnet.run(x, draw=draw)
    assert torch.equal(run.output, plain(x))
    assert run.output.sum() > 0  # the comparison is not between silent networks
    # continuing a sequence in chunks with the same draw equals one run
    first = bnet.run(x[:3], draw=draw)
    rest = bnet.run(x[3:], state=first.states, draw=draw)
    assert torch.equal(torch.cat([first.output, rest.output]), run.output)
    # a different draw gives different weights
    assert not torch.equal(bnet.draw(generator=_gen(4)).params[0][0], draw.params[0][0])


@pytest.mark.parametrize("kind", ["snn", "ann", "cnn"])
def test_zero_std_mean_prediction_equals_the_original_network(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "snn":
        net, x, readout = _snn(), _x(), "sum"
    elif kind == "ann":
        net, x, readout = _ann(), torch.randn(1, 7, 3, generator=_gen(2)), "mean"
    else:
        net = ns.Sequential(
            ns.Conv2d(1, 3, 3, padding=1), _lif(), ns.AvgPool2d(2), ns.Flatten(), ns.Linear(12, 4)
        )
        x, readout = _x(), "mean"
    bnet = bayesian(net, components=3, init_std=1e-12, jitter=0.0)
    pred = predict(bnet, x, samples=5, readout=readout, generator=_gen(1))  # type: ignore[arg-type]
    out = net(x).detach()
    want = torch.softmax(out.sum(0) if readout == "sum" else out.mean(0), -1)
    assert torch.allclose(pred.probs, want, atol=1e-6)
    assert pred.mutual_information.abs().max() < 1e-6


def test_predict_entropy_and_mutual_information_by_hand() -> None:
    bnet = bayesian(_ann(), components=2, init_std=0.5, generator=_gen(0))
    x = torch.randn(1, 4, 3, generator=_gen(1))
    pred = predict(bnet, x, samples=3, readout="mean", generator=_gen(9))
    g = _gen(9)
    ps = [torch.softmax(bnet(x, draw=bnet.draw(None, g)).mean(0), -1).detach() for _ in range(3)]
    mean = sum(ps) / 3
    h = -(mean * mean.log()).sum(-1)  # type: ignore[union-attr]
    eh = sum(-(p * p.log()).sum(-1) for p in ps) / 3
    assert torch.allclose(pred.probs, mean)  # type: ignore[arg-type]
    assert torch.allclose(pred.entropy, h)
    assert torch.allclose(pred.mutual_information, h - eh)
    assert (pred.mutual_information > 0).all()
    assert (pred.entropy <= math.log(2) + 1e-6).all()


def test_predict_runs_in_eval_mode_without_gradients_and_restores_the_mode() -> None:
    net = ns.Sequential(ns.Linear(3, 16), ns.Dropout(0.5), _lif(), ns.Linear(16, 2))
    bnet = bayesian(net, components=1, init_std=1e-12, jitter=0.0)
    bnet.train()
    x = torch.randn(4, 5, 3, generator=_gen(1))
    pred = predict(bnet, x, samples=3, generator=_gen(2))
    assert bnet.training  # restored
    assert not pred.probs.requires_grad
    assert pred.mutual_information.abs().max() < 1e-6  # dropout off: every pass the same
    bnet.eval()
    want = torch.softmax(bnet(x, draw=bnet.draw(None, _gen(3))).sum(0), -1)
    torch.testing.assert_close(pred.probs, want.detach())


def test_input_network_is_not_mutated_and_shares_nothing() -> None:
    net = _snn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bnet = bayesian(net, components=2, generator=_gen(0))
    assert type(net) is ns.Sequential
    assert type(net[1]) is ns.Linear
    assert isinstance(bnet[1], BayesLinear)
    with torch.no_grad():
        for p in bnet.parameters():
            p.add_(1.0)
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_layers_share_the_network_logits_and_energy_counting_runs() -> None:
    bnet = bayesian(_snn(), components=2, generator=_gen(0))
    assert all(m.logits is bnet.mixing_logits for m in bnet.bayes_layers())
    # outside a run, weight is the mixture mean Σ π_k μ_k
    m = bnet.bayes_layers()[0]
    want = (torch.softmax(bnet.mixing_logits, 0)[:, None, None] * m.mu_weight).sum(0)
    assert torch.allclose(m.weight, want)
    report = ns.energy.estimate(bnet, _x(), ns.hardware.load("loihi"))
    assert report.total_pj > 0


def test_bad_inputs_raise_clear_errors() -> None:
    net = _snn()
    with pytest.raises(ValueError, match="components=0 is not valid"):
        bayesian(net, components=0)
    with pytest.raises(TypeError, match="components must be an int"):
        bayesian(net, components=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="components must be an int"):
        bayesian(net, components=True)
    with pytest.raises(ValueError, match="prior_std=0"):
        bayesian(net, prior_std=0.0)
    with pytest.raises(ValueError, match="init_std=-1"):
        bayesian(net, init_std=-1.0)
    with pytest.raises(ValueError, match="no Linear or Conv2d layer"):
        bayesian(ns.Sequential(ns.Flatten(), nn.ReLU()))
    with pytest.raises(TypeError, match="neurosim Sequential"):
        bayesian(nn.Linear(2, 2))  # type: ignore[arg-type]
    bnet = bayesian(net, components=2)
    with pytest.raises(TypeError, match="already Bayesian"):
        bayesian(bnet)
    with pytest.raises(ValueError, match="component=2 is out of range"):
        bnet.draw(2)
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        predict(bnet, _x(), samples=0)
    with pytest.raises(TypeError, match="needs a BayesianSequential"):
        predict(net, _x())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_data must be an int >= 1"):
        elbo_loss(bnet, _x(), torch.zeros(5, dtype=torch.long), ce_count, 0)
    with pytest.raises(ns.ShapeError, match=r"BayesLinear\(16→12\) expects input"):
        bnet(torch.rand(2, 3, 1, 5, 5))
