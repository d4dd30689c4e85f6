"""IRNN in the operation counter: recurrent MACs counted by hand."""

import torch

import neurosim as ns
from neurosim.energy import count, make_plan
from neurosim.hardware import load


def test_irnn_recurrent_macs_by_hand() -> None:
    torch.manual_seed(0)
    n, steps, batch = 6, 5, 3
    net = ns.Sequential(ns.Linear(4, n), ns.IRNN(n), ns.Linear(n, 2))
    with torch.no_grad():
        w = torch.randn(n, n)
        w[w.abs() < 0.5] = 0.0  # some absent synapses
        net[1].recurrent.weight.copy_(w)
    x = torch.randn(steps, batch, 4)
    run = net.run(x)
    counts = count(run, make_plan(run, load("loihi")))
    c = counts[1]
    h = run.activity[1].output
    fan = (w != 0).sum(0).to(torch.float64)  # synapses leaving each unit (column of [post, pre])
    macs = sum(float(((h[t] != 0).to(torch.float64) * fan).sum()) for t in range(steps - 1))
    assert c.kind == "activation"
    assert c.analog
    assert float(c.macs) == macs
    assert float(c.dense_macs) == n * n * (steps - 1) * batch
    assert float(c.updates) == n * steps * batch
    assert float(c.synops) == 0.0
    assert float(c.spikes) == 0.0
    # the layer after sees graded input: MACs on nonzero h, dense count n·2 per step
    assert float(counts[2].dense_macs) == n * 2 * steps * batch


def test_irnn_single_step_has_no_recurrent_ops() -> None:
    net = ns.Sequential(ns.Linear(4, 3), ns.IRNN(3), ns.Linear(3, 2))
    run = net.run(torch.randn(1, 2, 4))
    c = count(run, make_plan(run, load("loihi")))[1]
    assert float(c.macs) == 0.0
    assert float(c.dense_macs) == 0.0
