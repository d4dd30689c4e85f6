"""Spectral pruning and its baselines: exact reproduction, brute force, closed forms, errors."""

import itertools

import pytest
import torch
from torch import nn

import neurosim as ns
from neurosim.transforms import (
    degrees_of_freedom,
    magnitude_prune,
    random_prune,
    spectral_prune,
)
from neurosim.transforms.prune import (
    hidden_covariance,
    prune_units,
    reconstruction_matrix,
    select_units,
    spectral_loss,
)

N = 12


def _net(unit: nn.Module, n: int = N, seed: int = 0) -> ns.Sequential:
    torch.manual_seed(seed)
    net = ns.Sequential(ns.Linear(5, n), unit, ns.Linear(n, 3))
    with torch.no_grad():
        net[0].weight.mul_(3.0)  # enough drive for spikes
    return net


def _units() -> dict[str, nn.Module]:
    rlif = ns.RecurrentLIF.from_beta(0.9, n=N, bias=True)
    with torch.no_grad():
        rlif.recurrent.weight.mul_(0.5)
    return {
        "irnn": ns.IRNN(N, scale=0.5),
        "rlif": rlif,
        "lif_per_unit_beta": ns.LIF.from_beta(torch.linspace(0.5, 0.95, N)),
        "relu": nn.ReLU(),
    }


def _wishart(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(3 * n, n, generator=g, dtype=torch.float64)
    return z.T @ z / (3 * n)


@pytest.mark.parametrize("kind", ["irnn", "rlif", "lif_per_unit_beta", "relu"])
def test_keep_all_with_zero_lambda_reproduces_outputs(kind: str) -> None:
    net = _net(_units()[kind])
    x = torch.rand(6, 40, 5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    states = ["output", "membrane"] if isinstance(net[1], ns.Neuron) else ["output"]
    for state in states:
        pruned = spectral_prune(net, 1, keep=N, data=x, lam=0.0, state=state)  # type: ignore[arg-type]
        torch.testing.assert_close(pruned(x), net(x), atol=1e-5, rtol=0)
    for k, v in net.state_dict().items():  # the input network is unchanged
        assert torch.equal(v, before[k])


def test_keep_all_full_rank_reconstruction_is_identity() -> None:
    net = _net(ns.IRNN(N, scale=0.5))
    with torch.no_grad():
        net[0].bias.fill_(20.0)  # every unit active: relu is the identity
        net[1].recurrent.weight.copy_(0.1 * torch.randn(N, N))  # mixes the 5-d input: full rank
    x = torch.rand(6, 200, 5)
    sigma = hidden_covariance(net, 1, x)
    assert torch.linalg.matrix_rank(sigma) == N
    a = reconstruction_matrix(sigma, list(range(N)), 0.0)
    torch.testing.assert_close(a, torch.eye(N, dtype=torch.float64), atol=1e-8, rtol=0)
    new_x = torch.rand(6, 7, 5)  # on new data too, since A_J = I
    pruned = spectral_prune(net, 1, keep=N, data=x, lam=0.0)
    torch.testing.assert_close(pruned(new_x), net(new_x), atol=1e-5, rtol=0)


def test_covariance_by_hand_and_shapes() -> None:
    net = _net(ns.RecurrentLIF.from_beta(0.9, n=N))
    xs = [torch.rand(4, 8, 5), torch.rand(3, 5, 5)]
    for state in ("output", "membrane"):
        sigma = hidden_covariance(net, 1, xs, state=state)  # type: ignore[arg-type]
        hs = []
        for x in xs:
            run = net.run(x, record_membrane=True)
            h = run.membranes[1] if state == "membrane" else run.activity[1].output
            hs.append(h.reshape(-1, N).double())
        h = torch.cat(hs)
        assert sigma.shape == (N, N)
        assert sigma.dtype == torch.float64
        torch.testing.assert_close(sigma, h.T @ h / (4 * 8 + 3 * 5))
    a = reconstruction_matrix(sigma, [0, 3, 7], 0.1)
    assert a.shape == (N, 3)


@pytest.mark.parametrize(("lam", "theta"), [(0.0, 1.0), (0.1, 0.5), (1.0, 0.0)])
def test_first_greedy_pick_is_best_singleton(lam: float, theta: float) -> None:
    sigma = _wishart(7, seed=3)
    w_out = torch.randn(4, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    losses = [spectral_loss(sigma, [j], lam, theta, w_out) for j in range(7)]
    first = int(select_units(sigma, 1, lam, theta, w_out)[0])
    assert first == min(range(7), key=lambda j: losses[j])


@pytest.mark.parametrize(("lam", "theta"), [(0.0, 1.0), (0.2, 0.3)])
def test_greedy_matches_naive_greedy(lam: float, theta: float) -> None:
    # the Schur-update greedy against recomputing the loss for every candidate at every step
    n = 7
    sigma = _wishart(n, seed=5)
    w_out = torch.randn(3, n, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    fast = select_units(sigma, n, lam, theta, w_out).tolist()
    chosen: list[int] = []
    for _ in range(n):
        rest = [j for j in range(n) if j not in chosen]
        chosen.append(
            min(rest, key=lambda j: spectral_loss(sigma, [*chosen, j], lam, theta, w_out))
        )
    assert fast == chosen


def test_greedy_is_optimal_for_independent_units() -> None:
    # diagonal Σ: the loss is a sum over units, so greedy = the brute-force optimum
    var = torch.tensor([0.3, 2.0, 0.05, 1.1, 0.7, 1.6], dtype=torch.float64)
    sigma = torch.diag(var)
    for k, lam in itertools.product(range(1, 6), (0.0, 0.5)):
        greedy = sorted(select_units(sigma, k, lam).tolist())
        best = min(itertools.combinations(range(6), k), key=lambda j: spectral_loss(sigma, j, lam))
        assert greedy == sorted(best)
        # closed form: Σ_{i∉J} σ_i + Σ_{i∈J} σ_i λ/(σ_i+λ)
        inside = var[greedy] * lam / (var[greedy] + lam)
        closed = float(var.sum() - var[greedy].sum() + inside.sum())
        assert spectral_loss(sigma, greedy, lam) == pytest.approx(closed, rel=1e-12)


def test_degrees_of_freedom_closed_form() -> None:
    var = torch.tensor([4.0, 1.0, 0.25, 0.0], dtype=torch.float64)
    lam = 0.5
    expected = float((var / (var + lam)).sum())
    assert degrees_of_freedom(torch.diag(var), lam) == pytest.approx(expected, rel=1e-12)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)).double())
    rotated = q @ torch.diag(var) @ q.T  # invariant under rotation
    assert degrees_of_freedom(rotated, lam) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="lam > 0"):
        degrees_of_freedom(torch.diag(var), 0.0)


