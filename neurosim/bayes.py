"""Gaussian-mixture variational inference: ``ns.bayes`` gathers the public names of
``neurosim.transforms.bayes`` (variational layers, ELBO, predictive uncertainty) and
``neurosim.transforms.bayes_entropy`` (the mixture-entropy approximation and its bounds)."""

from neurosim.transforms.bayes import (
    BayesConv2d,
    BayesianSequential,
    BayesLinear,
    Draw,
    ElboTerms,
    Prediction,
    bayesian,
    elbo_loss,
    gaussian_mixture_kl,
    predict,
)
from neurosim.transforms.bayes_entropy import (
    MCEntropy,
    bhattacharyya_bound,
    bhattacharyya_coefficients,
    entropy_approx,
    entropy_lower_bound,
    entropy_mc,
    gaussian_entropies,
)

__all__ = [
    "BayesConv2d",
    "BayesLinear",
    "BayesianSequential",
    "Draw",
    "ElboTerms",
    "MCEntropy",
    "Prediction",
    "bayesian",
    "bhattacharyya_bound",
    "bhattacharyya_coefficients",
    "elbo_loss",
    "entropy_approx",
    "entropy_lower_bound",
    "entropy_mc",
    "gaussian_entropies",
    "gaussian_mixture_kl",
    "predict",
]
