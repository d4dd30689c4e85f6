"""S2NN (single-step spiking) vs ANN, BNN and multi-step SNN: accuracy and energy.

The claim tested (S2NN paper, methods.md §2): the single-step spiking network (T = 1,
real-valued input and output, spikes between hidden layers) is within about 1 pt of the
ANN's accuracy and needs less energy per inference than the multi-step SNN and the BNN.
Every model has the same layer sizes; energy is neurosim's estimate (first layer dense MACs
on the analog input, spiking layers synaptic operations = spikes × exact fan-out).

    OMP_NUM_THREADS=1 python experiments/s2nn/run.py     # writes results.md, results.json,
                                                         # s2nn.png beside this file
Fashion-MNIST is read from the Debian package ``dataset-fashion-mnist``
(/usr/share/datasets/fashion-mnist); without it the Fashion-MNIST rows are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from neurosim.datasets import load
from neurosim.energy import compare
from neurosim.models import build_encoder
from neurosim.training.job import TrainConfig, load_model, run_job

HERE = Path(__file__).resolve().parent
DENSE_PROFILES = ["asic45-fp32", "asic45-int8", "gpu", "cpu"]
SPIKING_PROFILES = [*DENSE_PROFILES, "loihi", "fpga-hls"]
# label → model config (T of the snn is set from --snn-T)
MODELS: dict[str, dict[str, Any]] = {
    "s2nn": {"kind": "s2nn"},
    "ann": {"kind": "ann"},
    "bnn": {"kind": "bnn"},
    "bnn-bw": {"kind": "bnn", "binary_weights": True},
    "snn": {"kind": "snn"},
    "s2nn-max": {"kind": "s2nn", "pool": "max"},  # cnn only: max-pooled spikes stay binary
}
CNN_ONLY = {"s2nn-max"}
ARCHS: dict[str, dict[str, Any]] = {
    "mlp": {"arch": "mlp", "hidden": (128,)},
    "cnn": {"arch": "cnn", "channels": (16, 32), "hidden": (128,)},
}


def _fashion_available() -> bool:
    try:
        load("fashion-mnist", "test")
        return True
    except FileNotFoundError:
        return False


def _energy(
    cfg: TrainConfig, net: torch.nn.Module, n: int, spiking: bool
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean energy per inference (pJ) on each profile over the first ``n`` test samples,
    in total and per term."""
    x_all = load(cfg.dataset, "test", cfg.data_dir).tensors[0][:n]
    encoder = build_encoder(cfg.model)
    profiles = SPIKING_PROFILES if spiking else DENSE_PROFILES
    total = dict.fromkeys(profiles, 0.0)
    terms: dict[str, dict[str, float]] = {p: {} for p in profiles}
    layers: dict[str, float] = {}  # asic45-fp32 per layer
    gen = torch.Generator().manual_seed(cfg.seed)
    for chunk in x_all.split(250):
        reports = compare(net, encoder(chunk, gen), profiles)  # type: ignore[arg-type]
        for name, rep in reports.items():
            total[name] += rep.total_pj * len(chunk)
            for t, v in rep.terms_pj.items():
                terms[name][t] = terms[name].get(t, 0.0) + v * len(chunk)
        for layer in reports["asic45-fp32"].per_layer:
            layers[layer.name] = layers.get(layer.name, 0.0) + layer.total_pj * len(chunk)
    per = len(x_all)
    terms["asic45-fp32 per layer"] = layers  # divided by ``per`` below
    return (
        {k: v / per for k, v in total.items()},
        {p: {t: v / per for t, v in d.items()} for p, d in terms.items()},
    )


def _train_or_reuse(
    cfg: TrainConfig, run_dir: Path, retrain: bool
) -> tuple[torch.nn.Module, dict[str, Any], list[float]]:
    """Train ``cfg`` into ``run_dir``, or reuse a finished run of the same config there
    (so that energies can be re-priced without retraining). Returns the network, the job's
    metrics and the 1-min load average before and after training."""
    metrics_path, load_path = run_dir / "metrics.json", run_dir / "load.json"
    if not retrain and metrics_path.is_file() and load_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        if metrics["config"] == cfg.model_dump(mode="json"):
            net, _ = load_model(run_dir / "checkpoint.pt")
            return net, metrics, json.loads(load_path.read_text())
    before = os.getloadavg()[0]
    res = run_job(cfg, run_dir, progress=False)
    load_avg = [before, os.getloadavg()[0]]
    load_path.write_text(json.dumps(load_avg))
    return res.net, json.loads(metrics_path.read_text()), load_avg


