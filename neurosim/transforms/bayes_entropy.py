"""Entropy of Gaussian mixtures: the approximation of methods.md §5, its bounds, and a
Monte-Carlo reference.

A mixture ``q(x) = Σ_i w_i N(x; μ_i, Σ_i)`` in ``d`` dimensions has no closed-form entropy.
Furuya et al. (arXiv 2202.13059) approximate it by

    H̃ = Σ_i w_i [(d/2)·log(2πe) + ½·log det Σ_i] − Σ_i w_i log w_i

(weighted component entropies plus the mixing entropy). With ``H(N_i)`` the component
entropies and ``BC_ij = ∫ √(N_i N_j)`` the Bhattacharyya coefficients,

    Σ_i w_i H(N_i) ≤ H(q) ≤ H̃   and   H̃ − H(q) ≤ Σ_{i≠j} √(w_i w_j)·BC_ij,

because ``H̃ − H = Σ_i w_i E_{N_i}[log(1 + Σ_{j≠i} w_j N_j / (w_i N_i))]`` and
``log(1 + u) ≤ √u``, ``√(Σ a) ≤ Σ √a``. The gap vanishes as the components separate
(``BC_ij → 0``). The form of ``H̃`` is a reconstruction (methods.md "R"); the bounds are
derived here and checked numerically by the tests. Entropies are in nats.

Arguments everywhere: ``weights [K]`` (non-negative, summing to 1), ``means [K, d]``,
``covs`` either ``[K, d]`` (diagonal variances) or ``[K, d, d]`` (full, symmetric positive
definite).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "MCEntropy",
    "bhattacharyya_bound",
    "bhattacharyya_coefficients",
    "entropy_approx",
    "entropy_lower_bound",
    "entropy_mc",
    "gaussian_entropies",
]

_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


class MCEntropy(NamedTuple):
    """A Monte-Carlo entropy estimate (nats) and its standard error (nats)."""

    entropy: Tensor
    stderr: Tensor


def _check_mixture(weights: Tensor, means: Tensor, covs: Tensor, where: str) -> Tensor:
    """Validate a mixture; return the Cholesky factors ``[K, d, d]`` of its covariances."""
    for name, t in (("weights", weights), ("means", means), ("covs", covs)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{where}: {name} must be a floating tensor, got dtype {t.dtype}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{where}: {name} contains non-finite values")
    if weights.dim() != 1 or weights.numel() < 1:
        raise ValueError(
            f"{where}: weights must have shape [K] with K >= 1, got {list(weights.shape)}"
        )
    k = weights.shape[0]
    if means.dim() != 2 or means.shape[0] != k or means.shape[1] < 1:
        raise ValueError(
            f"{where}: means must have shape [K, d] = [{k}, d] with d >= 1, got {list(means.shape)}"
        )
    d = means.shape[1]
    if (weights < 0).any():
        raise ValueError(f"{where}: weights must be >= 0, got {weights.detach().tolist()}")
    total = float(weights.detach().sum())
    tol = 1e-9 if weights.dtype == torch.float64 else 1e-5
    if abs(total - 1.0) > tol:
        raise ValueError(f"{where}: weights must sum to 1, got sum {total!r}")
    if covs.shape == (k, d):
        if (covs <= 0).any():
            bad = int((covs <= 0).any(dim=1).nonzero()[0])
            raise ValueError(
                f"{where}: covs[{bad}] has a non-positive variance; diagonal covariances "
                "must be > 0"
            )
        return torch.diag_embed(covs.sqrt())
    if covs.shape != (k, d, d):
        raise ValueError(
            f"{where}: covs must have shape [K, d] = [{k}, {d}] (diagonal variances) or "
            f"[K, d, d] = [{k}, {d}, {d}], got {list(covs.shape)}"
        )
    if not torch.allclose(covs, covs.transpose(-1, -2), rtol=1e-6, atol=1e-9):
        raise ValueError(f"{where}: covs must be symmetric")
    chol, info = torch.linalg.cholesky_ex(covs)
    if (info != 0).any():
        bad = int((info != 0).nonzero()[0])
        raise ValueError(f"{where}: covs[{bad}] is not positive definite")
    return chol


def _logdet(chol: Tensor) -> Tensor:
    return 2.0 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def _component_entropies(chol: Tensor) -> Tensor:
    d = chol.shape[-1]
    return 0.5 * d * _LOG_2PI_E + 0.5 * _logdet(chol)


def gaussian_entropies(weights: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """Entropy of every component, ``H(N_i) = (d/2)·log(2πe) + ½·log det Σ_i`` ``[K]``."""
    return _component_entropies(_check_mixture(weights, means, covs, "gaussian_entropies"))


def _mixing_entropy(weights: Tensor) -> Tensor:
    return -torch.xlogy(weights, weights).sum()


def entropy_approx(weights: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """``H̃ = Σ_i w_i H(N_i) − Σ_i w_i log w_i`` (nats, scalar); an upper bound on H(q)."""
    chol = _check_mixture(weights, means, covs, "entropy_approx")
    return (weights * _component_entropies(chol)).sum() + _mixing_entropy(weights)


def entropy_lower_bound(weights: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """``Σ_i w_i H(N_i)`` (nats, scalar); a lower bound on H(q) (concavity of entropy)."""
    chol = _check_mixture(weights, means, covs, "entropy_lower_bound")
    return (weights * _component_entropies(chol)).sum()


def bhattacharyya_coefficients(weights: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """``BC_ij = exp(−D_B(N_i, N_j))`` ``[K, K]`` with the Gaussian Bhattacharyya distance
    ``D_B = ⅛ Δμᵀ Σ̄⁻¹ Δμ + ½ log(det Σ̄ / √(det Σ_i det Σ_j))``, ``Σ̄ = (Σ_i + Σ_j)/2``."""
    chol = _check_mixture(weights, means, covs, "bhattacharyya_coefficients")
    return _bc(means, chol)


def _bc(means: Tensor, chol: Tensor) -> Tensor:
    cov = chol @ chol.transpose(-1, -2)
    avg = 0.5 * (cov.unsqueeze(1) + cov.unsqueeze(0))  # [K, K, d, d]
    avg_chol = torch.linalg.cholesky(avg)
    diff = (means.unsqueeze(1) - means.unsqueeze(0)).unsqueeze(-1)  # [K, K, d, 1]
    z = torch.linalg.solve_triangular(avg_chol, diff, upper=False)
    maha = z.square().sum((-1, -2))
    ld = _logdet(chol)
    dist = maha / 8.0 + 0.5 * (_logdet(avg_chol) - 0.5 * (ld.unsqueeze(1) + ld.unsqueeze(0)))
    return torch.exp(-dist)


def bhattacharyya_bound(weights: Tensor, means: Tensor, covs: Tensor) -> Tensor:
    """``Σ_{i≠j} √(w_i w_j)·BC_ij`` (nats, scalar): an upper bound on ``H̃ − H(q)``."""
    chol = _check_mixture(weights, means, covs, "bhattacharyya_bound")
    bc = _bc(means, chol)
    sw = weights.sqrt()
    pair = sw.unsqueeze(1) * sw.unsqueeze(0) * bc
    return pair.sum() - pair.diagonal().sum()


def _log_q(x: Tensor, log_w: Tensor, means: Tensor, chol: Tensor) -> tuple[Tensor, Tensor]:
    """``[N, d] → [N]`` log mixture density, and ``[N, K]`` log component densities."""
    d = means.shape[1]
    diff = x.unsqueeze(1) - means.unsqueeze(0)  # [N, K, d]
    diag = chol.diagonal(dim1=-2, dim2=-1)  # [K, d]
    if torch.equal(chol, torch.diag_embed(diag)):  # diagonal covariances: elementwise
        z2 = (diff / diag).square().sum(-1)
    else:
        z = torch.linalg.solve_triangular(chol.unsqueeze(0), diff.unsqueeze(-1), upper=False)
        z2 = z.square().sum((-1, -2))
    log_n = -0.5 * (z2 + d * math.log(2 * math.pi) + _logdet(chol))
    return torch.logsumexp(log_w + log_n, dim=1), log_n


def entropy_mc(
    weights: Tensor,
    means: Tensor,
    covs: Tensor,
    samples: int = 10_000,
    generator: torch.Generator | None = None,
    control_variate: bool = True,
) -> MCEntropy:
    """Monte-Carlo estimate of ``H(q) = −E_q[log q]`` and its standard error (nats).

    Stratified over components: ``samples`` draws from each ``N_i``, combined as
    ``Σ_i w_i·mean(−log q(x))``. With ``control_variate`` the per-sample term becomes
    ``−log q(x) + log N_i(x) + H(N_i)`` (same mean, since ``E_{N_i}[−log N_i] = H(N_i)``
    exactly), which removes the ``d/2``-sized variance of ``log N_i`` and leaves the
    variance of the overlap term only. Both are unbiased; ``stderr`` is
    ``√(Σ_i w_i² var_i / samples)``.
    """
    chol = _check_mixture(weights, means, covs, "entropy_mc")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ValueError(f"entropy_mc: samples must be an int >= 2, got {samples!r}")
    k, d = means.shape
    log_w = torch.log(weights)
    h_i = _component_entropies(chol)
    est = var = torch.zeros((), dtype=means.dtype, device=means.device)
    for i in range(k):
        if float(weights[i].detach()) == 0.0:
            continue
        dev = means.device if generator is None else generator.device
        eps = torch.randn(samples, d, 1, dtype=means.dtype, generator=generator, device=dev)
        eps = eps.to(means.device)
        x = means[i] + (chol[i] @ eps).squeeze(-1)
        log_q, log_n = _log_q(x, log_w, means, chol)
        term = -log_q + (log_n[:, i] + h_i[i] if control_variate else 0.0)
        est = est + weights[i] * term.mean()
        var = var + weights[i] ** 2 * term.var() / samples
    return MCEntropy(est, var.sqrt())