def test_pruned_weights_follow_the_formulas() -> None:
    net = _net(ns.IRNN(N, scale=0.5))
    x = torch.rand(5, 30, 5)
    lam, theta = 0.05, 0.5
    sigma = hidden_covariance(net, 1, x)
    j = select_units(sigma, 4, lam, theta, net[2].weight).sort().values
    a = reconstruction_matrix(sigma, j, lam)
    p = spectral_prune(net, 1, keep=4, data=x, lam=lam, theta=theta)
    f32 = torch.float32
    torch.testing.assert_close(p[0].weight, net[0].weight[j])
    torch.testing.assert_close(p[0].bias, net[0].bias[j])
    torch.testing.assert_close(
        p[1].recurrent.weight, (net[1].recurrent.weight.double()[j] @ a).to(f32)
    )
    torch.testing.assert_close(p[1].recurrent.bias, net[1].recurrent.bias[j])
    torch.testing.assert_close(p[2].weight, (net[2].weight.double() @ a).to(f32))
    torch.testing.assert_close(p[2].bias, net[2].bias)
    assert p[1].n == 4
    assert p(x).shape == (5, 30, 3)


def test_magnitude_and_random_baselines() -> None:
    net = _net(ns.IRNN(N))
    with torch.no_grad():
        net[1].recurrent.weight.copy_(torch.eye(N))
        net[2].weight.copy_(torch.arange(N, dtype=torch.float32).repeat(3, 1))  # column j: j
    p = magnitude_prune(net, 1, keep=3)
    torch.testing.assert_close(p[2].weight, net[2].weight[:, [9, 10, 11]])
    torch.testing.assert_close(p[0].weight, net[0].weight[[9, 10, 11]])
    torch.testing.assert_close(p[1].recurrent.weight, torch.eye(3))
    r1, r2 = random_prune(net, 1, keep=0.5, seed=1), random_prune(net, 1, keep=0.5, seed=1)
    assert r1[1].n == 6
    torch.testing.assert_close(r1[2].weight, r2[2].weight)
    kept = r1[2].weight[0].long().tolist()  # column values name the kept units
    assert kept == sorted(kept)
    assert len(set(kept)) == 6


def test_pruned_network_trains() -> None:
    net = _net(ns.RecurrentLIF.from_beta(0.9, n=N))
    x = torch.rand(5, 16, 5)
    p = spectral_prune(net, 1, keep=0.5, data=x)
    p(x).sum().backward()
    assert p[1].recurrent.weight.grad is not None
    assert p[0].weight.grad is not None


def test_energy_sees_the_smaller_layer() -> None:
    net = _net(ns.RecurrentLIF.from_beta(0.9, n=N))
    x = torch.rand(6, 8, 5)
    k, steps = 5, 6
    pruned = spectral_prune(net, 1, keep=k, data=x)
    for model, n in ((net, N), (pruned, k)):
        counts = {
            layer.name: layer.counts for layer in ns.energy.estimate(model, x, "loihi").per_layer
        }
        assert counts["1.RecurrentLIF"]["updates"] == n * steps
        assert counts["1.RecurrentLIF"]["dense_macs"] == n * n * (steps - 1)
        assert counts["0.Linear"]["dense_macs"] == 5 * n * steps
        assert counts["2.Linear"]["dense_macs"] == n * 3 * steps
    before = ns.energy.estimate(net, x, "loihi").per_layer[1].terms_pj["neuron"]
    after = ns.energy.estimate(pruned, x, "loihi").per_layer[1].terms_pj["neuron"]
    assert after < before


