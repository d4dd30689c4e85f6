"""neurosim: ``ns.Sequential`` of lifted layers and ``LIF.from_beta(0.9, surrogate="atan")``.

Neurons get ``backend="auto"`` when ``ns.LIF`` takes a ``backend`` keyword (on the CPU the
numba-compiled LIF loops, else the fused torch kernel); otherwise the default time loop
runs. Reset: neurosim's default (immediate subtraction, reset not detached); the
same-spikes check uses snnTorch's convention instead.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from benchmarks.cases import Case
from benchmarks.workload import (
    BETA,
    N_IN,
    N_OUT,
    THRESHOLD,
    Bench,
    Unsupported,
    conv_weights,
    copy_into,
    fc_weights,
    inputs,
    make_step,
)


def backend_note() -> str:
    import neurosim as ns

    if "backend" in inspect.signature(ns.LIF.__init__).parameters:
        return 'backend="auto"'
    return "no backend keyword (time loop)"


def lif(**kwargs: Any) -> Any:
    import neurosim as ns

    if "backend" in inspect.signature(ns.LIF.__init__).parameters:
        kwargs.setdefault("backend", "auto")
    return ns.LIF.from_beta(BETA, v_th=THRESHOLD, surrogate="atan", reset="subtract", **kwargs)


def fc_net(hidden: int, **lif_kwargs: Any) -> Any:
    import neurosim as ns

    w = fc_weights(hidden)
    net = ns.Sequential(
        ns.Linear(N_IN, hidden), lif(**lif_kwargs), ns.Linear(hidden, N_OUT), lif(**lif_kwargs)
    )
    copy_into(net[0], w["w1"], w["b1"])
    copy_into(net[2], w["w2"], w["b2"])
    return net


def conv_net(channels: list[int], image: int) -> Any:
    import neurosim as ns

    c0, c1, c2 = channels
    w = conv_weights(channels, image)
    side = image // 4
    net = ns.Sequential(
        ns.Conv2d(c0, c1, 3, padding=1),
        ns.AvgPool2d(2),
        lif(),
        ns.Conv2d(c1, c2, 3, padding=1),
        ns.AvgPool2d(2),
        lif(),
        ns.Flatten(),
        ns.Linear(c2 * side * side, N_OUT),
        lif(),
    )
    copy_into(net[0], w["c1.w"], w["c1.b"])
    copy_into(net[3], w["c2.w"], w["c2.b"])
    copy_into(net[7], w["fc.w"], w["fc.b"])
    return net


def build(case: Case) -> Bench:
    import neurosim  # noqa: F401  (PeerMissing when absent)

    x, y = inputs(case)
    note = backend_note()
    if case.group in ("fc_forward", "fc_train", "sparse_infer"):
        net = fc_net(case.params["H"])
        return Bench(make_step(net, x, y, case.train, net.parameters()), note)
    if case.group == "conv_train":
        net = conv_net(case.params["channels"], case.params["image"])
        return Bench(make_step(net, x, y, case.train, net.parameters()), note)
    if case.group == "neuron_train":
        neuron = lif()
        x.requires_grad_(True)
        return Bench(make_step(lambda v: neuron(v)[0], x, y, True, [], loss="mean"), note)
    raise Unsupported(f"neurosim has no builder for group {case.group!r}")


def energy_steps(case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """The steps of the energy-overhead case, and facts about the plan.

    ``plain``: ``net(x)``, cross-entropy on the spike counts, backward. ``counting``: the
    same on ``net.run(x)`` plus ``ns.energy.count(run, plan)`` with autograd on (as inside
    a training step; the counts are differentiable), the plan made once here.
    ``counting_no_grad``: the counts taken under ``torch.no_grad()`` (monitoring only).
    """
    import time

    import torch.nn.functional as F

    import neurosim as ns

    x, y = inputs(case)
    net = fc_net(case.params["H"])
    params = list(net.parameters())
    profile = ns.hardware.load(case.params.get("profile", "loihi"))
    t0 = time.perf_counter()
    with torch.no_grad():
        plan = ns.energy.make_plan(net.run(x), profile)
    plan_ms = (time.perf_counter() - t0) * 1e3
    sink: list[float] = []

    def plain() -> None:
        for p in params:
            p.grad = None
        F.cross_entropy(net(x).sum(0), y).backward()

    def counting(grad: bool) -> Any:
        def step() -> None:
            for p in params:
                p.grad = None
            run = net.run(x)
            F.cross_entropy(run.output.sum(0), y).backward()
            with torch.set_grad_enabled(grad):
                counts = ns.energy.count(run, plan)
            sink.append(float(sum(c.synops.detach() + c.spikes.detach() for c in counts)))

        return step

    steps = {"plain": plain, "counting": counting(True), "counting_no_grad": counting(False)}
    return steps, {"make_plan_ms": plan_ms, "profile": profile.name}


def spikes(case: Case, like: str = "neurosim") -> list[torch.Tensor]:
    """Spikes of both LIF layers of the FC net; ``like="snntorch"`` uses snnTorch's reset
    convention (``reset_timing="delayed", detach_reset=True``), else neurosim's default
    (immediate subtraction, as SpikingJelly, Norse and sinabs)."""
    x, _ = inputs(case)
    kwargs: dict[str, Any] = {}
    if like == "snntorch":
        kwargs = {"reset_timing": "delayed", "detach_reset": True}
    net = fc_net(case.params["H"], **kwargs)
    with torch.no_grad():
        run = net.run(x)
    return [a.output for a in run.spiking_layers()]
