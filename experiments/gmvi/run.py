"""Gaussian-mixture variational inference on digits: K = 1 vs K = 3, spiking and ANN MLPs.

For each model kind (``snn``: 64-128-10 LIF MLP, T = 8, direct input, spike-count readout;
``ann``: the same MLP with ReLU, T = 1) and seed, trains a deterministic baseline (plain
cross-entropy) and Bayesian versions with K = 1 and K = 3 mixture components (negative
ELBO, ``ns.bayes.elbo_loss``), then measures on the digits test split: accuracy, NLL,
expected calibration error (15 equal-width confidence bins), and the predictive entropy and
mutual information (S = 32 weight samples) on the test digits and on two out-of-
distribution sets — uniform noise images and Fashion-MNIST test images downsampled to 8×8
(adaptive average pooling) and min-max scaled per image to [0, 1], the digits range.
AUROC: how well the predictive entropy separates test digits from each OOD set.

    OMP_NUM_THREADS=1 python experiments/gmvi/run.py     # results.md/.json, ood.png here
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import Tensor

import neurosim as ns
from neurosim.datasets import load
from neurosim.models import ModelConfig, build_model
from neurosim.training.losses import ce_count, ce_mean

HERE = Path(__file__).resolve().parent
FASHION = Path("/usr/share/datasets/fashion-mnist")


def ece(probs: Tensor, labels: Tensor, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width confidence bins."""
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += float(m.float().mean() * (correct[m].mean() - conf[m].mean()).abs())
    return total


def auroc(inside: Tensor, outside: Tensor) -> float:
    """P(score_out > score_in) + ½ P(tie): 1 = entropy separates OOD perfectly."""
    diff = outside.unsqueeze(1) - inside.unsqueeze(0)
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


def entropy(p: Tensor) -> Tensor:
    return -torch.xlogy(p, p).sum(-1)


def ood_sets(n: int, seed: int) -> dict[str, Tensor]:
    noise = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    sets = {"noise": noise}
    try:
        fashion = load("fashion-mnist", "test", root=FASHION).tensors[0][:n]
    except FileNotFoundError:
        return sets
    small = F.adaptive_avg_pool2d(fashion, 8)
    lo = small.amin((1, 2, 3), keepdim=True)
    hi = small.amax((1, 2, 3), keepdim=True)
    sets["fashion"] = (small - lo) / (hi - lo).clamp_min(1e-8)
    return sets


def train(
    net: ns.Sequential, kind: str, x: Tensor, y: Tensor, epochs: int, lr: float, seed: int
) -> None:
    steps = 8 if kind == "snn" else 1
    loss_fn = ce_count if kind == "snn" else ce_mean
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            xs = x[idx].unsqueeze(0).expand(steps, *x[idx].shape)
            if isinstance(net, ns.bayes.BayesianSequential):
                loss = ns.bayes.elbo_loss(net, xs, y[idx], loss_fn, len(x), generator=g).loss
            else:
                loss = loss_fn(net(xs), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@torch.no_grad()
def probs_of(
    net: ns.Sequential, kind: str, x: Tensor, samples: int, seed: int
) -> ns.bayes.Prediction:
    steps = 8 if kind == "snn" else 1
    xs = x.unsqueeze(0).expand(steps, *x.shape)
    readout = "sum" if kind == "snn" else "mean"
    if isinstance(net, ns.bayes.BayesianSequential):
        g = torch.Generator().manual_seed(seed)
        return ns.bayes.predict(net, xs, samples=samples, readout=readout, generator=g)
    out = net(xs)
    p = torch.softmax(out.sum(0) if readout == "sum" else out.mean(0), -1)
    return ns.bayes.Prediction(p, entropy(p), torch.zeros(len(p)))


def evaluate(
    net: ns.Sequential, kind: str, data: dict[str, Any], samples: int, seed: int
) -> dict[str, Any]:
    test = probs_of(net, kind, data["x"], samples, seed)
    y = data["y"]
    row: dict[str, Any] = {
        "accuracy": float((test.probs.argmax(1) == y).float().mean()),
        "nll": float(-test.probs[torch.arange(len(y)), y].clamp_min(1e-12).log().mean()),
        "ece": ece(test.probs, y),
        "confidence": float(test.probs.max(1).values.mean()),
        "entropy": {"test": float(test.entropy.mean())},
        "mutual_information": {"test": float(test.mutual_information.mean())},
        "auroc": {},
    }
    hists = {"test": test.entropy}
    for name, x in data["ood"].items():
        p = probs_of(net, kind, x, samples, seed + 1)
        row["entropy"][name] = float(p.entropy.mean())
        row["mutual_information"][name] = float(p.mutual_information.mean())
        row["auroc"][name] = auroc(test.entropy, p.entropy)
        hists[name] = p.entropy
    if isinstance(net, ns.bayes.BayesianSequential):
        row["mixing_weights"] = [round(float(v), 4) for v in net.mixing_weights().detach()]
    row["_hists"] = hists
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", nargs="+", default=["snn", "ann"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--prior-std", type=float, default=0.3)
    ap.add_argument("--init-std", type=float, default=1e-2)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    torch.set_num_threads(1)

    xtr, ytr = load("digits", "train").tensors
    xte, yte = load("digits", "test").tensors
    data = {"x": xte, "y": yte, "ood": ood_sets(1000, seed=123)}
    rows, hists, t0 = [], {}, time.time()
    for kind in args.kinds:
        for seed in args.seeds:
            torch.manual_seed(seed)
            cfg = ModelConfig(kind=kind, input_shape=(1, 8, 8), n_classes=10, hidden=(128,))
            init = build_model(cfg)
            models: dict[str, ns.Sequential] = {"deterministic": copy.deepcopy(init)}
            for k in (1, 3):
                models[f"K={k}"] = ns.transforms.bayesian(
                    init,
                    components=k,
                    prior_std=args.prior_std,
                    init_std=args.init_std,
                    generator=torch.Generator().manual_seed(seed),
                )
            for name, net in models.items():
                start = time.time()
                train(net, kind, xtr, ytr, args.epochs, args.lr, seed)
                row = evaluate(net, kind, data, args.samples, seed)
                hists[(kind, name, seed)] = row.pop("_hists")
                row.update(kind=kind, model=name, seed=seed, train_s=round(time.time() - start, 1))
                rows.append(row)
                print(json.dumps(row), flush=True)
    write(rows, hists, args, time.time() - t0, sorted(data["ood"]))


