"""Tests for the numba-compiled LIF loops (neurosim.core.kernels_cpu) beyond the matrix of
``test_kernels.py`` (which runs every reset, timing, surrogate and parameter shape through
``backend="compiled"`` against the step loop): neuron blocks, threads, what they refuse, and
the backward's reuse of the saved membrane."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import neurosim.core.jit as jit
import neurosim.core.kernels as kernels
import neurosim.core.kernels_cpu as kernels_cpu
from neurosim.core import LIF, RecurrentLIF
from neurosim.core.kernels import lif_fused
from neurosim.core.neurons import LIFParams
from neurosim.core.surrogate import ATan, StraightThrough, get


def _grads(lif: Any, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    xr = x.clone().requires_grad_(True)
    spikes, state = lif(xr)
    w = torch.linspace(-1.0, 1.0, x.shape[-1], dtype=x.dtype)
    loss = (spikes * w).sum() + state.v.pow(2).sum()
    return (spikes, state.v, *torch.autograd.grad(loss, [xr, lif.beta, lif.v_th]))


@pytest.mark.parametrize("threads", [1, 2])
def test_many_neuron_blocks_and_threads(threads: int) -> None:
    """N = 2 × 2300 neurons: three blocks of ``BLOCK`` (the last one short), on 1 or 2 threads."""
    assert 2 * kernels_cpu.BLOCK < 2 * 2300
    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, 2, 2300, generator=g, dtype=torch.float64) * 0.7 + 0.3
    make = {"beta": torch.rand(2300, generator=g) * 0.5 + 0.45, "v_th": 0.8}
    loop = LIF.from_beta(**make, learn_beta=True, learn_threshold=True, backend="loop").double()
    comp = LIF.from_beta(**make, learn_beta=True, learn_threshold=True, backend="compiled")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours = _grads(comp.double(), x)
    finally:
        torch.set_num_threads(before)
    ref = _grads(loop, x)
    assert torch.equal(ours[0], ref[0])
    assert torch.equal(ours[1], ref[1])
    for a, b in zip(ours[2:], ref[2:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_straight_through_with_clip_and_sigmoid() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(6, 3, 7, generator=g, dtype=torch.float64) + 0.5
    for sur in (StraightThrough(clip=0.3), get("sigmoid", slope=5.0)):
        res = []
        for backend in ("loop", "compiled"):
            lif = LIF.from_beta(
                0.7, v_th=1.0, surrogate=sur, learn_beta=True, learn_threshold=True, backend=backend
            )
            res.append(_grads(lif.double(), x))
        for a, b in zip(*res, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_auto_runs_compiled_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = kernels_cpu.lif_compiled

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels_cpu, "lif_compiled", counting)
    x = torch.rand(4, 2, 3)
    LIF()(x)
    assert calls == [1]
    LIF(backend="fused")(x)
    RecurrentLIF(n=3)(x)  # recurrent weights: the torch node
    LIF(surrogate="atan").half()(x.half())  # float16: the torch node
    assert calls == [1]


@pytest.mark.parametrize(
    ("make", "dtype", "reason"),
    [
        (lambda: RecurrentLIF(n=3, backend="compiled"), torch.float32, "recurrent"),
        (lambda: LIF(backend="compiled").half(), torch.float16, "float16"),
        (lambda: LIF(surrogate=_MyATan(), backend="compiled"), torch.float32, "_MyATan"),
    ],
)
def test_compiled_backend_says_what_it_cannot_run(make: Any, dtype: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        make()(torch.rand(3, 2, 3, dtype=dtype))


class _MyATan(ATan):
    """A subclass may change ``grad``: the compiled kernels only take the exact classes."""


def test_smooth_forward_is_refused_by_name() -> None:
    p = LIFParams(torch.tensor(0.9), torch.tensor(1.0))
    with pytest.raises(ValueError, match="smooth"):
        lif_fused(torch.rand(3, 2, 2), None, p, get("atan"), smooth_forward=True, compiled=True)


def test_backward_reuses_membrane_only_when_safe() -> None:
    """The backward writes ∂L/∂h over the saved membrane: not over a returned trace, and a
    later use of the saved membrane raises instead of reading gradients."""
    g = torch.Generator().manual_seed(9)
    x = (torch.randn(5, 2, 4, generator=g) + 0.5).requires_grad_(True)
    lif = LIF.from_beta(0.9, v_th=0.5, backend="compiled")
    _, _, mem = lif.trace(x)
    ref = LIF.from_beta(0.9, v_th=0.5, backend="loop").trace(x.detach())[2]
    (mem.sum() * 2).backward()
    assert torch.equal(mem, ref)  # the trace the caller holds is untouched

    spikes, _ = lif(x)
    loss = spikes.sum() + spikes.pow(2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"second time|modified by an inplace"):
        loss.backward()


def test_compiled_needs_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jit, "numba", None)
    p = LIFParams(torch.tensor(0.9), torch.tensor(1.0))
    with pytest.raises(ValueError, match="numba is not installed"):
        lif_fused(torch.rand(3, 2, 2), None, p, get("atan"), compiled=True)
    s, _, _ = kernels.lif_fused(torch.rand(3, 2, 2), None, p, get("atan"))  # torch node
    assert s.shape == (3, 2, 2)


def _lif_sum(x: torch.Tensor, queue: Any) -> None:
    queue.put((float(LIF.from_beta(0.9, v_th=0.3)(x)[0].sum()), jit.usable()))


@pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(), reason="needs fork"
)
def test_a_forked_process_runs_the_kernels() -> None:
    """numba's GNU OpenMP layer aborts a forked child that runs a parallel kernel after the
    parent did: such a child runs the torch kernel instead, with the same spikes."""
    import multiprocessing

    x = torch.rand(6, 3, 5, generator=torch.Generator().manual_seed(0))
    expected = float(LIF.from_beta(0.9, v_th=0.3)(x)[0].sum())  # the pool is now running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_lif_sum, args=(x, queue))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    total, usable = queue.get(timeout=10)
    assert total == expected
    import numba

    assert usable == (numba.threading_layer() != "omp")


def test_everything_runs_without_numba() -> None:
    """With numba missing (import blocked) the torch paths run: LIF forward and backward,
    the event-driven Linear, streaming and energy counting."""
    import subprocess
    import sys

    code = """
import sys
sys.modules["numba"] = None  # import numba -> ImportError
import torch
import neurosim as ns
from neurosim.core import jit
assert not jit.available() and not jit.usable()
torch.manual_seed(0)
lif = ns.LIF.from_beta(0.9, v_th=0.5)
net = ns.Sequential(ns.Linear(20, 400), lif, ns.Linear(400, 3), ns.LIF())
x = (torch.rand(6, 4, 20) < 0.1).float()
out = net(x)
out.sum().backward()
with torch.no_grad():
    assert torch.equal(net(x, chunk=2), net(x, chunk=0))
    run = net.run(x)
plan = ns.energy.make_plan(run, ns.hardware.load("loihi"))
print(float(ns.energy.count(run, plan)[0].synops))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) > 0
