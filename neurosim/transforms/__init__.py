"""Network transforms: each takes a network and returns a new one (never mutating its input).

In-place variants end in ``_``. Submodules: ``quantize`` (MaQD), ``prune`` (spectral
pruning), ``adversarial`` (spectral norm, gradient penalties, DANN, GAN), ``bayes``
(Gaussian-mixture variational layers).
"""

from neurosim.transforms.prune import (
    degrees_of_freedom,
    magnitude_prune,
    random_prune,
    spectral_prune,
)

__all__ = [
    "degrees_of_freedom",
    "magnitude_prune",
    "random_prune",
    "spectral_prune",
]

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

__all__ = [
    "GradientReversal",
    "OverTime",
    "grad_reverse",
    "gradient_penalty",
    "r1_penalty",
    "remove_spectral_norm",
    "spectral_norm",
    "spectral_norm_",
    "top_singular_values",
]
