"""``results.json`` and ``results.md``: the table of medians, ratios and peak memory, and
the issue's goals checked against the numbers of the same run."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.cases import GROUPS
from benchmarks.peers import DISPLAY
from benchmarks.runner import CaseResult

__all__ = ["evaluate_goals", "markdown", "to_json", "write"]

TRAIN_GROUPS = ("fc_train", "neuron_train", "conv_train")


def _ok(r: dict[str, Any] | None) -> bool:
    return r is not None and r.get("status") == "ok" and "median_ms" in r


def to_json(rows: list[CaseResult], meta: dict[str, Any]) -> dict[str, Any]:
    cases = []
    for row in rows:
        d = row.case.to_dict()
        d["results"] = row.results
        if row.same_spikes is not None:
            d["same_spikes"] = row.same_spikes
        if row.energy is not None:
            d["energy"] = row.energy
        cases.append(d)
    return {"meta": meta, "cases": cases, "goals": evaluate_goals(cases)}


def _ms(cases: list[dict[str, Any]], name: str, lib: str) -> float | None:
    for c in cases:
        if c["name"] == name:
            r = c["results"].get(lib)
            return r["median_ms"] if _ok(r) else None
    return None


def _peers_ok(case: dict[str, Any]) -> dict[str, float]:
    return {
        lib: r["median_ms"] for lib, r in case["results"].items() if lib != "neurosim" and _ok(r)
    }


def _goal(text: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"goal": text, "measured": measured, "met": met}


def evaluate_goals(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's five goals, each with what was measured and whether it is met
    (``None``: the run lacks the numbers, e.g. a peer or case did not run)."""
    goals = []
    train = [c for c in cases if c["group"] in TRAIN_GROUPS and _ok(c["results"].get("neurosim"))]

    # 1. training no slower than the fastest peer, and >= 1.2x snnTorch on the median case
    worst: tuple[float, str, str] | None = None
    snn_ratios = []
    for c in train:
        ns_ms = c["results"]["neurosim"]["median_ms"]
        others = _peers_ok(c)
        if others:
            lib = min(others, key=others.__getitem__)
            ratio = others[lib] / ns_ms
            if worst is None or ratio < worst[0]:
                worst = (ratio, c["name"], lib)
        if "snntorch" in others:
            snn_ratios.append(others["snntorch"] / ns_ms)
    if worst is None:
        goals.append(_goal("training no slower than the fastest peer", "no peer ran", None))
    else:
        ratio, name, lib = worst
        goals.append(
            _goal(
                "training no slower than the fastest peer in every training case",
                f"worst case {name}: fastest peer {DISPLAY[lib]} / neurosim = {ratio:.2f}",
                ratio >= 1.0,
            )
        )
    if snn_ratios:
        med = statistics.median(snn_ratios)
        goals.append(
            _goal(
                "training >= 1.2x faster than snnTorch on the median case",
                f"median over {len(snn_ratios)} training cases of snnTorch / neurosim = "
                f"{med:.2f} (range {min(snn_ratios):.2f}-{max(snn_ratios):.2f})",
                med >= 1.2,
            )
        )
    else:
        goals.append(_goal("training >= 1.2x faster than snnTorch", "snnTorch did not run", None))

    # 2. neuron layer alone >= 2x snnTorch
    neuron = [c for c in cases if c["group"] == "neuron_train"]
    if (
        neuron
        and _ok(neuron[0]["results"].get("neurosim"))
        and _ok(neuron[0]["results"].get("snntorch"))
    ):
        r = neuron[0]["results"]
        ratio = r["snntorch"]["median_ms"] / r["neurosim"]["median_ms"]
        goals.append(
            _goal(
                "neuron layer alone >= 2x faster than snnTorch",
                f"{neuron[0]['name']}: snnTorch / neurosim = {ratio:.2f}",
                ratio >= 2.0,
            )
        )
    else:
        goals.append(_goal("neuron layer alone >= 2x faster than snnTorch", "not measured", None))

    # 3. peak memory of the largest FC training case <= 0.5x snnTorch
    big = [c for c in cases if c["group"] == "fc_train"]
    big.sort(key=lambda c: c["params"]["T"] * c["params"]["H"])
    if big and _ok(big[-1]["results"].get("neurosim")) and _ok(big[-1]["results"].get("snntorch")):
        r = big[-1]["results"]
        ns_mb, snn_mb = r["neurosim"]["peak_mb"], r["snntorch"]["peak_mb"]
        ratio = ns_mb / snn_mb if snn_mb > 0 else float("inf")
        goals.append(
            _goal(
                "peak memory of the largest FC training case <= 0.5x snnTorch",
                f"{big[-1]['name']}: neurosim {ns_mb:.0f} MB, snnTorch {snn_mb:.0f} MB "
                f"(ratio {ratio:.2f})",
                ratio <= 0.5,
            )
        )
    else:
        goals.append(_goal("peak memory <= 0.5x snnTorch", "not measured", None))

    # 4. sparse inference at the lowest rate >= 3x the fastest dense peer
    sparse = [c for c in cases if c["group"] == "sparse_infer"]
    sparse.sort(key=lambda c: c["params"]["rate"])
    if sparse and _ok(sparse[0]["results"].get("neurosim")) and _peers_ok(sparse[0]):
        c = sparse[0]
        others = _peers_ok(c)
        lib = min(others, key=others.__getitem__)
        ratio = others[lib] / c["results"]["neurosim"]["median_ms"]
        goals.append(
            _goal(
                f"inference at rate {c['params']['rate']:g} >= 3x faster than the fastest "
                "dense peer",
                f"{c['name']}: fastest peer {DISPLAY[lib]} / neurosim = {ratio:.2f}",
                ratio >= 3.0,
            )
        )
    else:
        goals.append(_goal("sparse inference >= 3x the fastest peer", "not measured", None))

    # 5. energy counting adds <= 5 % to a training step
    energy = [c for c in cases if c.get("energy") and c["energy"].get("status") == "ok"]
    if energy:
        e = energy[0]["energy"]
        goals.append(
            _goal(
                "energy counting adds <= 5 % to a training step",
                f"{energy[0]['name']}: {e['median_ms']:.1f} ms -> {e['counting_ms']:.1f} ms "
                f"({100 * e['overhead']:+.1f} %; counts without autograd "
                f"{100 * e['overhead_no_grad']:+.1f} %)",
                e["overhead"] <= 0.05,
            )
        )
    else:
        goals.append(_goal("energy counting adds <= 5 %", "not measured", None))
    return goals


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "—"
    if _ok(r):
        return f"{r['median_ms']:.1f}" + ("*" if r.get("noisy") else "")
    return str(r.get("status", "?"))


