"""MaQD on Fashion-MNIST: fp32 vs N-state weights and activations; Layer-Batch Norm vs
BatchNorm trained with batch size 1 and 128.

Claims (methods.md §3): networks with few weight/activation states (2 states: spike-like)
keep most of the accuracy and cost far less energy when priced by bit width; Layer-Batch
Norm does not depend on the mini-batch size, BatchNorm does.

    python experiments/maqd/run.py            # writes results.md, results.json, maqd.png

Part 1: a CNN (conv 8 → LBN → act → max-pool, conv 16 → LBN → act → max-pool, linear 10;
T = 1, pixel input) trained in float and quantised from scratch
(``ns.transforms.quantize(net, N, N, input_bits=8)``) for N ∈ {2, 3, 5, 9}; Layer-Batch Norm
folded into the weights (``ns.transforms.fold``) before pricing on asic45-fp32, asic45-int8
and loihi. Part 2: the same CNN with BatchNorm or Layer-Batch Norm, float and N = 2,
trained on the same samples with batch size 1 and 128 (one pass each, Adam, same lr).
Falls back to the embedded digits (8×8) when Fashion-MNIST is not installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import neurosim as ns
from neurosim.datasets import load
from neurosim.transforms import LayerBatchNorm, fold, quantize

HERE = Path(__file__).resolve().parent
PROFILES = ("asic45-fp32", "asic45-int8", "loihi")
STATES = (None, 2, 3, 5, 9)


def _data(n_train: int, n_test: int) -> tuple[str, Tensor, Tensor, Tensor, Tensor]:
    try:
        train, test, name = load("fashion-mnist", "train"), load("fashion-mnist", "test"), "fm"
    except FileNotFoundError:
        train, test, name = load("digits", "train"), load("digits", "test"), "digits"
    xtr, ytr = train.tensors
    xte, yte = test.tensors
    g = torch.Generator().manual_seed(1234)
    itr = torch.randperm(len(ytr), generator=g)[:n_train]
    ite = torch.randperm(len(yte), generator=g)[:n_test]
    xtr, xte = xtr[itr].float(), xte[ite].float()
    if xtr.dim() == 2:  # digits: flat 64 → 1×8×8
        xtr, xte = xtr.view(-1, 1, 8, 8), xte.view(-1, 1, 8, 8)
    scale = float(xtr.max())
    return (
        ("fashion-mnist" if name == "fm" else "digits"),
        xtr / scale,
        ytr[itr],
        xte / scale,
        yte[ite],
    )


def model(norm: str, side: int, hidden: int = 0) -> ns.Sequential:
    """CNN 1-8-16 with a normalisation after each conv: ``"lbn"`` or ``"bn"``; ``hidden``:
    a normalised fully connected layer of that width before the output."""

    def n(c: int, dim: int = 2) -> nn.Module:
        if norm == "lbn":
            return ns.Lifted(LayerBatchNorm(c))
        return ns.Lifted(nn.BatchNorm2d(c) if dim == 2 else nn.BatchNorm1d(c))

    flat = 16 * (side // 4) ** 2
    head: list[nn.Module] = [ns.Linear(flat, 10)]
    if hidden:
        head = [ns.Linear(flat, hidden), n(hidden, 1), nn.ReLU(), ns.Linear(hidden, 10)]
    return ns.Sequential(
        ns.Conv2d(1, 8, 3, padding=1),
        n(8),
        nn.ReLU(),
        ns.MaxPool2d(2),
        ns.Conv2d(8, 16, 3, padding=1),
        n(16),
        nn.ReLU(),
        ns.MaxPool2d(2),
        ns.Flatten(),
        *head,
    )


def train(
    net: ns.Sequential, x: Tensor, y: Tensor, epochs: int, batch: int, lr: float, seed: int
) -> float:
    """Adam on cross-entropy; T = 1 (input ``[1, B, 1, H, W]``). Returns seconds taken."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(net(x[idx].unsqueeze(0))[0], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


@torch.no_grad()
def accuracy(net: ns.Sequential, x: Tensor, y: Tensor) -> float:
    net.eval()
    hits = sum(
        int((net(x[i : i + 500].unsqueeze(0))[0].argmax(1) == y[i : i + 500]).sum())
        for i in range(0, len(y), 500)
    )
    return hits / len(y)


