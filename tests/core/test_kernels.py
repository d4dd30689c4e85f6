"""Tests for the fused multi-step LIF kernel (neurosim.core.kernels) and the backend switch.

The reference is the step loop (``backend="loop"``): the fused kernel must give exactly the
same spikes, final states and membranes, and gradients equal to rounding.
"""

from __future__ import annotations

import copy
import zlib
from typing import Any

import pytest
import torch
from torch import Tensor

import neurosim.core.kernels as kernels
import neurosim.core.neuron_layers as neuron_layers
from neurosim.core import IF, LIF, LIFState, RecurrentLIF
from neurosim.core.kernels import lif_fused
from neurosim.core.neurons import LIFParams, lif_step
from neurosim.core.surrogate import available, get

SURROGATES = ["atan", "fast_sigmoid", "s2nn", "triangle"]
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
T, B, N = 7, 3, 5


@pytest.fixture(autouse=True)
def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 steps (T = 7: 2, 2, 2 and a last block of 1), so every case crosses the
    backward's block boundaries as long runs do."""
    monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", 2 * B * N)


def _assert_grad_close(ours: Tensor | None, ref: Tensor | None, dtype: torch.dtype) -> None:
    """``allclose`` at the dtype's tolerance, the absolute part scaled to the gradient's size
    (BPTT gradients reach ~10²; float32 sums in another order differ by a few ulp of that)."""
    if ours is None and ref is None:
        return
    assert ours is not None
    assert ref is not None
    tol = TOL[dtype]
    scale = max(1.0, ref.abs().max().item())
    torch.testing.assert_close(ours, ref, rtol=tol, atol=tol * scale)


def _seed(*case: object) -> int:
    """A seed per test case that does not depend on PYTHONHASHSEED."""
    return zlib.crc32(repr(case).encode())


def _inputs(dtype: torch.dtype, seed: int, init: bool) -> tuple[Tensor, LIFState | None]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.4
    if not init:
        return x, None
    v0 = torch.randn(B, N, generator=g, dtype=dtype)
    s0 = (torch.rand(B, N, generator=g, dtype=dtype) < 0.5).to(dtype)
    return x, LIFState(v0, s0)


def _compare(
    loop: Any,
    x: Tensor,
    state: LIFState | None,
    params: list[Tensor],
    seed: int = 99,
    backend: str = "fused",
) -> None:
    """Run ``loop`` and its copy with ``backend`` on the same input; compare outputs and
    gradients."""
    fused = copy.deepcopy(loop)
    fused.backend = backend
    dtype = x.dtype
    g = torch.Generator().manual_seed(seed)
    w_s, w_m = (torch.randn(T, B, N, generator=g, dtype=dtype) for _ in range(2))
    w_v = torch.randn(B, N, generator=g, dtype=dtype)
    results = []
    for module in (loop, fused):
        outputs, grads = [], []
        for use_trace in (True, False):  # trace() saves the whole membrane, forward() blocks
            xr = x.clone().requires_grad_(True)
            st = None
            if state is not None:
                st = LIFState(state.v.clone().requires_grad_(), state.s.clone().requires_grad_())
            if use_trace:
                spikes, final, mem = module.trace(xr, st)
                loss = (mem * w_m).sum()
                outputs += [spikes, final.v, final.s, mem]
            else:
                spikes, final = module(xr, st)
                loss = spikes.new_zeros(())
                outputs += [spikes, final.v, final.s]
            loss = loss + (spikes * w_s).sum() + (final.v * w_v).sum() + (final.s * w_s[0]).sum()
            leaves = [xr, *(st or ()), *(dict(module.named_parameters())[p] for p in params)]
            grads += torch.autograd.grad(loss, leaves, allow_unused=True)
        results.append((outputs, grads))
    (out_l, g_l), (out_f, g_f) = results
    for ours, ref in zip(out_f, out_l, strict=True):
        assert ours.dtype == ref.dtype
        assert torch.equal(ours, ref)  # spikes, final state and membrane: bitwise
    for ours, ref in zip(g_f, g_l, strict=True):
        # the loop gives None where the fused node gives zeros (e.g. s0 under detach_reset)
        if ref is None and ours is not None:
            ref = torch.zeros_like(ours)
        _assert_grad_close(ours, ref, dtype)


# ----------------------------------------------------------------- fused == loop