def _one(
    dataset: str, arch: str, label: str, seed: int, args: argparse.Namespace
) -> dict[str, Any]:
    model = dict(MODELS[label]) | ARCHS[arch]
    if model["kind"] == "snn":
        model["T"] = args.snn_T
    small = dataset == "digits"
    cfg = TrainConfig.for_dataset(
        dataset,
        model=model,
        epochs=args.digits_epochs if small else args.epochs,
        max_train=None if small else args.max_train,
        max_test=None if small else args.max_test,
        seed=seed,
    )
    run_dir = args.out / f"{dataset}-{arch}-{label}-seed{seed}"
    net, metrics, load_avg = _train_or_reuse(cfg, run_dir, args.retrain)
    epoch_s = [h["seconds"] for h in metrics["history"]]
    energy, terms = _energy(cfg, net, args.energy_samples, cfg.model.kind in ("snn", "s2nn"))
    row = {
        "dataset": dataset,
        "arch": arch,
        "model": label,
        "seed": seed,
        "kind": cfg.model.kind,
        "T": cfg.model.steps,
        "binary_weights": cfg.model.binary_weights,
        "epochs": cfg.epochs,
        "train_samples": len(load(dataset, "train")) if small else args.max_train,
        "test_accuracy": metrics["test_accuracy"],
        "firing_rates": metrics["firing_rates"],
        "energy_pj": energy,
        "terms_pj": terms,
        # the papers' convention: 4.6 pJ per MAC + 0.9 pJ per synaptic op, no memory
        "ops_only_pj": terms["asic45-fp32"]["synaptic"] + terms["asic45-fp32"]["dense"],
        "train_seconds": metrics["train_seconds"],
        "epoch_seconds": epoch_s,
        "epoch_seconds_median": statistics.median(epoch_s),
        "load_avg_1min": load_avg,
    }
    e = row["energy_pj"]["asic45-fp32"]
    print(
        f"{dataset:13s} {arch} {label:6s} seed {seed} acc {100 * row['test_accuracy']:6.2f} %  "
        f"asic45-fp32 {e / 1e3:10.2f} nJ  epoch {row['epoch_seconds_median']:.2f} s",
        flush=True,
    )
    return row


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (dataset, arch, model): means over seeds (accuracy also its sd)."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["arch"], r["model"]) for r in rows):
        group = [r for r in rows if (r["dataset"], r["arch"], r["model"]) == key]
        accs = [r["test_accuracy"] for r in group]
        layers = group[0]["firing_rates"]
        out.append(
            {
                "dataset": key[0],
                "arch": key[1],
                "model": key[2],
                "T": group[0]["T"],
                "seeds": [r["seed"] for r in group],
                "accuracies": accs,
                "accuracy_mean": statistics.fmean(accs),
                "accuracy_sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "energy_pj": {
                    p: statistics.fmean(r["energy_pj"][p] for r in group)
                    for p in group[0]["energy_pj"]
                },
                "ops_only_pj": statistics.fmean(r["ops_only_pj"] for r in group),
                "firing_rates": {
                    k: statistics.fmean(r["firing_rates"][k] for r in group) for k in layers
                },
                "epoch_seconds_median": statistics.median(
                    s for r in group for s in r["epoch_seconds"]
                ),
            }
        )
    return out


def _find(summary: list[dict[str, Any]], dataset: str, arch: str, model: str) -> dict[str, Any]:
    return next(
        s for s in summary if (s["dataset"], s["arch"], s["model"]) == (dataset, arch, model)
    )