def _mb(r: dict[str, Any] | None) -> str:
    return f"{r['peak_mb']:.0f}" if _ok(r) and r and "peak_mb" in r else "—"


def _same_cell(same: dict[str, Any] | None, libs: list[str]) -> str:
    if same is None:
        return ""
    if same.get("status") != "ok":
        return str(same.get("status"))
    cells = []
    for lib in libs:
        r = same["by_lib"].get(lib, {})
        if r.get("status") != "ok":
            cells.append("—")
        elif r["same"]:
            cells.append("yes")
        else:
            cells.append(f"no ({sum(r['mismatches'])} of {sum(r['elements'])} differ)")
    return " · ".join(cells)


def markdown(data: dict[str, Any]) -> str:
    meta, cases = data["meta"], data["cases"]
    libs = [lib for lib in meta["libs"] if lib != "neurosim"]
    out = [f"# neurosim benchmarks ({meta['suite']} suite)", ""]
    out.append(f"- command: `{meta['command']}`")
    out.append(f"- date: {meta['date']}; suite wall time {meta.get('wall_s', 0):.0f} s")
    out.append(f"- machine: {meta['machine']}")
    o = meta["options"]
    warm = f"{o['warmup']} warm-up step{'s' if o['warmup'] != 1 else ''}"
    out.append(
        f"- timing: one child process per case and library, torch threads {o['threads']}, "
        f"{warm}, then the median of {o['iters']} steps run while no "
        f"other process competed for the cores (stall < {100 * o['clean']:.0f} %; "
        f"up to {o['max_steps_factor'] * o['iters']} steps or {o['budget_s']:g} s tried)"
        if o["clean"] <= 1
        else f"- timing: one child process per case and library, torch threads "
        f"{o['threads']}, {warm}, median of {o['iters']} steps"
    )
    vers = ", ".join(f"{DISPLAY[k]} {v or 'not installed'}" for k, v in meta["versions"].items())
    out.append(f"- versions: {vers}")
    out.append(
        f"- neurosim: commit {meta.get('neurosim_commit', '?')} (source digest "
        f"{meta.get('neurosim_source', '?')}); neurons {meta.get('neurosim_backend', '?')}"
    )
    if meta.get("neurosim_changed_during_run"):
        if meta.get("neurosim_snapshot"):
            out.append(
                "- neurosim's working tree changed during the run; every measurement used "
                "the copy taken at the start (digest above)"
            )
        else:
            out.append("- **warning: neurosim's source changed during this run** (mixed versions)")
    out += ["", "Times in ms per step (median); ratio = peer / neurosim (> 1: neurosim faster);"]
    out += [
        "peak MB = growth of the child process's max RSS over the warm-up and timed steps;",
        "same spikes = both layers' output spikes identical to neurosim's on the same weights",
        "and input (vs snnTorch with neurosim in snnTorch's reset convention).",
        "\\* = fewer than 3 steps ran without another process competing for the cores",
        "(CPU pressure stall ≥ 5 % of the step); that median is over disturbed steps.",
        "",
    ]
    head = ["case", "neurosim ms"]
    for lib in libs:
        head += [f"{DISPLAY[lib]} ms", f"{DISPLAY[lib]}/ns"]
    head.append("peak MB (" + " · ".join(DISPLAY[lib] for lib in meta["libs"]) + ")")
    head.append("same spikes (" + " · ".join(DISPLAY[lib] for lib in libs) + ")")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    for c in cases:
        if c["group"] == "energy_overhead":
            continue
        res = c["results"]
        ns = res.get("neurosim")
        row = [c["name"], _cell(ns)]
        for lib in libs:
            r = res.get(lib)
            row.append(_cell(r))
            ratio = r["median_ms"] / ns["median_ms"] if _ok(r) and _ok(ns) and r and ns else None
            row.append(f"{ratio:.2f}" if ratio is not None else "—")
        row.append(" · ".join(_mb(res.get(lib)) for lib in meta["libs"]))
        row.append(_same_cell(c.get("same_spikes"), libs))
        out.append("| " + " | ".join(row) + " |")
    for c in cases:
        e = c.get("energy")
        if c["group"] != "energy_overhead" or e is None:
            continue
        out += ["", f"Energy counting ({c['name']}, {GROUPS['energy_overhead']}):", ""]
        if e.get("status") == "ok":
            out.append(
                f"training step {e['median_ms']:.1f} ms; with `ns.energy.count` per step "
                f"{e['counting_ms']:.1f} ms ({100 * e['overhead']:+.1f} %), counts under "
                f"`torch.no_grad()` {e['counting_no_grad_ms']:.1f} ms "
                f"({100 * e['overhead_no_grad']:+.1f} %); {e['note']}"
            )
        else:
            out.append(f"{e.get('status')}: {e.get('message', '')}")
    problems = [
        (c["name"], lib, r)
        for c in cases
        for lib, r in c["results"].items()
        if r.get("status") not in ("ok",)
    ]
    if problems:
        out += ["", "Rows that did not run:", ""]
        seen = set()
        for name, lib, r in problems:
            key = (lib, r.get("status"), r.get("message"))
            if key in seen:
                continue
            seen.add(key)
            out.append(f"- {DISPLAY[lib]} ({name}…): {r.get('status')} — {r.get('message', '')}")
    out += ["", "Goals:", ""]
    for g in data["goals"]:
        mark = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        out.append(f"- {g['goal']}: **{mark}** — {g['measured']}")
    notes = {lib: n for lib, n in meta.get("notes", {}).items() if n}
    if notes:
        out += ["", "Configuration:", ""]
        out += [f"- {DISPLAY[lib]}: {n}" for lib, n in notes.items()]
    return "\n".join(out) + "\n"


def write(rows: list[CaseResult], meta: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; return the JSON data."""
    notes: dict[str, str] = {}
    for row in rows:
        for lib, r in row.results.items():
            if r.get("status") == "ok" and r.get("note") and row.case.group != "energy_overhead":
                notes.setdefault(lib, r["note"])
    meta = {**meta, "notes": notes, "neurosim_backend": notes.get("neurosim", "?")}
    data = to_json(rows, meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    (out_dir / "results.md").write_text(markdown(data))
    return data
