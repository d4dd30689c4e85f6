"""The ``neurosim`` command."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import torch
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from neurosim.energy.report import EnergyReport
    from neurosim.training.job import JobResult

app = typer.Typer(
    name="neurosim",
    help="Simulate spiking networks, estimate their energy on hardware, train them.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


@app.callback()
def _root() -> None:
    """neurosim: spiking networks on PyTorch, with hardware energy estimates."""


class DatasetName(StrEnum):
    digits = "digits"
    mnist = "mnist"
    fashion_mnist = "fashion-mnist"
    cifar10 = "cifar10"
    shd = "shd"
    nmnist = "nmnist"


class ModelKind(StrEnum):
    snn = "snn"
    s2nn = "s2nn"
    ann = "ann"
    bnn = "bnn"


class PenaltyKind(StrEnum):
    energy = "energy"
    spikes = "spikes"
    rate = "rate"
    none = "none"


class Arch(StrEnum):
    mlp = "mlp"
    cnn = "cnn"


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def _validation_message(err: ValidationError) -> str:
    parts, seen = [], set()
    for e in err.errors():
        msg = e["msg"].replace("Value error, ", "")
        if msg in seen:  # the same problem reached through two fields
            continue
        seen.add(msg)
        where = ".".join(str(p) for p in e["loc"])
        got = e.get("input")
        text = f"{where}: {msg}" if where else msg
        parts.append(text if isinstance(got, dict) else f"{text} (got {got!r})")
    return "; ".join(parts)


@app.command()
def train(
    dataset: Annotated[DatasetName, typer.Option(help="Training data.")] = DatasetName.digits,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with the dataset's files (MNIST IDX, SHD .h5, N-MNIST, CIFAR)."),
    ] = None,
    duration_s: Annotated[
        float | None,
        typer.Option(help="shd/nmnist: seconds binned into T bins (default: each sample's span)."),
    ] = None,
    allow_pickle: Annotated[
        bool, typer.Option(help="cifar10: unpickle its batches (pickles can run code).")
    ] = False,
    model: Annotated[
        ModelKind, typer.Option(help="snn (LIF, T steps), s2nn (single-step), ann or bnn.")
    ] = ModelKind.snn,
    arch: Annotated[Arch, typer.Option(help="mlp or small cnn.")] = Arch.mlp,
    T: Annotated[
        int | None,
        typer.Option(
            "--T", "-T", help="Time steps (snn: default 8; others 1); shd/nmnist: time bins."
        ),
    ] = None,
    hidden: Annotated[list[int] | None, typer.Option(help="Hidden width; repeat.")] = None,
    binary_weights: Annotated[
        bool, typer.Option(help="bnn: binarise the weights to ±α as well.")
    ] = False,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 15,
    max_train: Annotated[
        int | None,
        typer.Option(help="Use this many training samples (event data: evenly spaced)."),
    ] = None,
    max_test: Annotated[int | None, typer.Option(help="Use this many test samples.")] = None,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 2e-3,
    seed: Annotated[int, typer.Option(help="Seed for weights, batches, noise.")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    energy_profile: Annotated[
        str | None,
        typer.Option(help="Hardware profile (name or YAML): log energy per inference on it."),
    ] = None,
    energy_weight: Annotated[
        float, typer.Option(help="Weight of the penalty (pJ⁻¹ for the energy penalty).")
    ] = 0.0,
    penalty: Annotated[
        PenaltyKind | None,
        typer.Option(help="energy (the estimate on --energy-profile), spikes, rate, none."),
    ] = None,
) -> None:
    """Train a classifier (default: an SNN on the embedded sklearn digits) and report it.

    With --energy-profile loihi --energy-weight 1e-6 the loss adds 1e-6 × the network's
    estimated energy per inference on Loihi (pJ), the same number `neurosim energy` prints.
    """
    from neurosim.training.distributed import init_from_env
    from neurosim.training.job import TrainConfig, run_job

    model_kw: dict[str, object] = {"kind": model.value, "arch": arch.value, "T": T}
    if hidden:
        model_kw["hidden"] = tuple(hidden)
    if binary_weights:
        model_kw["binary_weights"] = True
    try:
        cfg = TrainConfig.for_dataset(
            dataset.value,
            data_dir=str(data_dir) if data_dir else None,
            duration_s=duration_s,
            allow_pickle=allow_pickle,
            model=model_kw,
            epochs=epochs,
            max_train=max_train,
            max_test=max_test,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            energy_profile=energy_profile,
            penalty=_penalty_config(penalty, energy_weight, energy_profile),
        )
    except ValidationError as err:
        raise _fail(_validation_message(err)) from None
    if threads is not None:
        if threads < 1:
            raise _fail(f"--threads {threads} is not valid; expected >= 1")
        torch.set_num_threads(threads)
    try:
        dev = torch.device(device)
    except RuntimeError as err:  # torch's word for an unknown device string
        raise _fail(f"--device {device!r} is not valid: {err}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _fail(f"--device {device}: CUDA is not available on this machine")
    if dev.type == "cuda" and "LOCAL_RANK" in os.environ and dev.index is None:
        device = f"cuda:{os.environ['LOCAL_RANK']}"  # one GPU per torchrun process
    ctx = init_from_env(device)
    try:
        result = run_job(cfg, out, resume=resume, progress=progress, device=device)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    if ctx.is_main:
        _print_result(cfg.model.kind, cfg.model.steps, result, cfg.logged_profile)


def _penalty_config(
    kind: PenaltyKind | None, weight: float, profile: str | None
) -> dict[str, object]:
    if kind is None:
        kind = PenaltyKind.energy if weight > 0 else PenaltyKind.none
    return {"kind": kind.value, "weight": weight, "profile": profile}


def _print_result(kind: str, steps: int, result: JobResult, profile: str | None) -> None:
    table = Table(title=f"neurosim train — {kind}, T = {steps}", show_header=False)
    table.add_row("test accuracy", f"{100 * result.test_accuracy:.2f} %")
    table.add_row("training time", f"{result.seconds:.1f} s ({len(result.history)} epochs)")
    for name, r in result.firing_rates.items():
        table.add_row(f"firing rate {name}", f"{r:.4f} spikes/neuron/step")
    if result.energy_pj is not None:
        table.add_row(f"energy on {profile}", f"{result.energy_pj:,.0f} pJ per inference")
    table.add_row("checkpoint", str(result.checkpoint))
    console.print(table)


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(help="Show every constant of one profile.")] = None,
) -> None:
    """List the bundled hardware profiles with their sources (or one profile in full)."""
    from neurosim.hardware import load, load_all
    from neurosim.hardware.listing import profile_detail, profiles_table

    try:
        console.print(profile_detail(load(name)) if name else profiles_table(load_all()))
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None


@app.command()
def energy(
    checkpoint: Annotated[
        Path, typer.Option(help="Trained model (default: train the default model there).")
    ] = Path("runs/train/checkpoint.pt"),
    profile: Annotated[
        list[str] | None, typer.Option(help="Profile name or YAML path; repeat. Default: all.")
    ] = None,
    samples: Annotated[int, typer.Option(help="Test samples to average over.")] = 100,
    baseline: Annotated[bool, typer.Option(help="Also price the same net as an ANN.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write reports here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a stacked bar plot (PNG).")] = None,
    detail: Annotated[bool, typer.Option(help="Per-layer table for every profile.")] = True,
) -> None:
    """Energy per inference of a trained network on hardware profiles, per layer and term."""
    import json

    from neurosim.energy.checkpoint import estimate_checkpoint
    from neurosim.energy.report import comparison_table
    from neurosim.hardware import available
    from neurosim.io import atomic_write_bytes

    if not checkpoint.exists() and checkpoint == Path("runs/train/checkpoint.pt"):
        console.print(f"no checkpoint at {checkpoint}: training the default model first")
        from neurosim.training.job import TrainConfig, run_job

        run_job(TrainConfig.for_dataset(), checkpoint.parent, progress=False)
    try:
        result = estimate_checkpoint(checkpoint, profile or list(available()), samples, baseline)
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    if detail:
        for report in result.reports.values():
            console.print(report.table())
    console.print(comparison_table(result.reports))
    if result.ann_reports:
        table = comparison_table(result.ann_reports)
        table.title = "ANN baseline (same layers and weights, ReLU, T = 1)"
        console.print(table)
    if json_out:
        data = {"snn": {k: r.to_dict() for k, r in result.reports.items()}}
        if result.ann_reports:
            data["ann"] = {k: r.to_dict() for k, r in result.ann_reports.items()}
        atomic_write_bytes(json_out, json.dumps(data, indent=2).encode())
    if plot:
        _plot_reports(result.reports, plot)


@app.command()
def sweep(
    out: Annotated[Path, typer.Option(help="Sweep folder (rerun with the same to resume).")],
    config: Annotated[
        Path | None, typer.Option(help="Sweep YAML (a SweepConfig); other grid options ignored.")
    ] = None,
    dataset: Annotated[DatasetName, typer.Option(help="Training data.")] = DatasetName.digits,
    model: Annotated[ModelKind, typer.Option(help="snn, s2nn, ann or bnn.")] = ModelKind.snn,
    arch: Annotated[Arch, typer.Option(help="mlp or small cnn.")] = Arch.mlp,
    T: Annotated[int | None, typer.Option("--T", "-T", help="Time steps.")] = None,
    hidden: Annotated[list[int] | None, typer.Option(help="Hidden width; repeat.")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 15,
    kind: Annotated[
        list[PenaltyKind] | None, typer.Option(help="Penalty kinds; repeat. Default: energy.")
    ] = None,
    weight: Annotated[list[float] | None, typer.Option(help="Penalty weights; repeat.")] = None,
    profile: Annotated[list[str] | None, typer.Option(help="Profiles; repeat.")] = None,
    seed: Annotated[list[int] | None, typer.Option(help="Seeds; repeat.")] = None,
    workers: Annotated[int, typer.Option(help="Local worker processes.")] = 1,
    ray: Annotated[bool, typer.Option("--ray", help="Run each job as a Ray task.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write the Pareto plot (PNG).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train over penalty kind × weight × profile × seed; print the accuracy–energy front."""
    import yaml

    from neurosim.training.sweep import SweepConfig, SweepError, run_sweep

    try:
        if config is not None:
            data = yaml.safe_load(config.read_text())
            sweep_cfg = SweepConfig.model_validate(data)
        else:
            model_kw: dict[str, object] = {"kind": model.value, "arch": arch.value, "T": T}
            if hidden:
                model_kw["hidden"] = tuple(hidden)
            base = {"dataset": dataset.value, "epochs": epochs, "model": model_kw}
            sweep_cfg = SweepConfig.model_validate(
                {
                    "base": base,
                    "kinds": [k.value for k in kind or [PenaltyKind.energy]],
                    "weights": weight or [],
                    "profiles": profile or ["loihi"],
                    "seeds": seed or [0],
                }
            )
    except ValidationError as err:
        raise _fail(_validation_message(err)) from None
    except (OSError, yaml.YAMLError) as err:
        raise _fail(f"sweep config {config}: {err}") from None
    try:
        result = run_sweep(sweep_cfg, out, workers=workers, use_ray=ray, progress=progress)
    except SweepError as err:
        console.print(err.result.front_table())
        raise _fail(str(err)) from None
    except (ImportError, FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    console.print(f"{len(result.ran)} runs trained, {len(result.skipped)} already done")
    console.print(result.front_table())
    console.print(f"table: {result.json_path}, {result.csv_path}")
    if plot:
        from matplotlib.figure import Figure

        from neurosim.viz import plot_pareto

        fig = Figure(figsize=(7, 4.5), layout="constrained")
        plot_pareto(result.rows, fig.add_subplot())
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=120)


