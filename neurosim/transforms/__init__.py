"""Network transforms: each takes a network and returns a new one (never mutating its input).

In-place variants end in ``_``. Submodules: ``quantize`` (MaQD), ``prune`` (spectral
pruning), ``adversarial`` (spectral norm, gradient penalties, DANN, GAN), ``bayes``
(Gaussian-mixture variational layers).
"""

from neurosim.transforms.bayes import bayesian
from neurosim.transforms.prune import (
    degrees_of_freedom,
    magnitude_prune,
    random_prune,
    spectral_prune,
)

__all__ = [
    "bayesian",
    "degrees_of_freedom",
    "magnitude_prune",
    "random_prune",
    "spectral_prune",
]
