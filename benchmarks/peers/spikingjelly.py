"""SpikingJelly (activation_based), multi-step mode (``step_mode="m"``).

``LIFNode(tau=10, decay_input=False, v_reset=None)`` is ``h = (1 − 1/τ)·v + x`` = β·v + x
with β = 0.9 and a soft (subtract) reset applied immediately; ``surrogate.ATan(alpha=2)``.
On a CPU tensor SpikingJelly runs its torch implementation (no CuPy, no Triton; in 2.0 a
Python loop over T inside a custom op with a hand-written backward). It fires at
``h >= v_th`` (the others at ``h > v_th``). ``functional.reset_net`` clears state each step.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

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


def _lif() -> Any:
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.LIFNode(
        tau=1.0 / (1.0 - BETA),
        decay_input=False,
        v_threshold=THRESHOLD,
        v_reset=None,
        surrogate_function=surrogate.ATan(alpha=2.0),
        detach_reset=False,
        step_mode="m",
    )


def _fc(hidden: int) -> nn.Sequential:
    from spikingjelly.activation_based import layer

    w = fc_weights(hidden)
    net = nn.Sequential(
        layer.Linear(N_IN, hidden, step_mode="m"),
        _lif(),
        layer.Linear(hidden, N_OUT, step_mode="m"),
        _lif(),
    )
    copy_into(net[0], w["w1"], w["b1"])
    copy_into(net[2], w["w2"], w["b2"])
    return net


def _conv(channels: list[int], image: int) -> nn.Sequential:
    from spikingjelly.activation_based import layer

    c0, c1, c2 = channels
    w = conv_weights(channels, image)
    side = image // 4
    net = nn.Sequential(
        layer.Conv2d(c0, c1, 3, padding=1, step_mode="m"),
        layer.AvgPool2d(2, step_mode="m"),
        _lif(),
        layer.Conv2d(c1, c2, 3, padding=1, step_mode="m"),
        layer.AvgPool2d(2, step_mode="m"),
        _lif(),
        layer.Flatten(step_mode="m"),
        layer.Linear(c2 * side * side, N_OUT, step_mode="m"),
        _lif(),
    )
    copy_into(net[0], w["c1.w"], w["c1.b"])
    copy_into(net[3], w["c2.w"], w["c2.b"])
    copy_into(net[7], w["fc.w"], w["fc.b"])
    return net


def build(case: Case) -> Bench:
    from spikingjelly.activation_based import functional

    x, y = inputs(case)
    note = "LIFNode(tau=10, decay_input=False, v_reset=None), ATan(2), step_mode=m, CPU torch"
    if case.group in ("fc_forward", "fc_train", "sparse_infer", "conv_train"):
        if case.group == "conv_train":
            net = _conv(case.params["channels"], case.params["image"])
        else:
            net = _fc(case.params["H"])

        def reset() -> None:
            functional.reset_net(net)

        return Bench(make_step(net, x, y, case.train, net.parameters(), before=reset), note)
    if case.group == "neuron_train":
        node = _lif()
        x.requires_grad_(True)

        def reset_node() -> None:
            functional.reset_net(node)

        def run(v: Tensor) -> Tensor:
            out: Tensor = node(v)
            return out

        return Bench(make_step(run, x, y, True, [], before=reset_node, loss="mean"), note)
    raise Unsupported(f"no SpikingJelly builder for group {case.group!r}")


def spikes(case: Case) -> list[Tensor]:
    """Spikes of both LIF layers of the FC net on the case's input."""
    import torch
    from spikingjelly.activation_based import functional

    x, _ = inputs(case)
    net = _fc(case.params["H"])
    functional.reset_net(net)
    with torch.no_grad():
        s1 = net[1](net[0](x))
        return [s1, net[3](net[2](s1))]