BACKENDS = ["fused", "compiled"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("init", [False, True], ids=["rest", "state"])
@pytest.mark.parametrize("per_neuron", ["none", "beta", "both"])
@pytest.mark.parametrize("learn", [False, True], ids=["fixed", "learn"])
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("detach", [False, True], ids=["grad_reset", "detach_reset"])
@pytest.mark.parametrize(
    ("reset", "timing"),
    [
        ("subtract", "immediate"),
        ("subtract", "delayed"),
        ("zero", "immediate"),
        ("zero", "delayed"),
        ("none", "immediate"),  # "none" has no reset to time
    ],
)
def test_fused_lif_equals_loop(
    reset: Any,
    timing: Any,
    detach: bool,
    surrogate: str,
    learn: bool,
    per_neuron: str,
    init: bool,
    dtype: torch.dtype,
    backend: str,
) -> None:
    seed = _seed(reset, timing, detach, surrogate, learn, per_neuron, init)
    g = torch.Generator().manual_seed(seed)
    beta: float | Tensor = 0.8
    v_th: float | Tensor = 1.0
    if per_neuron in ("beta", "both"):
        beta = torch.rand(N, generator=g) * 0.5 + 0.45
    if per_neuron == "both":
        v_th = torch.rand(N, generator=g) * 0.5 + 0.75
    loop = LIF.from_beta(
        beta,
        v_th=v_th,
        v_reset=0.25 if reset == "zero" else 0.0,
        reset=reset,
        reset_timing=timing,
        detach_reset=detach,
        surrogate=surrogate,
        learn_beta=learn,
        learn_threshold=learn,
        backend="loop",
    ).to(dtype)
    x, state = _inputs(dtype, seed, init)
    _compare(loop, x, state, ["beta", "v_th"] if learn else [], backend=backend)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("init", [False, True], ids=["rest", "state"])
@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("surrogate", ["atan", "triangle"])
@pytest.mark.parametrize("detach", [False, True], ids=["grad_reset", "detach_reset"])
@pytest.mark.parametrize(
    ("reset", "timing"), [("subtract", "immediate"), ("subtract", "delayed"), ("zero", "immediate")]
)
def test_fused_recurrent_equals_loop(
    reset: Any, timing: Any, detach: bool, surrogate: str, bias: bool, init: bool, dtype: Any
) -> None:
    seed = _seed(reset, timing, detach, surrogate, bias, init)
    torch.manual_seed(seed)  # nn.Linear's initialisation
    loop = RecurrentLIF.from_beta(
        0.85,
        n=N,
        bias=bias,
        v_th=torch.linspace(0.8, 1.2, N),
        reset=reset,
        reset_timing=timing,
        detach_reset=detach,
        surrogate=surrogate,
        learn_beta=True,
        learn_threshold=True,
        backend="loop",
    ).to(dtype)
    with torch.no_grad():
        loop.recurrent.weight.mul_(3.0)  # strong enough that recurrent input changes spikes
    x, state = _inputs(dtype, seed, init)
    params = ["beta", "v_th", "recurrent.weight"] + (["recurrent.bias"] if bias else [])
    _compare(loop, x, state, params)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fused_if_equals_loop(reset: Any, backend: str) -> None:
    loop = IF(v_th=torch.linspace(0.6, 1.4, N), reset=reset, learn_threshold=True, backend="loop")
    x, state = _inputs(torch.float32, 5, True)
    _compare(loop, x, state, ["v_th"], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_per_channel_params_on_feature_maps(reset: Any, backend: str) -> None:
    """β and v_th of shape [C, 1, 1] broadcast over [B, C, H, W] steps; grads reduce to it."""
    g = torch.Generator().manual_seed(17)
    x = torch.randn(6, 2, 3, 4, 4, generator=g, dtype=torch.float64) * 0.8 + 0.4
    loop = LIF.from_beta(
        torch.tensor([0.5, 0.8, 0.95]).view(3, 1, 1),
        v_th=torch.tensor([0.7, 1.0, 1.3]).view(3, 1, 1),
        reset=reset,
        learn_beta=True,
        learn_threshold=True,
        backend="loop",
    ).double()
    fused = copy.deepcopy(loop)
    fused.backend = backend
    out = []
    for module in (loop, fused):
        xr = x.clone().requires_grad_(True)
        spikes, _, mem = module.trace(xr)
        loss = (spikes * torch.linspace(-1, 1, 16, dtype=x.dtype).view(4, 4)).sum() + mem.sum()
        out.append((spikes, torch.autograd.grad(loss, [xr, module.beta, module.v_th])))
    assert torch.equal(out[0][0], out[1][0])
    for ours, ref in zip(out[1][1], out[0][1], strict=True):
        assert ours.shape == ref.shape
        _assert_grad_close(ours, ref, torch.float64)


def test_fused_on_larger_input_with_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block boundaries: one step per block, blocks of 3 steps and a short one, one block."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(40, 8, 33, generator=g, dtype=torch.float64) * 0.7 + 0.3
    lif = LIF.from_beta(0.9, learn_beta=True, learn_threshold=True).double()
    reference = None
    for chunk in (1, 3 * 8 * 33 + 5, 1 << 30):
        monkeypatch.setattr(kernels, "CHUNK_ELEMENTS", chunk)
        grads: list[Tensor] = []
        for use_trace in (True, False):
            xr = x.clone().requires_grad_(True)
            if use_trace:
                spikes, state, mem = lif.trace(xr)
                loss = spikes.sum() + mem.pow(2).sum()
            else:
                spikes, state = lif(xr)
                loss = (spikes * x).sum() + state.v.pow(2).sum()
            assert spikes.any()
            grads += torch.autograd.grad(loss, [xr, lif.beta, lif.v_th])
        if reference is None:
            reference = grads
        for ours, ref in zip(grads, reference, strict=True):
            _assert_grad_close(ours, ref, torch.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_dtypes_follow_the_loop(backend: Any) -> None:
    """float64 input through float32 parameters (scalar and per neuron) computes in float64."""
    x, state = _inputs(torch.float64, 3, True)
    for v_th in (1.0, torch.linspace(0.8, 1.2, N)):
        loop = LIF.from_beta(0.8, v_th=v_th, backend="loop")  # float32 parameters
        fused = LIF.from_beta(0.8, v_th=v_th, backend=backend)
        s_l, f_l, m_l = loop.trace(x, state)
        s_f, f_f, m_f = fused.trace(x, state)
        assert s_f.dtype == s_l.dtype == torch.float64
        assert torch.equal(s_f, s_l)
        assert torch.equal(m_f, m_l)
        assert torch.equal(f_f.s, f_l.s)


@pytest.mark.parametrize("backend", BACKENDS)
def test_continuation_over_two_calls_equals_one_call(backend: Any) -> None:
    x, _ = _inputs(torch.float32, 8, False)
    lif = LIF.from_beta(0.9, v_th=0.7, backend=backend)
    whole, state_whole = lif(x)
    first, st = lif(x[:3])
    rest, state_rest = lif(x[3:], st)
    assert torch.equal(torch.cat([first, rest]), whole)
    assert torch.equal(state_rest.v, state_whole.v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_retain_graph_backward_twice_and_no_double_backward(backend: Any) -> None:
    x, _ = _inputs(torch.float64, 4, False)
    x.requires_grad_(True)
    lif = LIF.from_beta(0.9, v_th=0.5, backend=backend).double()
    spikes, _, mem = lif.trace(x)
    loss = spikes.sum() + mem.sum()
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x)
    assert torch.equal(g1, g2)
    spikes, _ = lif(x)  # no trace: the compiled backward may reuse the saved membrane
    (g1,) = torch.autograd.grad(spikes.sum(), x, retain_graph=True)
    (g2,) = torch.autograd.grad(spikes.sum(), x)
    assert torch.equal(g1, g2)
    spikes, _, mem = lif.trace(x)
    (g,) = torch.autograd.grad((spikes + mem).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()


@pytest.mark.parametrize("compiled", [False, True])
def test_no_grad_keeps_no_membrane_and_matches(compiled: bool) -> None:
    x, _ = _inputs(torch.float32, 6, False)
    x.requires_grad_(True)
    p = LIFParams(torch.tensor(0.9), torch.tensor(0.6))
    with torch.no_grad():
        s, st, mem = lif_fused(x, None, p, get("atan"), compiled=compiled)
    assert mem is None
    assert not s.requires_grad
    ref_s, ref_st, _ = LIF.from_beta(0.9, v_th=0.6, backend="loop").trace(x.detach())
    assert torch.equal(s, ref_s)
    assert torch.equal(st.v, ref_st.v)


def test_kernel_rejects_integer_input() -> None:
    p = LIFParams(torch.tensor(0.9), torch.tensor(1.0))
    with pytest.raises(TypeError, match="floating"):
        lif_fused(torch.ones(3, 2, 2, dtype=torch.int64), None, p, get("atan"))


# ----------------------------------------------------------------- gradcheck

# With ``smooth_forward=True`` the kernel fires ``surrogate.smooth(h − v_th)`` instead of the
# step, so its forward is a smooth function of every input (x, the initial state, β, v_th,
# W_rec, b), and its hand-written backward (which uses ``surrogate.grad``, the derivative of
# ``smooth``) must be that function's exact gradient: gradcheck compares it with finite
# differences, through every reset rule and timing, the reset's dependence on s (the term
# ``detach_reset`` drops on purpose, hence not detached here) and the recurrent matmul.
# The recurrence, the reductions to parameter shapes and the initial-state terms are the same
# code as in the hard-spike mode; only the spike function differs.


@pytest.mark.parametrize("recurrent", [False, True], ids=["lif", "recurrent"])
@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize(
    ("reset", "timing"),
    [
        ("subtract", "immediate"),
        ("subtract", "delayed"),
        ("zero", "immediate"),
        ("none", "immediate"),
    ],
)
def test_gradcheck_smooth_forward(reset: Any, timing: Any, surrogate: str, recurrent: bool) -> None:
    g = torch.Generator().manual_seed(21)
    f64 = torch.float64

    def rand(*shape: int, lo: float = 0.0, hi: float = 1.0) -> Tensor:
        t = torch.rand(shape, generator=g, dtype=f64) * (hi - lo) + lo
        return t.requires_grad_(True)

    x = rand(4, 2, 3, lo=-0.2, hi=1.2)
    beta, v_th = rand(3, lo=0.4, hi=0.9), rand(lo=0.8, hi=1.2)
    v0, s0 = rand(2, 3, lo=-0.5, hi=1.0), rand(2, 3)
    w, b = rand(3, 3, lo=-0.4, hi=0.4), rand(3, lo=-0.1, hi=0.1)
    sg = get(surrogate, width=2.0) if surrogate == "triangle" else get(surrogate)

    def run(x: Tensor, beta: Tensor, v_th: Tensor, v0: Tensor, s0: Tensor, *wb: Tensor) -> Any:
        p = LIFParams(beta, v_th, 0.2, reset, timing)
        rec = {"w_rec": wb[0], "b_rec": wb[1]} if wb else {}
        s, st, m = lif_fused(x, LIFState(v0, s0), p, sg, membrane=True, smooth_forward=True, **rec)
        assert m is not None
        return s, st.v, st.s, m

    inputs = (x, beta, v_th, v0, s0, w, b) if recurrent else (x, beta, v_th, v0, s0)
    assert torch.autograd.gradcheck(run, inputs)


# ----------------------------------------------------------------- backend switch


@pytest.mark.parametrize("cls", [LIF, IF, RecurrentLIF])
def test_backend_default_and_validation(cls: Any) -> None:
    extra = {"n": 3} if cls is RecurrentLIF else {}
    assert cls(**extra).backend == "auto"
    with pytest.raises(ValueError, match="'gpu'"):
        cls(backend="gpu", **extra)
    assert "backend='loop'" in repr(cls(backend="loop", **extra))


def _count_kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return lif_fused(*args, **kwargs)

    monkeypatch.setattr(neuron_layers, "lif_fused", counting)
    return calls


def test_backend_routes_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_kernel_calls(monkeypatch)
    x = torch.rand(4, 2, 3)
    for backend, expected in (("loop", 0), ("auto", 2), ("fused", 2)):
        calls.clear()
        lif = LIF(backend=backend)  # type: ignore[arg-type]
        lif(x)
        lif.trace(x)
        assert len(calls) == expected, backend
    calls.clear()  # auto on integer input: the loop, same result as before
    s, _ = LIF.from_beta(0.5, v_th=1.0)(torch.tensor([[[2]], [[0]]]))
    assert calls == []
    assert s.flatten().tolist() == [1.0, 0.0]


def test_subclass_with_own_step_runs_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class Custom(LIF):
        def _step(self, x_t: Tensor, state: LIFState, p: LIFParams) -> tuple[Tensor, LIFState]:
            return lif_step(2.0 * x_t, state, p, self.surrogate)

    calls = _count_kernel_calls(monkeypatch)
    x = torch.rand(5, 2, 3)
    assert torch.equal(Custom()(x)[0], LIF()(2.0 * x)[0])
    assert calls == [1]  # only the plain LIF
    with pytest.raises(TypeError, match="fused"):
        Custom(backend="fused")(x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_surrogate_runs_fused(backend: str) -> None:
    """Any registered surrogate works (the tests above cover four in depth)."""
    x, state = _inputs(torch.float64, 13, True)
    for name in available():
        loop = LIF.from_beta(
            0.8, v_th=0.9, surrogate=name, learn_beta=True, learn_threshold=True, backend="loop"
        ).double()
        _compare(loop, x, state, ["beta", "v_th"], backend=backend)