def _table(summary: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | arch | model | T | test acc. (mean ± sd) | Δ vs ANN (pt) | "
        + " | ".join(f"{p} (nJ)" for p in SPIKING_PROFILES)
        + " | ops only, 45 nm (nJ) | s / epoch | firing rate per spiking layer |",
        "|---|---|---|---|---|---|" + "---|" * len(SPIKING_PROFILES) + "---|---|---|",
    ]
    for r in summary:
        ann = _find(summary, r["dataset"], r["arch"], "ann")
        delta = 100 * (r["accuracy_mean"] - ann["accuracy_mean"])
        energies = " | ".join(
            f"{r['energy_pj'][p] / 1e3:,.1f}" if p in r["energy_pj"] else "—"
            for p in SPIKING_PROFILES
        )
        rates = ", ".join(f"{v:.3f}" for v in r["firing_rates"].values()) or "—"
        lines.append(
            f"| {r['dataset']} | {r['arch']} | {r['model']} | {r['T']} | "
            f"{100 * r['accuracy_mean']:.2f} ± {100 * r['accuracy_sd']:.2f} % | {delta:+.2f} | "
            f"{energies} | {r['ops_only_pj'] / 1e3:,.1f} | {r['epoch_seconds_median']:.2f} | "
            f"{rates} |"
        )
    return lines


def _verdict(e: float, others: dict[str, float]) -> str:
    """``cheaper than a (×r); equal to b; dearer than c`` with r = other / e."""
    verdict: dict[str, list[str]] = {"cheaper than": [], "equal to": [], "dearer than": []}
    for m, other in others.items():
        if abs(other - e) <= 1e-3 * e:
            key = "equal to"
        else:
            key = "cheaper than" if e < other else "dearer than"
        verdict[key].append(f"{m} (×{other / e:.2f})")
    return "; ".join(f"{k} {', '.join(v)}" for k, v in verdict.items() if v)


def _claims(summary: list[dict[str, Any]]) -> list[str]:
    out = []
    for dataset, arch in dict.fromkeys((r["dataset"], r["arch"]) for r in summary):
        ann = _find(summary, dataset, arch, "ann")
        rivals = {m: _find(summary, dataset, arch, m) for m in ("snn", "bnn", "bnn-bw")}
        for variant in ("s2nn", "s2nn-max"):
            if not any(r["model"] == variant for r in summary if r["arch"] == arch):
                continue
            s2nn = _find(summary, dataset, arch, variant)
            gap = 100 * (ann["accuracy_mean"] - s2nn["accuracy_mean"])
            pairs = zip(ann["accuracies"], s2nn["accuracies"], strict=True)
            per_seed = ", ".join(f"{100 * (a - s):+.2f}" for a, s in pairs)
            out.append(
                f"- {dataset} {arch}, {variant}: {100 * s2nn['accuracy_mean']:.2f} % vs ANN "
                f"{100 * ann['accuracy_mean']:.2f} %: ANN − S2NN = {gap:+.2f} pt on average, "
                f"{'within' if gap <= 1.0 else 'NOT within'} 1 pt (per seed {per_seed})."
            )
            for p in DENSE_PROFILES:
                e = s2nn["energy_pj"][p]
                parts = _verdict(e, {m: r["energy_pj"][p] for m, r in rivals.items()})
                e_ann = ann["energy_pj"][p] / 1e3
                out.append(f"  - {p}: {e / 1e3:,.1f} nJ, {parts} (ANN {e_ann:,.1f} nJ)")
            e = s2nn["ops_only_pj"]
            parts = _verdict(e, {m: r["ops_only_pj"] for m, r in (rivals | {"ann": ann}).items()})
            label = (
                "ops only (asic45-fp32 synaptic + dense terms: 4.6 pJ/MAC, 0.9 pJ/synop at "
                "32 bit; BNN layers at their bit widths)"
            )
            out.append(f"  - {label}: {e / 1e3:,.1f} nJ, {parts}")
    return out


def _breakdown(rows: list[dict[str, Any]], dataset: str, seed: int) -> list[str]:
    """Per-layer energy on asic45-fp32 of the CNNs of one seed (nonzero layers)."""
    cnns = [r for r in rows if (r["dataset"], r["arch"], r["seed"]) == (dataset, "cnn", seed)]
    if not cnns:
        return []
    lines = [
        f"## Where the energy goes: {dataset} CNN, seed {seed}, asic45-fp32 (nJ per inference)",
        "",
        "| model | energy per layer (layer: nJ) | memory share of the total |",
        "|---|---|---|",
    ]
    for r in cnns:
        per_layer = r["terms_pj"]["asic45-fp32 per layer"]
        parts = ", ".join(f"{k}: {v / 1e3:,.1f}" for k, v in per_layer.items() if v > 0)
        t = r["terms_pj"]["asic45-fp32"]
        share = t["memory"] / sum(t.values())
        lines.append(f"| {r['model']} | {parts} | {100 * share:.0f} % |")
    return lines


