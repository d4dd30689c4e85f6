"""Sequential.forward in chunks of steps (streaming): same spikes as one call, states carried
from chunk to chunk, and only where every layer is local in time and no gradient is needed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import neurosim.core.network as network
from neurosim.core import (
    IF,
    LIF,
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Lifted,
    Linear,
    RecurrentLIF,
    Sequential,
)
from neurosim.core.rnn import IRNN


def _seeded(net: Sequential, seed: int, scale: float = 0.6) -> Sequential:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            # multiples of 1/64: every partial sum is exact, so any summation order (dense or
            # event path, any number of rows) gives bitwise the same currents
            p.copy_(torch.round(torch.randn(p.shape, generator=g) * scale * 64) / 64)
    return net


def _nets() -> dict[str, tuple[Sequential, tuple[int, ...]]]:
    return {
        "fc": (Sequential(Linear(12, 16), LIF.from_beta(0.85), Linear(16, 5), IF()), (12,)),
        "recurrent": (Sequential(Linear(12, 16), RecurrentLIF.from_beta(0.9, n=16)), (12,)),
        "irnn": (Sequential(Linear(12, 8), IRNN(8), Linear(8, 4), LIF.from_beta(0.8)), (12,)),
        "conv": (
            Sequential(
                Conv2d(2, 4, 3, padding=1),
                AvgPool2d(2),
                LIF.from_beta(0.9, v_th=0.5),
                Flatten(),
                Linear(4 * 4 * 4, 6),
                nn.ReLU(),
                Dropout(0.3).eval(),
                LIF.from_beta(0.7),
            ),
            (2, 8, 8),
        ),
    }


@pytest.mark.parametrize("name", list(_nets()))
@pytest.mark.parametrize("chunk", [1, 3, 7, 0, 50])
def test_chunks_equal_one_call(name: str, chunk: int) -> None:
    net, shape = _nets()[name]
    net = _seeded(net, 1)
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(23, 3, *shape, generator=g) < 0.3).float()
    with torch.no_grad():
        whole = net(x, chunk=0)
        assert whole.abs().sum() > 0
        assert torch.equal(net(x, chunk=chunk), whole)
        assert torch.equal(net(x), whole)  # the automatic choice
        run = net.run(x)  # run() keeps everything and never chunks
    assert torch.equal(run.output, whole)


def test_chunked_call_continues_from_a_state() -> None:
    net = _seeded(_nets()["fc"][0], 4)
    x = (torch.rand(20, 2, 12, generator=torch.Generator().manual_seed(5)) < 0.4).float()
    with torch.no_grad():
        first = net.run(x[:8])
        rest = net(x[8:], state=first.states, chunk=5)
        whole = net(x, chunk=0)
    assert torch.equal(torch.cat([first.output, rest]), whole)


class _Counting(Linear):
    calls: list[int]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return super().forward(x)


def _counted(*after: nn.Module) -> tuple[Sequential, list[int]]:
    first = _Counting(6, 40)
    first.calls = []
    return Sequential(first, LIF.from_beta(0.9), *after), first.calls


def test_automatic_chunks_follow_the_byte_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budget of 2 steps of the widest output (40 floats x B = 2): the first chunk is sized
    by the input (6 floats per sample: 6 steps), the rest by the widest layer (2 steps)."""
    monkeypatch.setattr(network, "CHUNK_BYTES", 2 * 40 * 2 * 4)
    net, calls = _counted()
    x = torch.rand(13, 2, 6)
    with torch.no_grad():
        net(x)
    assert calls == [13]  # the input is 48 B per step: all 13 steps fit
    calls.clear()
    monkeypatch.setattr(network, "CHUNK_BYTES", 2 * 6 * 2 * 4)  # 2 steps of the input
    with torch.no_grad():
        net(x)
    assert calls == [2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    "case",
    ["grad", "lifted", "dropout_training"],
)
def test_no_chunks_where_results_could_change(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "CHUNK_BYTES", 1)  # would be one step per chunk
    after: list[nn.Module] = []
    if case == "lifted":
        after = [Lifted(nn.BatchNorm1d(40))]  # training-mode statistics over all T x B
    if case == "dropout_training":
        after = [Dropout(0.5)]
    net, calls = _counted(*after)
    x = torch.rand(9, 4, 6)
    if case == "grad":
        net(x)
    else:
        with torch.no_grad():
            net(x)
    assert calls == [9]


@pytest.mark.parametrize("bad", [-1, True, 2.5, "4"])
def test_bad_chunk(bad: Any) -> None:
    net, _ = _counted()
    with pytest.raises(ValueError, match="chunk="):
        net(torch.rand(3, 2, 6), chunk=bad)


def test_bayesian_layers_see_one_weight_sample_per_sequence() -> None:
    from neurosim.transforms.bayes import bayesian

    torch.manual_seed(0)
    base = Sequential(Linear(6, 12), LIF.from_beta(0.9, v_th=0.3), Linear(12, 4), IF(v_th=0.3))
    net = bayesian(base, components=2, prior_std=1.0, init_std=0.3)
    x = (torch.rand(16, 3, 6) < 0.5).float()
    with torch.no_grad():
        d = net.draw(generator=torch.Generator().manual_seed(1))
        assert torch.equal(net(x, chunk=3, draw=d), net(x, chunk=0, draw=d))
        plain = Sequential(*net.layers)  # outside a BayesianSequential: a draw per call
        assert not network.time_local(plain[0])
        assert network.Sequential._auto_chunk(plain, x) == 0
