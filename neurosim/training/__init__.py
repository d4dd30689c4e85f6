"""Training: the fit loop, evaluation, losses, config-driven jobs and sweeps."""

from neurosim.training.loop import EvalResult, evaluate, fit, seed_for
from neurosim.training.losses import LOSSES, ce_count, ce_mean, get_loss, mse_count, predict
from neurosim.training.sweep import SweepConfig, run_sweep

__all__ = [
    "LOSSES",
    "EvalResult",
    "SweepConfig",
    "ce_count",
    "ce_mean",
    "evaluate",
    "fit",
    "get_loss",
    "mse_count",
    "predict",
    "run_sweep",
    "seed_for",
]