def test_bad_input() -> None:
    net = _net(ns.IRNN(N))
    x = torch.rand(4, 6, 5)
    with pytest.raises(ValueError, match=f"keep={N + 1} units .* layer 1: expected 1..{N}"):
        spectral_prune(net, 1, keep=N + 1, data=x)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="keep"):
            magnitude_prune(net, 1, keep=bad)
    for frac in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            random_prune(net, 1, keep=frac)
    with pytest.raises(TypeError, match="keep"):
        random_prune(net, 1, keep=True)
    with pytest.raises(ValueError, match=r"layer index 3 is out of range .* 3 layers"):
        spectral_prune(net, 3, keep=2, data=x)
    with pytest.raises(ValueError, match="layer index -1"):
        magnitude_prune(net, -1, keep=2)
    with pytest.raises(TypeError, match=r"layer 0 \(Linear\) has no hidden units"):
        spectral_prune(net, 0, keep=2, data=x)
    with pytest.raises(ValueError, match="Linear just before it"):
        spectral_prune(ns.Sequential(ns.Linear(5, N), ns.IRNN(N)), 1, keep=2, data=x)
    with pytest.raises(ValueError, match="needs a spiking layer"):
        spectral_prune(net, 1, keep=2, data=x, state="membrane")
    with pytest.raises(ValueError, match="state='hidden'"):
        spectral_prune(net, 1, keep=2, data=x, state="hidden")  # type: ignore[arg-type]
    odd = ns.Sequential(ns.Linear(5, N), ns.IRNN(N - 1), ns.Linear(N, 3))
    with pytest.raises(ValueError, match=f"the layer has {N - 1}"):
        magnitude_prune(odd, 1, keep=2)
    with pytest.raises(ValueError, match="theta"):
        spectral_prune(net, 1, keep=2, data=x, theta=1.5)
    with pytest.raises(ValueError, match="lam"):
        spectral_prune(net, 1, keep=2, data=x, lam=-1.0)
    with pytest.raises(ValueError, match="data is empty"):
        spectral_prune(net, 1, keep=2, data=[])
    with pytest.raises(ValueError, match="distinct indices"):
        prune_units(net, 1, [0, 0])
    with pytest.raises(TypeError, match="Sequential"):
        magnitude_prune(nn.Linear(2, 2), 0, keep=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="integer unit indices"):
        prune_units(net, 1, [0.5, 1.7])  # type: ignore[list-item]  (was truncated to [0, 1])
    with pytest.raises(TypeError, match="reconstruction must be a Tensor"):
        prune_units(net, 1, [0, 1], [[1.0, 0.0]] * N)  # type: ignore[arg-type]


def test_per_unit_neuron_parameters_follow_the_kept_units() -> None:
    beta, v_th = torch.linspace(0.5, 0.95, N), torch.linspace(0.5, 1.6, N)
    for unit in (
        ns.LIF.from_beta(beta, v_th=v_th),
        ns.RecurrentLIF.from_beta(beta, n=N, v_th=v_th, learn_beta=True),
    ):
        net = _net(unit)
        kept = [1, 6, 10]
        norms = torch.ones(N)
        norms[kept] = torch.tensor([3.0, 5.0, 4.0])
        with torch.no_grad():  # W_o column j has norm ∝ norms[j]: magnitude keeps 1, 6, 10
            net[2].weight.copy_(norms.repeat(3, 1))
            if isinstance(unit, ns.RecurrentLIF):
                net[1].recurrent.weight.zero_()
        p = magnitude_prune(net, 1, keep=3)
        torch.testing.assert_close(p[1].beta.detach(), beta[kept])
        torch.testing.assert_close(p[1].v_th, v_th[kept])
        assert p[1].beta.requires_grad == net[1].beta.requires_grad
        x = torch.rand(4, 2, 5)
        want = ns.Sequential(  # the same network built at the kept size from the start
            ns.Linear(5, 3),
            type(unit).from_beta(
                beta[kept],
                v_th=v_th[kept],
                **({"n": 3} if isinstance(unit, ns.RecurrentLIF) else {}),
            ),
            ns.Linear(3, 3),
        )
        with torch.no_grad():
            want[0].weight.copy_(net[0].weight[kept])
            want[0].bias.copy_(net[0].bias[kept])
            want[2].weight.copy_(net[2].weight[:, kept])
            want[2].bias.copy_(net[2].bias)
            if isinstance(unit, ns.RecurrentLIF):
                want[1].recurrent.weight.zero_()
        assert p.run(x).activity[1].output.sum() > 0  # the kept units do spike
        torch.testing.assert_close(p(x), want(x))