@app.command()
def record(
    out: Annotated[Path, typer.Option("-o", "--out", help="HDF5 recording to write.")],
    checkpoint: Annotated[Path, typer.Option(help="Trained model.")] = Path(
        "runs/train/checkpoint.pt"
    ),
    samples: Annotated[int, typer.Option(help="Test samples to run.")] = 8,
    membranes: Annotated[bool, typer.Option(help="Also record membrane traces.")] = True,
) -> None:
    """Run a trained network on test samples and record its spikes to HDF5."""
    import torch

    from neurosim.models import build_encoder
    from neurosim.training.job import load_data, load_model

    if samples < 1:
        raise _fail(f"--samples {samples} is not valid; expected >= 1")
    try:
        net, cfg = load_model(checkpoint)
        x = load_data(cfg, "test", samples).tensors[0]
    except (FileNotFoundError, ValueError) as err:
        raise _fail(str(err)) from None
    x_seq = build_encoder(cfg.model)(x, torch.Generator().manual_seed(cfg.seed))
    with torch.no_grad():
        run = net.run(x_seq, record_membrane=membranes)
    meta = {"checkpoint": str(checkpoint), "dataset": cfg.dataset, "seed": cfg.seed}
    run.save(out, network=net, metadata=meta, membranes=membranes)
    console.print(f"recorded {len(x)} samples × {x_seq.shape[0]} steps to {out}")


