"""Gaussian-mixture variational inference over a network's weights (methods.md §5).

``bayesian(net, components=K)`` returns a new ``BayesianSequential`` in which every
``Linear`` and ``Conv2d`` layer holds, per component ``k``, a diagonal Gaussian over its
weights and bias (means ``μ_k``, standard deviations ``σ_k = softplus(ρ_k)``), and the
network holds one set of mixing logits shared by all layers. The variational posterior is
one mixture over the whole parameter vector ``w`` (``D`` numbers):

    q(w) = Σ_k π_k N(w; μ_k, diag σ_k²),   π = softmax(logits).

Sampling (reparameterised): a forward pass draws one component ``k`` (from ``π`` unless
given) and one ``w = μ_k + σ_k ⊙ ε``, ``ε ~ N(0, I)``, used by every layer for all ``T``
steps and all samples of the batch (a lifted layer sees the whole ``[T, B, ...]`` sequence
in one call, so a spiking network keeps the same weights over a sequence).

ELBO (``elbo_loss``): the expected log-likelihood is taken exactly over the component,
``E_q[log p(D|w)] = Σ_k π_k E_{N_k}[log p(D|w)]`` — one reparameterised forward pass per
component — so the logits get exact gradients (no relaxation, no score function); the
Gaussian part is the usual one-sample reparameterisation. The KL term uses the entropy
approximation of methods.md §5 (an upper bound on the mixture entropy, see
``bayes_entropy``) and the closed-form cross-entropy to the prior ``N(0, s² I)``:

    KL̃ = −H̃(q) − E_q[log p(w)],
    H̃ = Σ_k π_k [(D/2)·log(2πe) + Σ_j log σ_kj] − Σ_k π_k log π_k,
    E_q[log p(w)] = Σ_k π_k Σ_j [−½ log(2π s²) − (μ_kj² + σ_kj²) / (2 s²)].

For K = 1 this is the exact KL between diagonal Gaussians. Since ``H̃ ≥ H``, ``KL̃ ≤ KL``.
The recurrent weights inside ``RecurrentLIF`` stay deterministic. Only the paper's abstract
was available: the form of ``H̃``, the mixture over the whole weight vector and the exact
expectation over components are neurosim's reconstruction (methods.md §5, "R").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurosim.core.layers import Conv2d, Linear, ShapeError, _check_image, _fold, _shape
from neurosim.core.network import Run, Sequential

__all__ = [
    "BayesConv2d",
    "BayesLinear",
    "BayesianSequential",
    "Draw",
    "ElboTerms",
    "Prediction",
    "bayesian",
    "elbo_loss",
    "gaussian_mixture_kl",
    "predict",
]

_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


def _inv_softplus(std: float) -> float:
    return std + math.log(-math.expm1(-std))


def _rng_device(generator: torch.Generator | None, default: torch.device) -> torch.device:
    """Random numbers are drawn on the generator's device (then moved), else on ``default``."""
    return default if generator is None else generator.device