def _mean_std(vals: list[float]) -> str:
    t = torch.tensor(vals, dtype=torch.float64)
    return f"{float(t.mean()):.3f} ± {float(t.std()):.3f}" if len(vals) > 1 else f"{vals[0]:.3f}"


def write(
    rows: list[dict[str, Any]],
    hists: dict[Any, dict[str, Tensor]],
    args: Any,
    wall: float,
    ood: list[str],
) -> None:
    out: Path = args.out
    config = {k: v for k, v in vars(args).items() if k != "out"}
    (out / "results.json").write_text(
        json.dumps({"config": config, "wall_s": round(wall, 1), "runs": rows}, indent=1)
    )
    cols = ["accuracy", "confidence", "nll", "ece"] + [f"H {s}" for s in ["test", *ood]]
    cols += [f"MI {s}" for s in ["test", *ood]] + [f"AUROC {s}" for s in ood]
    lines = [
        "# GMVI on digits — mean ± std over seeds " + ", ".join(map(str, args.seeds)),
        "",
        f"Generated by `run.py` ({wall / 60:.1f} min wall). Entropy (H) and mutual information "
        "(MI) in nats, means over the set; confidence: mean max probability; AUROC: "
        "predictive entropy separating test digits from the OOD set.",
        "",
        "| kind | model | " + " | ".join(cols) + " |",
        "|" + "---|" * (len(cols) + 2),
    ]
    for kind in args.kinds:
        for model in ["deterministic", "K=1", "K=3"]:
            rs = [r for r in rows if r["kind"] == kind and r["model"] == model]
            vals = [
                _mean_std([r["accuracy"] for r in rs]),
                _mean_std([r["confidence"] for r in rs]),
                _mean_std([r["nll"] for r in rs]),
                _mean_std([r["ece"] for r in rs]),
            ]
            vals += [_mean_std([r["entropy"][s] for r in rs]) for s in ["test", *ood]]
            vals += [_mean_std([r["mutual_information"][s] for r in rs]) for s in ["test", *ood]]
            vals += [_mean_std([r["auroc"][s] for r in rs]) for s in ood]
            lines.append(f"| {kind} | {model} | " + " | ".join(vals) + " |")
    lines += ["", "Final mixing weights π (K = 3):", ""]
    for r in rows:
        if r["model"] == "K=3":
            lines.append(f"- {r['kind']} seed {r['seed']}: {r['mixing_weights']}")
    (out / "results.md").write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(len(args.kinds), 3, figsize=(11, 3.2 * len(args.kinds)), squeeze=False)
    seed = args.seeds[0]
    for i, kind in enumerate(args.kinds):
        for j, model in enumerate(["deterministic", "K=1", "K=3"]):
            ax = axes[i][j]
            for name, h in hists[(kind, model, seed)].items():
                ax.hist(h.numpy(), bins=30, range=(0, 2.31), alpha=0.5, density=True, label=name)
            ax.set_title(f"{kind} {model} (seed {seed})")
            ax.set_xlabel("predictive entropy (nats)")
        axes[i][0].legend()
    fig.tight_layout()
    fig.savefig(out / "ood.png", dpi=120)


if __name__ == "__main__":
    main()