@app.command()
def raster(
    recording: Annotated[Path, typer.Argument(help="HDF5 recording (run.save / save_run).")],
    out: Annotated[
        Path,
        typer.Option("-o", "--out", help="Image (PNG, PDF, SVG) or animation (GIF, MP4)."),
    ],
    layer: Annotated[
        list[str] | None, typer.Option(help="Layer name or index; repeat. Default: all.")
    ] = None,
    sample: Annotated[int, typer.Option(help="Which sample of the batch.")] = 0,
) -> None:
    """Spike raster of a recorded run (layers stacked); .gif/.mp4 animate it step by step."""
    from matplotlib.figure import Figure

    from neurosim.io import RecordingError, load_run
    from neurosim.viz import plot_rasters

    try:
        with load_run(recording) as rec:
            names = [_layer_name(rec.layers, spec) for spec in layer] if layer else rec.layers
            if not 0 <= sample < rec.B:
                raise ValueError(f"--sample {sample} out of range: the recording has {rec.B}")
            spikes = {n: rec.spikes(n, samples=slice(sample, sample + 1)) for n in names}
    except (FileNotFoundError, RecordingError, ValueError) as err:
        raise _fail(str(err)) from None
    if out.suffix.lower() in (".gif", ".mp4"):
        from neurosim.viz import animate_raster

        try:
            anim = animate_raster(spikes, out)
        except (RuntimeError, ValueError) as err:  # .mp4 without ffmpeg; nothing to animate
            raise _fail(str(err)) from None
        console.print(f"wrote {anim.n_frames} frames to {out}")
        return
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    plot_rasters(spikes, fig.add_subplot())
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def _layer_name(layers: list[str], spec: str) -> str:
    if spec in layers:
        return spec
    matches = [n for n in layers if n.split(".", 1)[0] == spec]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"--layer {spec!r} is not a recorded layer; recorded: {', '.join(layers)}")