def levels_per_channel(net: ns.Sequential) -> int:
    """Most distinct weight values in any output channel of any synaptic layer."""
    most = 0
    for layer in net:
        w = getattr(layer, "weight", None)
        if isinstance(w, Tensor) and w.dim() >= 2:
            most = max(most, max(int(torch.unique(w.detach()[c]).numel()) for c in range(len(w))))
    return most


def part1(
    data: tuple[str, Tensor, Tensor, Tensor, Tensor], args: argparse.Namespace
) -> list[dict[str, Any]]:
    _, xtr, ytr, xte, yte = data
    side = xtr.shape[-1]
    x_energy = xte[: args.energy_samples].unsqueeze(0)
    rows = []
    for seed in args.seeds:
        for states in STATES:
            torch.manual_seed(seed)
            net = model("lbn", side)
            if states is not None:
                net = quantize(net, states, states, input_bits=8)
            secs = train(net, xtr, ytr, args.epochs, 128, args.lr, seed)
            acc = accuracy(net, xte, yte)
            folded = fold(net)
            acc_folded = accuracy(folded, xte, yte)
            reports = ns.energy.compare(folded, x_energy, PROFILES)
            row = {
                "seed": seed,
                "states": states,
                "label": "fp32" if states is None else f"N={states}",
                "test_accuracy": acc,
                "test_accuracy_folded": acc_folded,
                "train_s": secs,
                "levels_per_channel": levels_per_channel(folded),
                "bits": [
                    [
                        layer.__class__.__name__,
                        getattr(layer, "weight_bits", None),
                        getattr(layer, "act_bits", None),
                    ]
                    for layer in folded
                    if hasattr(layer, "weight")
                ],
                "energy_pj": {p: r.total_pj for p, r in reports.items()},
                "terms_pj": {p: r.terms_pj for p, r in reports.items()},
            }
            rows.append(row)
            print(
                f"seed {seed} {row['label']:>5}: acc {acc:.4f} (folded {acc_folded:.4f}), "
                + ", ".join(f"{p} {e / 1e6:.3f} µJ" for p, e in row["energy_pj"].items())
                + f", {secs:.0f} s",
                flush=True,
            )
    return rows


