"""Adversarial trainers: GANs (non-saturating or WGAN-GP) and domain-adversarial (DANN).

Both work with spiking networks (methods.md §6; the recipes are the standard ones):

* GAN: ``generator`` maps noise ``z [B, z_dim]`` to samples ``[B, ...]`` and ``critic``
  maps samples to scores ``[B]``/``[B, 1]``. A time-first spiking network becomes such a
  function with ``OverTime(net, Direct(T))`` (encode, run, mean output over T).
* DANN: a ``features`` network ``[T, B, ...] → [T, B, H]``, a ``classifier``
  ``[T, B, H] → [T, B, C]`` trained on labelled source data, and a ``domain`` head
  ``[T, B, H] → [T, B, 1]`` whose output, averaged over T, is the domain logit; the
  gradient-reversal layer between features and domain head makes the features domain-
  invariant. ``lam = 0`` is the source-only baseline (the head still learns, sends nothing
  back).

Gradient penalties need neuron layers with ``backend="loop"`` (see
``neurosim.transforms.adversarial``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from neurosim.core.encoding import Encoder
from neurosim.core.network import Sequential
from neurosim.training.loop import evaluate, seed_for
from neurosim.training.losses import LossFn, predict
from neurosim.transforms.adversarial import (
    GradientReversal,
    _check_twice_differentiable,
    _check_weight,
    gradient_penalty,
    r1_penalty,
)

__all__ = ["DANN", "critic_losses", "dann_step", "fit_dann", "fit_gan", "ganin_lambda"]

GanLoss = Literal["ns", "wgan"]
DomainLoss = Literal["bce", "wasserstein"]


def _positive_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {name}={value!r} is not valid; expected an integer >= 1")
    return value


def _scores(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    s = critic(x)
    if s.numel() != x.shape[0]:
        raise ValueError(
            f"the critic must return one score per sample ([{x.shape[0]}] or "
            f"[{x.shape[0]}, 1]), got {list(s.shape)}"
        )
    return s.reshape(-1)


def critic_losses(d_real: Tensor, d_fake: Tensor, loss: GanLoss) -> tuple[Tensor, Tensor]:
    """(critic loss, generator loss) from scores ``[B]`` of real and fake samples.

    ``"ns"``: critic ``softplus(−D(real)) + softplus(D(fake))`` (logistic), generator the
    non-saturating ``softplus(−D(fake))``. ``"wgan"``: critic ``D(fake) − D(real)``,
    generator ``−D(fake)``. Means over the batch."""
    if loss == "ns":
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean(), F.softplus(-d_fake).mean()
    if loss == "wgan":
        return d_fake.mean() - d_real.mean(), -d_fake.mean()
    raise ValueError(f"loss={loss!r} is not valid; expected 'ns' or 'wgan'")


def fit_gan(
    generator: nn.Module,
    critic: nn.Module,
    sample_real: Callable[[int, torch.Generator], Tensor],
    *,
    z_dim: int,
    steps: int,
    batch_size: int = 128,
    loss: GanLoss = "ns",
    gp_weight: float = 0.0,
    r1_gamma: float = 0.0,
    n_critic: int = 1,
    lr_g: float = 1e-4,
    lr_d: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    seed: int = 0,
    log_every: int = 100,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train a GAN for ``steps`` generator updates (each after ``n_critic`` critic updates).

    sample_real(n, gen): ``n`` real samples ``[n, ...]`` drawn with ``gen``.
    The critic's loss adds ``gradient_penalty(critic, real, fake, gp_weight)`` when
    ``gp_weight > 0`` and ``r1_penalty(critic, real, r1_gamma)`` when ``r1_gamma > 0``;
    spectral normalisation is not applied here: pass networks already wrapped by
    ``ns.transforms.spectral_norm`` to use it. Adam for both. Every ``log_every`` steps a record
    ``{step, d_loss, g_loss, penalty, d_real, d_fake}`` (means since the last record) is
    appended to the returned list and passed to ``on_log``.
    """
    where = "fit_gan"
    _positive_int("z_dim", z_dim, where)
    _positive_int("steps", steps, where)
    _positive_int("batch_size", batch_size, where)
    _positive_int("n_critic", n_critic, where)
    _positive_int("log_every", log_every, where)
    gp_weight = _check_weight("gp_weight", gp_weight, where)
    r1_gamma = _check_weight("r1_gamma", r1_gamma, where)
    critic_losses(torch.zeros(1), torch.zeros(1), loss)  # validates ``loss``
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed_for(seed, 0))  # dropout etc. inside the networks
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr_d, betas=betas)
    generator.train()
    critic.train()
    history: list[dict[str, Any]] = []
    sums: dict[str, float] = {}

    def add(**values: float) -> None:
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v

    for step in range(1, steps + 1):
        for _ in range(n_critic):
            real = sample_real(batch_size, gen)
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, z_dim, generator=gen))
            if fake.shape != real.shape:
                raise ValueError(
                    f"{where}: generator samples {list(fake.shape)} and real samples "
                    f"{list(real.shape)} differ in shape"
                )
            d_real, d_fake = _scores(critic, real), _scores(critic, fake)
            d_loss, _ = critic_losses(d_real, d_fake, loss)
            pen = torch.zeros(())
            if gp_weight > 0:
                pen = pen + gradient_penalty(critic, real, fake, gp_weight, generator=gen)
            if r1_gamma > 0:
                pen = pen + r1_penalty(critic, real, r1_gamma)
            opt_d.zero_grad(set_to_none=True)
            (d_loss + pen).backward()
            opt_d.step()
        add(d_loss=d_loss.item(), penalty=pen.item(), d_real=d_real.mean().item(),
            d_fake=d_fake.mean().item())  # fmt: skip
        fake = generator(torch.randn(batch_size, z_dim, generator=gen))
        _, g_loss = critic_losses(d_real.detach(), _scores(critic, fake), loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        add(g_loss=g_loss.item())
        if not math.isfinite(g_loss.item() + d_loss.item()):
            raise FloatingPointError(f"{where}: step {step}: the losses became non-finite")
        if step % log_every == 0 or step == steps:
            n = log_every if step % log_every == 0 else step % log_every
            record = {"step": step} | {k: v / n for k, v in sums.items()}
            sums.clear()
            history.append(record)
            if on_log is not None:
                on_log(record)
    return history


class DANN(nn.Module):
    """Domain-adversarial network: ``features``, label ``classifier``, ``domain`` head.

    features: ``[T, B, ...] → [T, B, H]``; classifier ``[T, B, H] → [T, B, C]``; domain
    ``[T, B, H] → [T, B, 1]`` (its mean over T is the domain logit, or the critic score
    for the Wasserstein variant). All three neurosim ``Sequential`` networks.
    """

    def __init__(
        self, features: Sequential, classifier: Sequential, domain: Sequential, lam: float = 1.0
    ) -> None:
        super().__init__()
        for name, net in (("features", features), ("classifier", classifier), ("domain", domain)):
            if not isinstance(net, Sequential):
                raise TypeError(f"DANN: {name} must be a neurosim Sequential, got {type(net)}")
        self.features, self.classifier, self.domain = features, classifier, domain
        self.reversal = GradientReversal(lam)

    def forward(self, x: Tensor) -> Tensor:
        """Class output ``[T, B, C]`` for ``x [T, B, ...]``."""
        return self.classifier(self.features(x))

    def domain_score(self, feats: Tensor, reverse: bool = True) -> Tensor:
        """Domain logit per sample ``[B]`` from features ``[T, B, H]`` (through the GRL)."""
        out = self.domain(self.reversal(feats) if reverse else feats)
        if out.shape[0] != feats.shape[0] or out[0].numel() != feats.shape[1]:
            raise ValueError(
                f"DANN: the domain head must output [T, B, 1] = [{feats.shape[0]}, "
                f"{feats.shape[1]}, 1], got {list(out.shape)}"
            )
        return out.reshape(out.shape[0], -1).mean(0)

    def predictor(self) -> Sequential:
        """features + classifier as one ``Sequential`` sharing these layers (for
        ``ns.training.evaluate``)."""
        return Sequential(*self.features.layers, *self.classifier.layers)


def dann_step(
    model: DANN,
    opt: torch.optim.Optimizer,
    x_source: Tensor,
    y_source: Tensor,
    x_target: Tensor,
    *,
    loss: LossFn,
    domain_loss: DomainLoss = "bce",
    gp_weight: float = 0.0,
    gp_target: float = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One update on a source batch ``x_source [T, B, ...]`` with labels ``[B]`` and a
    target batch ``x_target [T, B', ...]``; returns the losses as floats.

    Objective: ``loss(classifier(f_s), y) + L_dom + gp_weight·GP``, where ``L_dom`` is the
    domain head's loss — ``"bce"``: logistic loss, source labelled 0 and target 1;
    ``"wasserstein"``: ``mean D(f_t) − mean D(f_s)`` (WDGRL; pair it with ``gp_weight``).
    The reversal layer makes the features ascend ``lam·L_dom``. GP is the WGAN-GP term on
    interpolates of the (detached) source and target features (first ``min(B, B')``),
    centred on ``gp_target`` (1: WGAN-GP; 0: the zero-centred variant).
    """
    where = "dann_step"
    if domain_loss not in ("bce", "wasserstein"):
        raise ValueError(f"{where}: domain_loss={domain_loss!r}; expected 'bce' or 'wasserstein'")
    gp_weight = _check_weight("gp_weight", gp_weight, where)
    if gp_weight > 0:  # the penalty calls the head through a lambda, which it cannot inspect
        _check_twice_differentiable(model.domain, f"{where} (domain head)")
    model.train()
    f_s, f_t = model.features(x_source), model.features(x_target)
    out_s = model.classifier(f_s)
    class_loss = loss(out_s, y_source)
    d_s, d_t = model.domain_score(f_s), model.domain_score(f_t)
    if domain_loss == "bce":
        dom = F.softplus(d_s).mean() + F.softplus(-d_t).mean()  # BCE: source 0, target 1
        dom_acc = float(((d_s < 0).sum() + (d_t > 0).sum()) / (len(d_s) + len(d_t)))
    else:
        dom = d_t.mean() - d_s.mean()
        dom_acc = float("nan")
    gp = torch.zeros(())
    if gp_weight > 0:
        n = min(f_s.shape[1], f_t.shape[1])
        head = lambda f: model.domain_score(f, reverse=False)  # noqa: E731
        gp = gradient_penalty(
            head,
            f_s[:, :n],
            f_t[:, :n],
            gp_weight,
            target=gp_target,
            batch_dim=1,
            generator=generator,
        )
    opt.zero_grad(set_to_none=True)
    (class_loss + dom + gp).backward()
    opt.step()
    return {
        "class_loss": class_loss.item(),
        "domain_loss": dom.item(),
        "domain_accuracy": dom_acc,
        "penalty": gp.item(),
        "source_accuracy": float((predict(out_s.detach()) == y_source).float().mean()),
    }


def ganin_lambda(progress: float, lam: float = 1.0, gamma: float = 10.0) -> float:
    """DANN schedule (Ganin et al. 2016): ``lam·(2 / (1 + exp(−gamma·p)) − 1)``, p in [0, 1]."""
    return lam * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)


def _inputs(data: Any, field: str) -> Tensor:
    if isinstance(data, Tensor):
        x = data
    elif isinstance(data, TensorDataset):
        x = data.tensors[0]
    else:
        raise TypeError(f"fit_dann: {field} must be a Tensor or TensorDataset, got {type(data)}")
    if len(x) == 0:
        raise ValueError(f"fit_dann: {field} is empty")
    return x


def fit_dann(
    model: DANN,
    source: TensorDataset,
    target: Tensor | TensorDataset,
    *,
    encoder: Encoder,
    loss: LossFn,
    epochs: int,
    lam: float = 1.0,
    schedule: Literal["ganin", "constant"] = "ganin",
    domain_loss: DomainLoss = "bce",
    gp_weight: float = 0.0,
    gp_target: float = 1.0,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    target_test: TensorDataset | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` on labelled ``source`` (``TensorDataset(x [N, ...], y [N])``) and
    unlabelled ``target`` inputs (labels, if any, are ignored) for ``epochs`` passes over
    the source; returns one metrics dict per epoch (means of ``dann_step``'s values, the
    reversal weight used, and ``target_accuracy`` on ``target_test`` when given).

    Each source batch is paired with the next target batch (target reshuffled each time it
    is used up). ``domain_loss``, ``gp_weight``, ``gp_target``: as in ``dann_step``.
    ``schedule="ganin"`` ramps the reversal weight as ``ganin_lambda``
    over training; ``lam=0`` trains source-only. Adam with ``lr``.
    """
    where = "fit_dann"
    _positive_int("epochs", epochs, where)
    _positive_int("batch_size", batch_size, where)
    lam = _check_weight("lam", lam, where)
    if schedule not in ("ganin", "constant"):
        raise ValueError(f"{where}: schedule={schedule!r}; expected 'ganin' or 'constant'")
    if not isinstance(source, TensorDataset) or len(source.tensors) != 2:
        raise TypeError(f"{where}: source must be a TensorDataset(inputs, labels)")
    x_src, y_src = source.tensors
    x_tgt = _inputs(target, "target")
    if len(x_src) == 0:
        raise ValueError(f"{where}: source is empty")
    if x_src.shape[1:] != x_tgt.shape[1:]:
        raise ValueError(
            f"{where}: source inputs {list(x_src.shape[1:])} and target inputs "
            f"{list(x_tgt.shape[1:])} differ in shape"
        )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed_for(seed, 0))
    n_batches = math.ceil(len(x_src) / batch_size)
    total = epochs * n_batches
    tgt_order = torch.randperm(len(x_tgt), generator=gen)
    tgt_pos = 0
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        sums: dict[str, float] = {}
        order = torch.randperm(len(x_src), generator=gen)
        for b, idx in enumerate(order.split(batch_size)):
            if tgt_pos + len(idx) > len(x_tgt):
                tgt_order, tgt_pos = torch.randperm(len(x_tgt), generator=gen), 0
            t_idx = tgt_order[tgt_pos : tgt_pos + len(idx)]
            tgt_pos += len(idx)
            progress = ((epoch - 1) * n_batches + b) / total
            model.reversal.lam = ganin_lambda(progress, lam) if schedule == "ganin" else lam
            values = dann_step(
                model,
                opt,
                encoder(x_src[idx], gen),
                y_src[idx],
                encoder(x_tgt[t_idx], gen),
                loss=loss,
                domain_loss=domain_loss,
                gp_weight=gp_weight,
                gp_target=gp_target,
                generator=gen,
            )
            if not math.isfinite(values["class_loss"] + values["domain_loss"]):
                raise FloatingPointError(f"{where}: epoch {epoch}: the loss became non-finite")
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
        metrics: dict[str, Any] = {"epoch": epoch, "lam": model.reversal.lam}
        metrics |= {k: v / n_batches for k, v in sums.items()}
        if target_test is not None:
            res = evaluate(model.predictor(), target_test, encoder=encoder, loss=loss, seed=seed)
            metrics["target_accuracy"] = res.accuracy
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics)
    return history
