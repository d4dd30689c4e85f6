"""Network transforms: each takes a network and returns a new one (never mutating its input).

In-place variants end in ``_``; ``compose(t1, t2, ...)`` chains transforms. Submodules:
``quantize`` (MaQD), ``prune`` (spectral pruning), ``adversarial`` (spectral norm, gradient
penalties, DANN, GAN), ``bayes`` (Gaussian-mixture variational layers).
"""

from neurosim.transforms.adversarial import (
    GradientReversal,
    OverTime,
    grad_reverse,
    gradient_penalty,
    r1_penalty,
    remove_spectral_norm,
    spectral_norm,
    spectral_norm_,
    top_singular_values,
)
from neurosim.transforms.bayes import bayesian
from neurosim.transforms.compose import Transform, compose
from neurosim.transforms.lbn import LayerBatchNorm, fold, fold_
from neurosim.transforms.prune import (
    degrees_of_freedom,
    magnitude_prune,
    random_prune,
    spectral_prune,
)
from neurosim.transforms.quantize import QuantAct, quantize

__all__ = [
    "GradientReversal",
    "LayerBatchNorm",
    "OverTime",
    "QuantAct",
    "Transform",
    "bayesian",
    "compose",
    "degrees_of_freedom",
    "fold",
    "fold_",
    "grad_reverse",
    "gradient_penalty",
    "magnitude_prune",
    "quantize",
    "r1_penalty",
    "random_prune",
    "remove_spectral_norm",
    "spectral_norm",
    "spectral_norm_",
    "spectral_prune",
    "top_singular_values",
]