plot_app = typer.Typer(help="Plots of saved results.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")


@plot_app.command("energy")
def plot_energy_cmd(
    report: Annotated[Path, typer.Argument(help="Report JSON (neurosim energy --json).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Image to write.")],
) -> None:
    """Stacked energy bars from a saved report (one profile) or comparison (several)."""
    import json

    from neurosim.energy.report import report_from_dict

    try:
        data = json.loads(report.read_text())
        if isinstance(data, dict) and "snn" in data:  # neurosim energy --json
            reports = {k: report_from_dict(v, f"{report} [{k}]") for k, v in data["snn"].items()}
        else:
            one = report_from_dict(data, str(report))
            reports = {one.profile: one}
    except (OSError, ValueError) as err:
        raise _fail(f"energy report {report}: {err}") from None
    _plot_reports(reports, out)


def _plot_reports(reports: dict[str, EnergyReport], path: Path) -> None:
    from matplotlib.figure import Figure

    from neurosim.viz import plot_energy, plot_energy_comparison

    if len(reports) == 1:
        fig = Figure(figsize=(7, 4), layout="constrained")
        plot_energy(next(iter(reports.values())), fig.add_subplot())
    else:
        fig = Figure(figsize=(max(7, len(reports) * 0.8), 4.5), layout="constrained")
        plot_energy_comparison(reports, fig.add_subplot())
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
