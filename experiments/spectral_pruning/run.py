"""Spectral pruning vs magnitude vs random pruning of recurrent layers on sequential digits.

The claim tested (methods.md §4, Furuya et al. AISTATS 2022): choosing the kept hidden units
from the time-averaged covariance of hidden states, with a reconstruction matrix, beats
magnitude-style heuristics. Two models on sklearn's 8×8 digits fed row by row (T = 8 steps
of 8 pixels): an IRNN and a recurrent SNN (RecurrentLIF), both 8 → 128 (recurrent) → 10.
Each is pruned to 10 … 90 % of its hidden units by every method, evaluated as pruned and
after a brief fine-tuning; the SNN's energy per inference is estimated on ``loihi``.

    OMP_NUM_THREADS=1 python experiments/spectral_pruning/run.py   # writes results.md,
                                                                    # results.json, plot.png
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import neurosim as ns
from neurosim.datasets import load_digits
from neurosim.transforms import degrees_of_freedom, magnitude_prune, random_prune, spectral_prune
from neurosim.transforms.prune import (
    hidden_covariance,
    prune_units,
    reconstruction_matrix,
    select_units,
)

HERE = Path(__file__).resolve().parent
HIDDEN = 128
LAYER = 1  # index of the recurrent layer in every model
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
THETA = 0.5
PROFILE = "loihi"


def sequences(split: str) -> tuple[Tensor, Tensor]:
    """Digits as row sequences: x ``[T=8, N, 8]`` (pixel / 16), labels ``[N]``."""
    ds = load_digits(split)
    images, labels = ds.tensors
    return images[:, 0].permute(1, 0, 2).contiguous(), labels


def build(kind: str, seed: int) -> ns.Sequential:
    torch.manual_seed(seed)
    if kind == "irnn":
        unit: torch.nn.Module = ns.IRNN(HIDDEN)
    else:
        unit = ns.RecurrentLIF.from_beta(0.9, n=HIDDEN)
        with torch.no_grad():
            unit.recurrent.weight.mul_(0.5)
    return ns.Sequential(ns.Linear(8, HIDDEN), unit, ns.Linear(HIDDEN, 10))


def logits(kind: str, net: ns.Sequential, x: Tensor) -> Tensor:
    """IRNN: readout of the last step; SNN: readout averaged over the steps."""
    y = net(x)
    return y[-1] if kind == "irnn" else y.mean(0)


def train(
    kind: str, net: ns.Sequential, x: Tensor, y: Tensor, epochs: int, lr: float, seed: int
) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(x.shape[1], generator=g).split(64):
            loss = F.cross_entropy(logits(kind, net, x[:, idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
    net.eval()


@torch.no_grad()
def accuracy(kind: str, net: ns.Sequential, x: Tensor, y: Tensor) -> float:
    net.eval()
    return float((logits(kind, net, x).argmax(1) == y).float().mean())


def methods(
    kind: str, x_train: Tensor, seed: int
) -> dict[str, Callable[[ns.Sequential, int], ns.Sequential]]:
    """Pruning methods by name: network, units kept → pruned network."""
    batches = list(x_train.split(256, dim=1))

    def random_recon(net: ns.Sequential, k: int) -> ns.Sequential:
        # ablation: random units, but the spectral reconstruction A_J
        sigma = hidden_covariance(net, LAYER, batches)
        lam = 1e-3 * float(torch.trace(sigma)) / HIDDEN
        j = torch.randperm(HIDDEN, generator=torch.Generator().manual_seed(seed))[:k].sort()
        return prune_units(net, LAYER, j.values, reconstruction_matrix(sigma, j.values, lam))

    def spectral_select_only(net: ns.Sequential, k: int) -> ns.Sequential:
        # ablation: the spectral choice of units, dropped without reconstruction
        sigma = hidden_covariance(net, LAYER, batches)
        lam = 1e-3 * float(torch.trace(sigma)) / HIDDEN
        return prune_units(net, LAYER, select_units(sigma, k, lam, THETA, net[2].weight))

    out: dict[str, Callable[[ns.Sequential, int], ns.Sequential]] = {
        "spectral": lambda net, k: spectral_prune(net, LAYER, keep=k, data=batches, theta=THETA),
        "spectral (select only)": spectral_select_only,
        "random + reconstruction": random_recon,
        "magnitude": lambda net, k: magnitude_prune(net, LAYER, keep=k),
        "random": lambda net, k: random_prune(net, LAYER, keep=k, seed=seed),
    }
    if kind == "snn":
        out["spectral (membrane)"] = lambda net, k: spectral_prune(
            net, LAYER, keep=k, data=batches, theta=THETA, state="membrane"
        )
    return out


def energy(net: ns.Sequential, x: Tensor) -> tuple[float, float]:
    """Energy per inference (nJ) on PROFILE and spikes per inference of the recurrent layer."""
    report = ns.energy.estimate(net, x, PROFILE)
    return report.total_pj / 1e3, report.per_layer[LAYER].counts["spikes"]


def run_model(kind: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    x_tr, y_tr = sequences("train")
    x_te, y_te = sequences("test")
    net = build(kind, seed)
    lr = 1e-3 if kind == "irnn" else 2e-3
    train(kind, net, x_tr, y_tr, args.epochs, lr, seed)
    base_acc = accuracy(kind, net, x_te, y_te)
    sigma = hidden_covariance(net, LAYER, list(x_tr.split(256, dim=1)))
    lam = 1e-3 * float(torch.trace(sigma)) / HIDDEN
    row: dict[str, Any] = {
        "model": kind,
        "seed": seed,
        "accuracy": base_acc,
        "lambda": lam,
        "dof": degrees_of_freedom(sigma, lam),
        "rows": [],
    }
    if kind == "snn":
        row["energy_nj"], row["spikes"] = energy(net, x_te)
    rows: list[dict[str, Any]] = []
    for name, prune in methods(kind, x_tr, seed).items():
        for frac in FRACTIONS:
            k = round(frac * HIDDEN)
            pruned = prune(net, k)
            r: dict[str, Any] = {
                "method": name,
                "fraction": frac,
                "units": k,
                "acc_pruned": accuracy(kind, pruned, x_te, y_te),
            }
            if kind == "snn" and name in ("spectral", "magnitude"):
                r["energy_nj_pruned"], r["spikes_pruned"] = energy(pruned, x_te)
            train(kind, pruned, x_tr, y_tr, args.finetune_epochs, lr, seed + 1)
            r["acc_finetuned"] = accuracy(kind, pruned, x_te, y_te)
            if kind == "snn" and name in ("spectral", "magnitude"):
                r["energy_nj_finetuned"], r["spikes_finetuned"] = energy(pruned, x_te)
            rows.append(r)
    row["rows"] = rows
    batches = list(x_tr.split(256, dim=1))
    row["theta_sweep"] = {  # side check of θ: spectral at 30 % kept, not fine-tuned
        str(theta): accuracy(
            kind,
            spectral_prune(net, LAYER, keep=round(0.3 * HIDDEN), data=batches, theta=theta),
            x_te,
            y_te,
        )
        for theta in (0.0, 0.5, 1.0)
    }
    return row


FIELDS = ("acc_pruned", "acc_finetuned", "energy_nj_pruned", "energy_nj_finetuned")
FIELDS += ("spikes_pruned", "spikes_finetuned")


def summarise(models: list[dict[str, Any]]) -> dict[str, dict[str, dict[float, list[float]]]]:
    """model → "method|field" → fraction → values over seeds."""
    out: dict[str, dict[str, dict[float, list[float]]]] = {}
    for m in models:
        table = out.setdefault(str(m["model"]), {})
        for r in m["rows"]:
            for field in FIELDS:
                if field in r:
                    key = f"{r['method']}|{field}"
                    table.setdefault(key, {}).setdefault(r["fraction"], []).append(r[field])
    return out


def _mean_std(v: list[float]) -> tuple[float, float]:
    t = torch.tensor(v, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if len(v) > 1 else 0.0


def _pruned_table(
    table: dict[str, dict[float, list[float]]], title: str, key: str, fmt: str
) -> list[str]:
    """A markdown table of ``key`` after pruning → after fine-tuning, per method and fraction."""
    lines = [title, "", "| method | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " |"]
    lines.append("|---|" + "---|" * len(FRACTIONS))
    for name in ("spectral", "magnitude"):
        cells = []
        for f in FRACTIONS:
            p, _ = _mean_std(table[f"{name}|{key}_pruned"][f])
            q, _ = _mean_std(table[f"{name}|{key}_finetuned"][f])
            cells.append(f"{p:{fmt}} → {q:{fmt}}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_markdown(models: list[dict[str, Any]], args: argparse.Namespace, minutes: float) -> str:
    summary = summarise(models)
    lines = [
        "# Spectral pruning vs magnitude vs random (sequential digits)",
        "",
        f"Command: `{args.command}`",
        f"8×8 digits row by row (T = 8, 8 inputs), 1,437 train / 360 test; 8 → {HIDDEN} → 10; "
        f"{args.epochs} training epochs, {args.finetune_epochs} fine-tuning epochs, seeds "
        f"{args.seeds}; θ = {THETA}, λ = 1e-3·Tr Σ / n; wall time {minutes:.1f} min "
        "(OMP_NUM_THREADS=1).",
        "",
        "Test accuracy (%), mean over seeds (pruned → after fine-tuning).",
        "",
    ]
    for kind in ("irnn", "snn"):
        base = [float(m["accuracy"]) for m in models if m["model"] == kind]
        dof = [float(m["dof"]) for m in models if m["model"] == kind]
        mb, sb = _mean_std(base)
        lines += [
            f"## {kind.upper()}: unpruned {100 * mb:.1f} ± {100 * sb:.1f} %, "
            f"degrees of freedom N(λ) = {sum(dof) / len(dof):.1f} of {HIDDEN}",
            "",
            "| method | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " |",
            "|---|" + "---|" * len(FRACTIONS),
        ]
        table = summary[kind]
        names = list(dict.fromkeys(key.split("|")[0] for key in table))
        for name in names:
            cells = []
            for f in FRACTIONS:
                p, _ = _mean_std(table[f"{name}|acc_pruned"][f])
                q, _ = _mean_std(table[f"{name}|acc_finetuned"][f])
                cells.append(f"{100 * p:.1f} → {100 * q:.1f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        spread = [
            _mean_std(v)[1] for key, col in table.items() if "acc" in key for v in col.values()
        ]
        sweep = [m["theta_sweep"] for m in models if m["model"] == kind]
        thetas = ", ".join(
            f"θ = {t}: {100 * _mean_std([s[t] for s in sweep])[0]:.1f} %" for t in sweep[0]
        )
        lines += [
            "",
            f"Std over seeds of these cells: median {100 * sorted(spread)[len(spread) // 2]:.1f}"
            f" pt, max {100 * max(spread):.1f} pt. Spectral at 30 % kept, not fine-tuned, by θ "
            f"(L_A weight): {thetas}.",
        ]
        lines.append("")
        if kind == "snn":
            e0, _ = _mean_std([float(m["energy_nj"]) for m in models if m["model"] == kind])
            s0, _ = _mean_std([float(m["spikes"]) for m in models if m["model"] == kind])
            lines += _pruned_table(
                table,
                f"SNN energy per inference on `{PROFILE}` (nJ), unpruned {e0:.2f} "
                "(pruned → after fine-tuning):",
                "energy_nj",
                ".2f",
            )
            lines.append("")
            lines += _pruned_table(
                table,
                f"Spikes per inference of the recurrent layer, unpruned {s0:.0f} (pruned → "
                "after fine-tuning):",
                "spikes",
                ".0f",
            )
            lines.append("")
    return "\n".join(lines)


def plot(models: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(models)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, kind in zip(axes[:2], ("irnn", "snn"), strict=True):
        table = summary[kind]
        names = list(dict.fromkeys(key.split("|")[0] for key in table))
        for i, name in enumerate(names):
            color = f"C{i}"
            for field, style in (("acc_pruned", "-"), ("acc_finetuned", "--")):
                ys = [_mean_std(table[f"{name}|{field}"][f])[0] for f in FRACTIONS]
                label = name if field == "acc_pruned" else None
                ax.plot(FRACTIONS, ys, style, color=color, marker="o", ms=3, label=label)
        base = [float(m["accuracy"]) for m in models if m["model"] == kind]
        ax.axhline(sum(base) / len(base), color="k", lw=0.8, ls=":", label="unpruned")
        ax.set(title=f"{kind.upper()} (solid: pruned, dashed: fine-tuned)",
               xlabel="fraction of hidden units kept", ylabel="test accuracy")  # fmt: skip
        ax.legend(fontsize=7)
    ax = axes[2]
    table = summary["snn"]
    for i, name in enumerate(("spectral", "magnitude")):
        xs = [_mean_std(table[f"{name}|energy_nj_finetuned"][f])[0] for f in FRACTIONS]
        ys = [_mean_std(table[f"{name}|acc_finetuned"][f])[0] for f in FRACTIONS]
        ax.plot(xs, ys, marker="o", color=f"C{i * 3}", label=f"{name}, fine-tuned")
        for f, x, y in zip(FRACTIONS, xs, ys, strict=True):
            ax.annotate(f"{f:.0%}", (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points")
    e0 = [float(m["energy_nj"]) for m in models if m["model"] == "snn"]
    a0 = [float(m["accuracy"]) for m in models if m["model"] == "snn"]
    ax.plot([sum(e0) / len(e0)], [sum(a0) / len(a0)], "k*", ms=9, label="unpruned")
    ax.set(title=f"SNN: accuracy vs energy per inference ({PROFILE})", xlabel="nJ",
           ylabel="test accuracy (fine-tuned)")  # fmt: skip
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    args.command = "OMP_NUM_THREADS=1 python experiments/spectral_pruning/run.py" + (
        f" --epochs {args.epochs} --finetune-epochs {args.finetune_epochs} --seeds "
        + " ".join(map(str, args.seeds))
    )
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    models = []
    for seed in args.seeds:
        for kind in ("irnn", "snn"):
            models.append(run_model(kind, seed, args))
            elapsed = time.perf_counter() - t0
            print(f"{kind} seed {seed}: accuracy {models[-1]['accuracy']:.3f} ({elapsed:.0f} s)")
    minutes = (time.perf_counter() - t0) / 60
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": args.command, "hidden": HIDDEN, "theta": THETA, "profile": PROFILE,
            "epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
            "wall_minutes": minutes}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "models": models}, indent=1))
    (args.out / "results.md").write_text(write_markdown(models, args, minutes) + "\n")
    plot(models, args.out / "plot.png")
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
