"""Network transforms: each takes a network and returns a new one (never mutating its input).

In-place variants end in ``_``. Submodules: ``quantize`` (MaQD), ``prune`` (spectral
pruning), ``adversarial`` (spectral norm, gradient penalties, DANN, GAN), ``bayes``
(Gaussian-mixture variational layers).
"""
