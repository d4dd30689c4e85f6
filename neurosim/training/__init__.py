"""Training: the fit loop, evaluation, losses, sweeps, and GAN / domain-adversarial trainers."""

from neurosim.training.adversarial import DANN, fit_dann, fit_gan
from neurosim.training.loop import EvalResult, evaluate, fit, seed_for
from neurosim.training.losses import LOSSES, ce_count, ce_mean, get_loss, mse_count, predict
from neurosim.training.sweep import SweepConfig, run_sweep

__all__ = [
    "DANN",
    "LOSSES",
    "EvalResult",
    "SweepConfig",
    "ce_count",
    "ce_mean",
    "evaluate",
    "fit",
    "fit_dann",
    "fit_gan",
    "get_loss",
    "mse_count",
    "predict",
    "run_sweep",
    "seed_for",
]
