"""Mixture-entropy approximation and bounds against quadrature, closed forms and scipy."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import neurosim as ns
from neurosim.bayes import (
    bhattacharyya_bound,
    bhattacharyya_coefficients,
    entropy_approx,
    entropy_lower_bound,
    entropy_mc,
    gaussian_entropies,
)

D64 = torch.float64


def _quad_entropy_1d(w: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> float:
    """Exact 1-D mixture entropy by the trapezoid rule on a fine grid (float64)."""
    lo, hi = (mu - 12 * sd).min(), (mu + 12 * sd).max()
    x = np.linspace(lo, hi, 200_001)
    q = (w[:, None] * stats.norm.pdf(x[None, :], mu[:, None], sd[:, None])).sum(0)
    integrand = np.where(q > 0, -q * np.log(np.where(q > 0, q, 1.0)), 0.0)
    return float(np.trapezoid(integrand, x))


def _mixture_1d(w: list[float], mu: list[float], sd: list[float]) -> tuple[torch.Tensor, ...]:
    wt = torch.tensor(w, dtype=D64)
    return (
        wt / wt.sum(),
        torch.tensor(mu, dtype=D64)[:, None],
        torch.tensor(sd, dtype=D64)[:, None] ** 2,
    )


mixtures_1d = st.integers(1, 4).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k),
        st.lists(st.floats(-4.0, 4.0), min_size=k, max_size=k),
        st.lists(st.floats(0.2, 2.5), min_size=k, max_size=k),
    )
)


@settings(max_examples=40, deadline=None)
@given(mixtures_1d)
def test_bounds_hold_against_quadrature_in_1d(m: tuple[list[float], ...]) -> None:
    w, mu, cov = _mixture_1d(*m)
    exact = _quad_entropy_1d(w.numpy(), mu[:, 0].numpy(), cov[:, 0].sqrt().numpy())
    lower = float(entropy_lower_bound(w, mu, cov))
    approx = float(entropy_approx(w, mu, cov))
    bound = float(bhattacharyya_bound(w, mu, cov))
    assert lower <= exact + 1e-6
    assert exact <= approx + 1e-6
    assert approx - exact <= bound + 1e-6


def test_mc_matches_quadrature_within_its_standard_error() -> None:
    w, mu, cov = _mixture_1d([0.2, 0.5, 0.3], [-1.0, 0.5, 2.0], [0.7, 1.0, 0.4])
    exact = _quad_entropy_1d(w.numpy(), mu[:, 0].numpy(), cov[:, 0].sqrt().numpy())
    for cv in (True, False):
        est = entropy_mc(w, mu, cov, 20_000, torch.Generator().manual_seed(1), control_variate=cv)
        assert 0 < float(est.stderr) < 0.02
        assert abs(float(est.entropy) - exact) < 4 * float(est.stderr)


def _random_mixture(k: int, d: int, seed: int, spread: float) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(k, generator=g, dtype=D64) + 0.1
    a = torch.randn(k, d, d, generator=g, dtype=D64) / math.sqrt(d)
    covs = a @ a.transpose(-1, -2) + 0.3 * torch.eye(d, dtype=D64)
    return w / w.sum(), spread * torch.randn(k, d, generator=g, dtype=D64), covs


@pytest.mark.parametrize("seed", range(6))
def test_bounds_hold_in_several_dimensions_with_mc(seed: int) -> None:
    w, mu, cov = _random_mixture(k=3, d=4, seed=seed, spread=0.8)
    est = entropy_mc(w, mu, cov, 20_000, torch.Generator().manual_seed(seed))
    h, tol = float(est.entropy), 5 * float(est.stderr) + 1e-9
    approx = float(entropy_approx(w, mu, cov))
    assert float(entropy_lower_bound(w, mu, cov)) <= h + tol
    assert h <= approx + tol
    assert approx - h <= float(bhattacharyya_bound(w, mu, cov)) + tol


def test_single_component_is_exact_and_matches_scipy() -> None:
    _, mu, cov = _random_mixture(k=1, d=5, seed=3, spread=1.0)
    w = torch.ones(1, dtype=D64)
    want = stats.multivariate_normal(mu[0].numpy(), cov[0].numpy()).entropy()
    assert float(entropy_approx(w, mu, cov)) == pytest.approx(want, rel=1e-12)
    assert float(entropy_lower_bound(w, mu, cov)) == pytest.approx(want, rel=1e-12)
    assert float(bhattacharyya_bound(w, mu, cov)) == 0.0
    est = entropy_mc(w, mu, cov, 1000, torch.Generator().manual_seed(0))
    assert float(est.entropy) == pytest.approx(want, rel=1e-12)  # control variate: exact


def test_diagonal_and_full_covariances_agree_and_match_closed_form() -> None:
    w = torch.tensor([0.25, 0.75], dtype=D64)
    mu = torch.tensor([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]], dtype=D64)
    var = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.3, 0.7]], dtype=D64)
    full = torch.diag_embed(var)
    h = 1.5 * math.log(2 * math.pi * math.e) + 0.5 * var.log().sum(1)
    assert torch.allclose(gaussian_entropies(w, mu, var), h)
    want = float((w * h).sum() - (w * w.log()).sum())
    assert float(entropy_approx(w, mu, var)) == pytest.approx(want, rel=1e-12)
    assert float(entropy_approx(w, mu, full)) == pytest.approx(want, rel=1e-12)
    assert float(bhattacharyya_bound(w, mu, var)) == pytest.approx(
        float(bhattacharyya_bound(w, mu, full)), rel=1e-12
    )
    diag_mc = entropy_mc(w, mu, var, 500, torch.Generator().manual_seed(2))
    full_mc = entropy_mc(w, mu, full, 500, torch.Generator().manual_seed(2))
    assert float(diag_mc.entropy) == pytest.approx(float(full_mc.entropy), rel=1e-12)


def test_bhattacharyya_coefficient_matches_quadrature() -> None:
    w, mu, cov = _mixture_1d([0.5, 0.5], [-0.3, 1.1], [0.6, 1.4])
    bc = bhattacharyya_coefficients(w, mu, cov)
    x = np.linspace(-15, 15, 200_001)
    p = stats.norm.pdf(x, -0.3, 0.6)
    q = stats.norm.pdf(x, 1.1, 1.4)
    assert float(bc[0, 1]) == pytest.approx(float(np.trapezoid(np.sqrt(p * q), x)), rel=1e-8)
    assert float(bc[0, 0]) == pytest.approx(1.0, rel=1e-12)


def test_gap_vanishes_as_components_separate() -> None:
    gaps = []
    for sep in (0.0, 1.0, 3.0, 6.0, 12.0):
        w, mu, cov = _mixture_1d([0.4, 0.6], [0.0, sep], [1.0, 1.0])
        exact = _quad_entropy_1d(w.numpy(), mu[:, 0].numpy(), cov[:, 0].sqrt().numpy())
        gaps.append(float(entropy_approx(w, mu, cov)) - exact)
    assert gaps[0] == pytest.approx(-(0.4 * math.log(0.4) + 0.6 * math.log(0.6)), abs=1e-6)
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-6


def test_public_path() -> None:
    assert ns.bayes.entropy_approx is entropy_approx


def test_bad_mixtures_raise_clear_errors() -> None:
    mu = torch.zeros(2, 2, dtype=D64)
    cov = torch.ones(2, 2, dtype=D64)
    w = torch.tensor([0.5, 0.5], dtype=D64)
    with pytest.raises(ValueError, match="K >= 1"):
        entropy_approx(torch.zeros(0, dtype=D64), mu[:0], cov[:0])
    with pytest.raises(ValueError, match="sum to 1"):
        entropy_approx(torch.tensor([0.5, 0.6], dtype=D64), mu, cov)
    with pytest.raises(ValueError, match=">= 0"):
        entropy_approx(torch.tensor([1.5, -0.5], dtype=D64), mu, cov)
    bad = torch.stack([torch.eye(2), torch.tensor([[1.0, 2.0], [2.0, 1.0]])]).to(D64)
    with pytest.raises(ValueError, match=r"covs\[1\] is not positive definite"):
        entropy_approx(w, mu, bad)
    with pytest.raises(ValueError, match=r"covs\[0\] has a non-positive variance"):
        entropy_approx(w, mu, torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=D64))
    with pytest.raises(ValueError, match="symmetric"):
        entropy_approx(w, mu, torch.tensor([[[1.0, 0.5], [0.0, 1.0]]] * 2, dtype=D64))
    with pytest.raises(ValueError, match=r"means must have shape \[K, d\] = \[2, d\]"):
        entropy_approx(w, torch.zeros(3, 2, dtype=D64), cov)
    with pytest.raises(ValueError, match=r"covs must have shape"):
        entropy_approx(w, mu, torch.ones(2, 3, dtype=D64))
    with pytest.raises(TypeError, match=r"weights must be a torch\.Tensor"):
        entropy_approx([0.5, 0.5], mu, cov)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="samples must be an int >= 2"):
        entropy_mc(w, mu, cov, samples=1)