class _Mixture:
    """Per-component Gaussian parameters of one synaptic layer (mixin for the layers).

    Inside a ``BayesianSequential`` run the layer uses the network's draw; called on its own
    it draws a component from ``π`` and one weight sample per call."""

    mu_weight: nn.Parameter
    rho_weight: nn.Parameter
    mu_bias: nn.Parameter | None
    rho_bias: nn.Parameter | None
    logits: nn.Parameter
    _drawn: tuple[Tensor, Tensor | None] | None

    @property
    def weight(self) -> Tensor:
        """The drawn weight inside a run, else the mixture mean (what the energy counter reads)."""
        if self._drawn is not None:
            return self._drawn[0]
        return self._mean(self.mu_weight)  # type: ignore[return-value]

    @property
    def bias(self) -> Tensor | None:
        return self._drawn[1] if self._drawn is not None else self._mean(self.mu_bias)

    def _init_mixture(
        self,
        weight: Tensor,
        bias: Tensor | None,
        logits: nn.Parameter,
        init_std: float,
        jitter: float,
        generator: torch.Generator | None,
    ) -> None:
        k = logits.shape[0]

        def means(p: Tensor) -> nn.Parameter:
            base = p.detach().unsqueeze(0).expand(k, *p.shape)
            dev = _rng_device(generator, p.device)
            noise = torch.randn(base.shape, generator=generator, dtype=p.dtype, device=dev)
            noise = noise.to(p.device)
            return nn.Parameter(base + jitter * noise)

        def rhos(p: Tensor) -> nn.Parameter:
            return nn.Parameter(
                torch.full((k, *p.shape), _inv_softplus(init_std), dtype=p.dtype, device=p.device)
            )

        self.mu_weight, self.rho_weight = means(weight), rhos(weight)
        self.mu_bias = means(bias) if bias is not None else None
        self.rho_bias = rhos(bias) if bias is not None else None
        self.logits = logits  # the network's shared mixing logits (same Parameter object)
        self._drawn = None
        # a call outside a BayesianSequential draws its own weights: a sequence cut into
        # chunks would see several samples, so Sequential.forward must not stream it
        self.time_local = False

    def means_and_stds(self) -> Iterator[tuple[Tensor, Tensor]]:
        """``(μ [K, ...], σ [K, ...])`` for the weight, then the bias if there is one."""
        yield self.mu_weight, F.softplus(self.rho_weight)
        if self.mu_bias is not None and self.rho_bias is not None:
            yield self.mu_bias, F.softplus(self.rho_bias)

    def draw(
        self, component: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """One reparameterised sample ``μ_k + σ_k ⊙ ε`` of (weight, bias) from component k."""
        out: list[Tensor] = []
        for mu, std in self.means_and_stds():
            dev = _rng_device(generator, mu.device)
            eps = torch.randn(mu.shape[1:], generator=generator, dtype=mu.dtype, device=dev)
            out.append(mu[component] + std[component] * eps.to(mu.device))
        return out[0], (out[1] if len(out) > 1 else None)

    def _params(self) -> tuple[Tensor, Tensor | None]:
        if self._drawn is not None:
            return self._drawn
        k = int(torch.multinomial(torch.softmax(self.logits.detach(), 0), 1))
        return self.draw(k)  # used on its own, outside a BayesianSequential

    def _mean(self, mu: Tensor | None) -> Tensor | None:
        if mu is None:
            return None
        pi = torch.softmax(self.logits, 0).view(-1, *([1] * (mu.dim() - 1)))
        return (pi * mu).sum(0)


class BayesLinear(_Mixture, Linear):  # type: ignore[misc,override]
    """``Linear`` with Gaussian-mixture weights: ``[T, B, in] → [T, B, out]``.

    ``weight``/``bias`` read the weights of the current draw inside a run and the mixture
    mean ``Σ_k π_k μ_k`` outside one (what the energy counter sees)."""

    def __init__(
        self,
        source: nn.Linear,
        logits: nn.Parameter,
        init_std: float,
        jitter: float,
        generator: torch.Generator | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = source.in_features, source.out_features
        self._init_mixture(source.weight, source.bias, logits, init_std, jitter, generator)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3 or x.shape[-1] != self.in_features:
            raise ShapeError(
                f"BayesLinear({self.in_features}→{self.out_features}) expects input "
                f"[T, B, {self.in_features}], got shape {_shape(x)}"
            )
        w, b = self._params()
        return F.linear(x, w, b)


class BayesConv2d(_Mixture, Conv2d):  # type: ignore[override]
    """``Conv2d`` with Gaussian-mixture weights over ``[T, B, C, H, W]`` (see BayesLinear)."""

    def __init__(
        self,
        source: nn.Conv2d,
        logits: nn.Parameter,
        init_std: float,
        jitter: float,
        generator: torch.Generator | None = None,
    ) -> None:
        nn.Module.__init__(self)
        for name in (
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "transposed",
            "output_padding",
            "groups",
            "padding_mode",
            "_reversed_padding_repeated_twice",
        ):
            setattr(self, name, copy.deepcopy(getattr(source, name)))
        self._init_mixture(source.weight, source.bias, logits, init_std, jitter, generator)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(self, x, self.in_channels)
        w, b = self._params()
        return _fold(lambda z: self._conv_forward(z, w, b), x)  # type: ignore[arg-type]


_BAYES = (BayesLinear, BayesConv2d)


class Draw(NamedTuple):
    """One sample of all weights: the component and (weight, bias) per Bayesian layer."""

    component: int
    params: tuple[tuple[Tensor, Tensor | None], ...]


class BayesianSequential(Sequential):
    """A ``Sequential`` whose synaptic layers share one Gaussian-mixture posterior.

    ``net(x, draw=None)`` / ``net.run(x, draw=None)`` draw fresh weights per call (pass a
    ``Draw`` from ``net.draw`` to reuse one, e.g. to continue a sequence in chunks).
    """

    def __init__(self, *layers: nn.Module, logits: nn.Parameter, prior_std: float) -> None:
        super().__init__(*layers)
        self.mixing_logits = logits
        self.prior_std = prior_std

    @property
    def components(self) -> int:
        return int(self.mixing_logits.shape[0])

    def mixing_weights(self) -> Tensor:
        """``π = softmax(logits)`` ``[K]``."""
        return torch.softmax(self.mixing_logits, 0)

    def bayes_layers(self) -> list[BayesLinear | BayesConv2d]:
        return [m for m in self.layers if isinstance(m, _BAYES)]

    def draw(self, component: int | None = None, generator: torch.Generator | None = None) -> Draw:
        """Draw a component (from ``π`` when ``None``) and one weight sample from it."""
        k = self.components
        if component is None:
            pi = self.mixing_weights().detach()
            pi = pi.to(_rng_device(generator, pi.device))
            component = int(torch.multinomial(pi, 1, generator=generator))
        elif isinstance(component, bool) or not isinstance(component, int):
            raise TypeError(f"component must be an int, got {type(component).__name__}")
        elif not 0 <= component < k:
            raise ValueError(f"component={component} is out of range; expected 0 <= k < {k}")
        return Draw(component, tuple(m.draw(component, generator) for m in self.bayes_layers()))

    @contextmanager
    def _using(self, draw: Draw | None) -> Iterator[None]:
        draw = self.draw() if draw is None else draw
        layers = self.bayes_layers()
        if not isinstance(draw, Draw) or len(draw.params) != len(layers):
            raise ValueError(
                f"draw must be a Draw from this network's draw() ({len(layers)} layers)"
            )
        try:
            for m, p in zip(layers, draw.params, strict=True):
                m._drawn = p
            yield
        finally:
            for m in layers:
                m._drawn = None

    def forward(
        self,
        x: Tensor,
        state: Sequence[Any] | None = None,
        chunk: int | None = None,
        *,
        draw: Draw | None = None,
    ) -> Tensor:
        """``[T, B, ...] → [T, B, ...]`` with one weight sample for the whole sequence (also
        when ``Sequential.forward`` streams it in chunks)."""
        with self._using(draw):
            return super().forward(x, state, chunk)

    def run(
        self,
        x: Tensor,
        state: Sequence[Any] | None = None,
        record_membrane: bool = False,
        *,
        draw: Draw | None = None,
    ) -> Run:
        """As ``Sequential.run`` with one weight sample for the whole sequence."""
        with self._using(draw):
            return super().run(x, state, record_membrane)

    def kl(self) -> Tensor:
        """``KL̃(q‖p)`` in nats (scalar, differentiable; see the module docstring)."""
        means, stds = [], []
        for m in self.bayes_layers():
            for mu, std in m.means_and_stds():
                means.append(mu)
                stds.append(std)
        return gaussian_mixture_kl(self.mixing_logits, means, stds, self.prior_std)


def gaussian_mixture_kl(
    logits: Tensor, means: Sequence[Tensor], stds: Sequence[Tensor], prior_std: float
) -> Tensor:
    """``−H̃(q) − E_q[log N(w; 0, s² I)]`` for ``q = Σ_k π_k N(μ_k, diag σ_k²)``.

    logits ``[K]``; means/stds: tensors ``[K, ...]`` (one per parameter block, together
    the ``D`` coordinates); prior_std ``s > 0``. Returns nats (scalar).
    """
    log_pi = torch.log_softmax(logits, 0)
    pi = log_pi.exp()
    k = logits.shape[0]
    n = sum(mu[0].numel() for mu in means)
    sum_log_std = sum(std.reshape(k, -1).log().sum(1) for std in stds)
    sq = sum(
        (mu.square() + std.square()).reshape(k, -1).sum(1)
        for mu, std in zip(means, stds, strict=True)
    )
    entropy = (pi * (0.5 * n * _LOG_2PI_E + sum_log_std)).sum() - (pi * log_pi).sum()
    s2 = prior_std**2
    cross = (pi * (-0.5 * n * math.log(2 * math.pi * s2) - sq / (2 * s2))).sum()
    return -entropy - cross


class ElboTerms(NamedTuple):
    """``loss = nll + kl / n_data`` (minimise; = −ELBO / n_data), its two parts."""

    loss: Tensor
    nll: Tensor
    kl: Tensor


LossFn = Callable[[Tensor, Tensor], Tensor]


def elbo_loss(
    net: BayesianSequential,
    x: Tensor,
    target: Tensor,
    loss_fn: LossFn,
    n_data: int,
    generator: torch.Generator | None = None,
) -> ElboTerms:
    """Negative ELBO per training example on a batch.

    ``x [T, B, ...]``, ``target [B]``; ``loss_fn(output [T, B, C], target)`` is the mean
    negative log-likelihood per example (e.g. ``ce_count``); ``n_data`` the training-set
    size. ``nll = Σ_k π_k · loss_fn(net(x, draw=net.draw(k)), target)`` (one forward pass
    per component), ``kl = net.kl()``.
    """
    if not isinstance(net, BayesianSequential):
        raise TypeError(f"elbo_loss needs a BayesianSequential, got {type(net).__name__}")
    if isinstance(n_data, bool) or not isinstance(n_data, int) or n_data < 1:
        raise ValueError(f"n_data must be an int >= 1 (training-set size), got {n_data!r}")
    pi = net.mixing_weights()
    nll = sum(
        pi[k] * loss_fn(net(x, draw=net.draw(k, generator)), target) for k in range(net.components)
    )
    kl = net.kl()
    return ElboTerms(nll + kl / n_data, nll, kl)  # type: ignore[arg-type]


class Prediction(NamedTuple):
    """Predictive distribution from S weight samples (entropies in nats).

    probs ``[B, C]``: mean of the per-sample softmax. entropy ``[B]``: ``H[probs]``.
    mutual_information ``[B]``: ``H[probs] − mean_s H[p_s]`` (epistemic part)."""

    probs: Tensor
    entropy: Tensor
    mutual_information: Tensor


def _entropy(p: Tensor) -> Tensor:
    return -torch.xlogy(p, p).sum(-1)


@torch.no_grad()
def predict(
    net: BayesianSequential,
    x: Tensor,
    samples: int = 16,
    readout: Literal["sum", "mean"] = "sum",
    generator: torch.Generator | None = None,
) -> Prediction:
    """Predictive mean and uncertainty of ``net`` on ``x [T, B, ...]``.

    Each of the ``samples`` passes draws a component from ``π`` and weights from it; the
    class scores are the output summed (``"sum"``, spike counts) or averaged (``"mean"``)
    over time, ``[T, B, C] → [B, C]``, turned into probabilities by softmax. The network runs
    in eval mode (dropout off, batch norm on running statistics; the weight sampling is the
    only randomness) and without gradients; its training flag is restored afterwards.
    """
    if not isinstance(net, BayesianSequential):
        raise TypeError(f"predict needs a BayesianSequential, got {type(net).__name__}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if readout not in ("sum", "mean"):
        raise ValueError(f"readout={readout!r} is not valid; expected 'sum' or 'mean'")
    probs = []
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for _ in range(samples):
                out = net(x, draw=net.draw(None, generator))
                if out.dim() != 3:
                    raise ValueError(
                        f"predict expects network output [T, B, C], got {list(out.shape)}"
                    )
                scores = out.sum(0) if readout == "sum" else out.mean(0)
                probs.append(torch.softmax(scores, -1))
    finally:
        net.train(was_training)
    p = torch.stack(probs)  # [S, B, C]
    mean = p.mean(0)
    h = _entropy(mean)
    return Prediction(mean, h, (h - _entropy(p).mean(0)).clamp_min(0.0))


def _check_positive(name: str, value: object, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(
            f"{name}={value!r} is not valid; expected {'>= 0' if allow_zero else '> 0'}"
        )
    return v


def bayesian(
    net: Sequential,
    components: int = 1,
    prior_std: float = 1.0,
    init_std: float = 1e-2,
    jitter: float | None = None,
    generator: torch.Generator | None = None,
) -> BayesianSequential:
    """A new network with Gaussian-mixture posteriors on every Linear/Conv2d layer.

    components: K >= 1 mixture components (uniform initial mixing weights).
    prior_std: standard deviation ``s`` of the prior ``N(0, s² I)`` on every weight and bias.
    init_std: initial posterior standard deviation of every weight and bias.
    jitter: std of the Gaussian noise added to each component's means, which start at the
        original weights (default ``init_std``; 0 makes all components start equal).
    generator: seeds the jitter. ``net`` is not modified.
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"bayesian expects a neurosim Sequential, got {type(net).__name__}")
    if isinstance(net, BayesianSequential):
        raise TypeError("bayesian: the network is already Bayesian (a BayesianSequential)")
    if isinstance(components, bool) or not isinstance(components, int):
        raise TypeError(
            f"components must be an int, got {type(components).__name__} {components!r}"
        )
    if components < 1:
        raise ValueError(f"components={components} is not valid; expected an int >= 1")
    prior = _check_positive("prior_std", prior_std)
    std = _check_positive("init_std", init_std)
    jit = std if jitter is None else _check_positive("jitter", jitter, allow_zero=True)
    if not any(isinstance(m, nn.Linear | nn.Conv2d) for m in net):
        raise ValueError(
            f"bayesian: the network has no Linear or Conv2d layer to make Bayesian "
            f"(layers: {', '.join(net.layer_names())})"
        )
    src = copy.deepcopy(net)
    ref = next(p for p in src.parameters())
    logits = nn.Parameter(torch.zeros(components, dtype=ref.dtype, device=ref.device))
    layers: list[nn.Module] = []
    for layer in src:
        if isinstance(layer, nn.Conv2d):
            layers.append(BayesConv2d(layer, logits, std, jit, generator))
        elif isinstance(layer, nn.Linear):
            layers.append(BayesLinear(layer, logits, std, jit, generator))
        else:
            layers.append(layer)
    out = BayesianSequential(*layers, logits=logits, prior_std=prior)
    return out.train(net.training)