def _plot(summary: list[dict[str, Any]], path: Path) -> None:
    groups = list(dict.fromkeys((r["dataset"], r["arch"]) for r in summary))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), squeeze=False)
    colours = dict(zip(MODELS, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, (dataset, arch) in zip(axes[0], groups, strict=True):
        for r in summary:
            if (r["dataset"], r["arch"]) != (dataset, arch):
                continue
            e, acc = r["energy_pj"]["asic45-fp32"] / 1e3, 100 * r["accuracy_mean"]
            ax.errorbar(e, acc, yerr=100 * r["accuracy_sd"], fmt="o",
                        color=colours[r["model"]], zorder=3, capsize=3)  # fmt: skip
            ax.annotate(r["model"], (e, acc), fontsize=8, xytext=(4, 3),
                        textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(f"{dataset}, {arch}", fontsize=10)
        ax.set_xlabel("energy / inference, asic45-fp32 (nJ)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%, mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "runs")
    ap.add_argument("--epochs", type=int, default=5, help="Fashion-MNIST epochs")
    ap.add_argument("--digits-epochs", type=int, default=15)
    ap.add_argument("--max-train", type=int, default=10000, help="Fashion-MNIST train subset")
    ap.add_argument("--max-test", type=int, default=10000, help="Fashion-MNIST test subset")
    ap.add_argument("--energy-samples", type=int, default=1000, help="test samples priced")
    ap.add_argument("--snn-T", type=int, default=4, help="time steps of the multi-step SNN")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist"])
    ap.add_argument("--retrain", action="store_true", help="ignore finished runs in --out")
    args = ap.parse_args()
    torch.set_num_threads(1)

    datasets = [d for d in args.datasets if d != "fashion-mnist" or _fashion_available()]
    t0 = time.perf_counter()
    rows = [
        _one(dataset, arch, label, seed, args)
        for dataset in datasets
        for arch in ARCHS
        for label in MODELS
        if arch == "cnn" or label not in CNN_ONLY
        for seed in args.seeds
    ]  # fmt: skip
    minutes = (time.perf_counter() - t0) / 60
    train_min = sum(r["train_seconds"] for r in rows) / 60
    summary = _summarise(rows)
    command = (
        "OMP_NUM_THREADS=1 python experiments/s2nn/run.py "
        f"--epochs {args.epochs} --digits-epochs {args.digits_epochs} "
        f"--max-train {args.max_train} --max-test {args.max_test} "
        f"--energy-samples {args.energy_samples} --snn-T {args.snn_T} "
        f"--seeds {' '.join(map(str, args.seeds))} "
        f"--datasets {' '.join(args.datasets)}"
    )
    lines = [
        "# S2NN vs ANN, BNN and multi-step SNN",
        "",
        f"Command: `{command}`",
        "",
        f"Training (incl. per-epoch test evaluation) {train_min:.1f} min, this invocation "
        f"{minutes:.1f} min, one torch thread; 1-min load average of the (shared, "
        f"2-core) machine during the runs: {min(r['load_avg_1min'][0] for r in rows):.1f}–"
        f"{max(max(r['load_avg_1min']) for r in rows):.1f}.",
        "Energy per inference in nJ (mean over the first "
        f"{args.energy_samples} test samples); ANN/BNN are not priced on loihi/fpga-hls.",
        "",
        *_table(summary),
        "",
        "## The claim, row by row",
        "",
        *_claims(summary),
        "",
        *_breakdown(rows, datasets[-1], args.seeds[0]),
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    meta = {"command": command, "minutes": minutes, "summary": summary, "rows": rows}
    (HERE / "results.json").write_text(json.dumps(meta, indent=2))
    _plot(summary, HERE / "s2nn.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
