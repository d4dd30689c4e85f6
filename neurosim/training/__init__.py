"""Training: the fit loop, evaluation and losses."""

from neurosim.training.loop import EvalResult, evaluate, fit, seed_for
from neurosim.training.losses import LOSSES, ce_count, ce_mean, get_loss, mse_count, predict

__all__ = [
    "LOSSES",
    "EvalResult",
    "ce_count",
    "ce_mean",
    "evaluate",
    "fit",
    "get_loss",
    "mse_count",
    "predict",
    "seed_for",
]