def part2(
    data: tuple[str, Tensor, Tensor, Tensor, Tensor], args: argparse.Namespace
) -> list[dict[str, Any]]:
    _, xtr, ytr, xte, yte = data
    side = xtr.shape[-1]
    x, y = xtr[: args.batch_samples], ytr[: args.batch_samples]
    rows = []
    for states in (None, 2):
        for norm in ("bn", "lbn"):
            for batch in (1, 128):
                torch.manual_seed(0)
                net = model(norm, side)
                if states is not None:
                    net = quantize(net, states, states, input_bits=8)
                secs = train(net, x, y, 1, batch, args.lr, 0)
                row = {
                    "states": states,
                    "label": "fp32" if states is None else f"N={states}",
                    "norm": norm,
                    "batch": batch,
                    "samples": len(y),
                    "updates": -(-len(y) // batch),
                    "test_accuracy": accuracy(net, xte, yte),
                    "train_s": secs,
                }
                rows.append(row)
                print(
                    f"{row['label']:>5} {norm:>3} B={batch:>3}: acc {row['test_accuracy']:.4f}"
                    f" ({secs:.0f} s)",
                    flush=True,
                )
    # a normalised fully connected layer: per-feature statistics need more than one sample
    for norm in ("bn", "lbn"):
        torch.manual_seed(0)
        net = model(norm, side, hidden=64)
        row = {
            "states": None,
            "label": "fp32 + FC 64",
            "norm": norm,
            "batch": 1,
            "samples": len(y),
            "updates": len(y),
        }
        try:
            row["train_s"] = train(net, x, y, 1, 1, args.lr, 0)
            row["test_accuracy"] = accuracy(net, xte, yte)
        except ValueError as err:  # BatchNorm1d on one sample in training mode
            row["error"] = str(err).splitlines()[-1]
        rows.append(row)
        print(row, flush=True)
    return rows


def _mean(rows: list[dict[str, Any]], key: Any) -> float:
    vals = [key(r) for r in rows]
    return sum(vals) / len(vals)


def write(
    dataset: str,
    args: argparse.Namespace,
    p1: list[dict[str, Any]],
    p2: list[dict[str, Any]],
    minutes: float,
) -> None:
    cmd = "python experiments/maqd/run.py" + (" " + " ".join(args.argv) if args.argv else "")
    lines = [
        f"# MaQD on {dataset}",
        "",
        f"Command: `{cmd}` (OMP_NUM_THREADS=1, 1 torch thread); wall time {minutes:.1f} min.",
        f"{args.train} training / {args.test} test images (random subsets, fixed seed), "
        f"{args.epochs} epochs, Adam lr {args.lr:g}, batch 128, seeds {args.seeds}; energy per "
        f"inference on the first {args.energy_samples} test images after folding LBN.",
        "",
        "## Accuracy and energy (mean over seeds)",
        "",
        "| weights/acts | test acc. | acc. after fold | max levels/channel | "
        + " | ".join(f"{p} (nJ)" for p in PROFILES)
        + " |",
        "|---|---|---|---|" + "---|" * len(PROFILES),
    ]
    for states in STATES:
        rs = [r for r in p1 if r["states"] == states]
        lines.append(
            f"| {rs[0]['label']} | {100 * _mean(rs, lambda r: r['test_accuracy']):.2f} % "
            f"| {100 * _mean(rs, lambda r: r['test_accuracy_folded']):.2f} % "
            f"| {max(r['levels_per_channel'] for r in rs)} | "
            + " | ".join(
                f"{_mean(rs, lambda r, p=p: r['energy_pj'][p]) / 1e3:.1f}" for p in PROFILES
            )
            + " |"
        )
    lines += [
        "",
        f"## Batch size 1 vs 128 (one pass over the same {args.batch_samples} samples, seed 0)",
        "",
        "| acts | norm | batch | updates | test acc. |",
        "|---|---|---|---|---|",
    ]
    for r in p2:
        acc = (
            f"{100 * r['test_accuracy']:.2f} %"
            if "test_accuracy" in r
            else f"cannot train: {r['error']}"
        )
        lines.append(
            f"| {r['label']} | {r['norm'].upper()} | {r['batch']} | {r['updates']} | {acc} |"
        )
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    meta = {"dataset": dataset, "command": cmd, "minutes": minutes} | {
        k: v for k, v in vars(args).items() if k != "argv"
    }
    (HERE / "results.json").write_text(
        json.dumps({"meta": meta, "quantised": p1, "batch_size": p2}, indent=1)
    )
    print("\n".join(lines))


def plot(p1: list[dict[str, Any]], p2: list[dict[str, Any]]) -> None:
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for p, marker in zip(PROFILES, "osD", strict=True):
        xs, ys, labels = [], [], []
        for states in STATES:
            rs = [r for r in p1 if r["states"] == states]
            xs.append(_mean(rs, lambda r, p=p: r["energy_pj"][p]) / 1e3)
            ys.append(100 * _mean(rs, lambda r: r["test_accuracy"]))
            labels.append(rs[0]["label"])
        a.plot(xs, ys, marker=marker, linestyle="none", label=p)
        for xv, yv, text in zip(xs, ys, labels, strict=True):
            a.annotate(text, (xv, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
    a.set_xscale("log")
    a.set_xlabel("energy per inference (nJ)")
    a.set_ylabel("test accuracy (%)")
    a.set_title("fp32 vs N-state weights and activations")
    a.legend(fontsize=8)
    keys = [(s, n) for s in (None, 2) for n in ("bn", "lbn")]
    width = 0.38
    for j, batch in enumerate((1, 128)):
        vals = [
            100
            * next(
                r["test_accuracy"]
                for r in p2
                if "FC" not in r["label"] and (r["states"], r["norm"], r["batch"]) == (s, n, batch)
            )
            for s, n in keys
        ]
        b.bar([i + (j - 0.5) * width for i in range(len(keys))], vals, width, label=f"B={batch}")
    b.set_xticks(range(len(keys)))
    b.set_xticklabels([f"{'fp32' if s is None else 'N=2'}\n{n.upper()}" for s, n in keys])
    b.set_ylabel("test accuracy (%)")
    b.set_title("same samples, batch size 1 vs 128")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "maqd.png", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--energy-samples", type=int, default=200)
    ap.add_argument("--batch-samples", type=int, default=3000)
    ap.add_argument("--replot", action="store_true", help="only redraw maqd.png from results.json")
    args = ap.parse_args()
    if args.replot:
        saved = json.loads((HERE / "results.json").read_text())
        plot(saved["quantised"], saved["batch_size"])
        return
    args.argv = sys.argv[1:]
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = _data(args.train, args.test)
    p1 = part1(data, args)
    p2 = part2(data, args)
    minutes = (time.perf_counter() - t0) / 60
    write(data[0], args, p1, p2, minutes)
    plot(p1, p2)


if __name__ == "__main__":
    main()
