"""Compiled CPU kernels for the LIF recurrence (numba): one pass over memory each way.

The fused node of ``neurosim.core.kernels`` runs ~5 vectorised torch operations per step
forward and ~10 passes per block backward; each reads and writes the whole step. Here the
forward and the BPTT are one loop nest each, compiled by numba: every neuron's state stays in
registers across its T steps, so the forward reads ``x`` once and writes the spikes and the
pre-spike membrane ``h`` once, and the backward reads ``h`` and ``∂L/∂spikes`` once and
writes ``∂L/∂x`` once — over ``h`` itself when nothing else can read it (no membrane trace
was returned and the graph is not retained), which saves a fresh ``[T, B, ...]`` buffer and
its page faults. Neurons are split into blocks that run on ``torch.get_num_threads()``
threads.

Threads, numba's cache and forked processes: ``neurosim.core.jit``.

The forward performs the same IEEE operations in the same order as ``neurons._integrate``
(no fused multiply-add, no fast-math), so spikes, states and membranes are bitwise equal to
the reference loop's; the backward is the recurrence of ``kernels`` (its docstring has the
table of partial derivatives) with the surrogate derivative evaluated inline, equal to the
loop's gradients to rounding.

Used by ``lif_fused`` on CPU for float32/float64 LIF/IF layers without recurrent weights,
with a built-in surrogate and spiking (not smooth) forward; everything else takes the torch
path. The kernels compile on first use (a few seconds, cached on disk by numba).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from neurosim.core import buffers, jit
from neurosim.core import surrogate as sg

__all__ = ["RESET_CODES", "SURROGATE_CODES", "lif_compiled", "unsupported"]

#: Neurons per block: state of a block stays in L1 while the block walks through T.
BLOCK = 2048

#: reset rule and timing → the integer the kernels branch on
RESET_CODES = {("none", "immediate"): 0, ("none", "delayed"): 0, ("subtract", "immediate"): 1}
RESET_CODES |= {("subtract", "delayed"): 2, ("zero", "immediate"): 3, ("zero", "delayed"): 3}

#: surrogate classes the kernels evaluate inline (exact type: a subclass may redefine grad)
SURROGATE_CODES: dict[type, int] = {
    sg.ATan: 0,
    sg.FastSigmoid: 1,
    sg.Sigmoid: 2,
    sg.Triangle: 3,
    sg.StraightThrough: 4,
    sg.S2NN: 5,
}


def surrogate_code(s: sg.Surrogate) -> tuple[int, float, float] | None:
    """``(code, p1, p2)`` for a built-in surrogate, ``None`` for any other."""
    code = SURROGATE_CODES.get(type(s))
    if code is None:
        return None
    if isinstance(s, sg.ATan):
        return code, s.alpha / 2.0, math.pi / 2.0 * s.alpha
    if isinstance(s, sg.FastSigmoid | sg.Sigmoid):
        return code, s.slope, 0.0
    if isinstance(s, sg.Triangle):
        return code, s.width, 0.0
    if isinstance(s, sg.StraightThrough):
        return code, -1.0 if s.clip is None else s.clip, 0.0
    assert isinstance(s, sg.S2NN)
    return code, s.alpha, s.beta


@jit.inline
def _integrate(mode: int, v: Any, s: Any, b: Any, th: Any, vr: Any, x: Any) -> Any:
    if mode == 0:  # β·v + x
        return b * v + x
    if mode == 1:  # β·(v − s·v_th) + x
        return b * (v - s * th) + x
    if mode == 2:  # β·v + x − s·v_th
        return (b * v + x) - s * th
    return b * (v - s * (v - vr)) + x  # β·(v + s·(v_r − v)) + x


@jit.inline
def _sgrad_row(kind: int, h: Any, th: Any, p1: Any, p2: Any, one: Any, g: Any) -> None:
    """``g = surrogate'(h − v_th)`` for one step of a block (one branch, then a plain loop)."""
    zero = one - one
    m = g.shape[0]
    if kind == 0:  # atan: (α/2) / (1 + (π/2·α·u)²)
        for i in range(m):
            q = p2 * (h[i] - th[i])
            g[i] = p1 / (one + q * q)
    elif kind == 1:  # fast sigmoid: 1 / (k|u| + 1)²
        for i in range(m):
            d = p1 * abs(h[i] - th[i]) + one
            g[i] = one / (d * d)
    elif kind == 2:  # sigmoid: k σ(ku) (1 − σ(ku))
        for i in range(m):
            e = one / (one + math.exp(-(p1 * (h[i] - th[i]))))
            g[i] = p1 * e * (one - e)
    elif kind == 3:  # triangle: max(0, 1 − |u|/w) / w
        for i in range(m):
            g[i] = max(zero, one - abs(h[i] - th[i]) / p1) / p1
    elif kind == 4:  # straight through (p1 < 0: no clip)
        for i in range(m):
            g[i] = one if p1 < zero or abs(h[i] - th[i]) <= p1 else zero
    else:  # s2nn: α σ(αu)(1 − σ(αu)) for u < 0, β/(u + 1) for u ≥ 0
        for i in range(m):
            u = h[i] - th[i]
            e = one / (one + math.exp(-(p1 * u)))
            g[i] = p1 * e * (one - e) if u < zero else p2 / (max(u, zero) + one)


@jit.inline
def _d_beta(mode: int, v: Any, s: Any, th: Any, vr: Any) -> Any:
    """∂f/∂β at the state (v, s), f being a step's h minus its input."""
    if mode == 1:
        return v - s * th
    if mode == 3:
        return v + s * (vr - v)
    return v


@jit.inline
def _d_vth(mode: int, s: Any, b: Any, zero: Any) -> Any:
    """∂f/∂v_th at the state (v, s): the subtractive reset's threshold."""
    if mode == 1:
        return -(b * s)
    if mode == 2:
        return -s
    return zero


@jit.inline
def _block(p: Any, lo: int, hi: int) -> Any:
    """A parameter's values for neurons lo…hi−1: one value for all, or one per neuron."""
    if p.shape[0] == 1:
        return np.full(hi - lo, p[0])
    return p[lo:hi]


@jit.jit
def _fwd(x, beta, vth, v0, s0, mode, vr, one, keep_h, spikes, h):  # type: ignore[no-untyped-def]
    n_steps, n = x.shape
    for blk in jit.prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        v = v0[lo:hi].copy()
        s = s0[lo:hi].copy()
        b, th = _block(beta, lo, hi), _block(vth, lo, hi)
        for t in range(n_steps):
            xt, st = x[t, lo:hi], spikes[t, lo:hi]
            for i in range(hi - lo):
                hv = _integrate(mode, v[i], s[i], b[i], th[i], vr, xt[i])
                sv = one if hv - th[i] > 0 else one - one
                st[i] = sv
                v[i] = hv
                s[i] = sv
            if keep_h:
                h[t, lo:hi] = v
        if not keep_h:
            h[0, lo:hi] = v


@jit.jit
def _bwd(  # type: ignore[no-untyped-def]
    h, g_s, g_m, g_vl, g_sl, v0, s0, beta, vth, mode, vr, detach, kind, p1, p2, one, dh, gb, gt
):
    n_steps, n = h.shape
    zero = one - one
    has_gs, has_gm = g_s.shape[0] > 0, g_m.shape[0] > 0
    has_vl, has_sl = g_vl.shape[0] > 0, g_sl.shape[0] > 0
    need_b, need_t = gb.shape[0] > 0, gt.shape[0] > 0
    for blk in jit.prange((n + BLOCK - 1) // BLOCK):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        m = hi - lo
        b, th = _block(beta, lo, hi), _block(vth, lo, hi)
        nxt = np.zeros(m, h.dtype)  # dh_{t+1}
        g = np.empty(m, h.dtype)  # surrogate'(h_t − v_th)
        gsum = np.empty(m, h.dtype)  # ∂L/∂s_t
        c = np.zeros(m, h.dtype)  # ∂f/∂s of step t + 1 at step t's state
        a = b.copy()  # ∂f/∂v of step t + 1 at step t's state
        acc_b = np.zeros(m, h.dtype)
        acc_t = np.zeros(m, h.dtype)
        if not detach:
            if mode == 1:
                for i in range(m):
                    c[i] = -(b[i] * th[i])
            elif mode == 2:
                for i in range(m):
                    c[i] = -th[i]
        for t in range(n_steps - 1, -1, -1):
            ht, dt = h[t, lo:hi], dh[t, lo:hi]
            _sgrad_row(kind, ht, th, p1, p2, one, g)
            if mode == 3:  # reset to zero: a and c depend on the state
                for i in range(m):
                    s = one if ht[i] - th[i] > 0 else zero
                    a[i] = b[i] * (one - s)
                    c[i] = zero if detach else b[i] * (vr - ht[i])
            for i in range(m):
                gsum[i] = c[i] * nxt[i]
            if has_gs:
                gs_t = g_s[t, lo:hi]
                for i in range(m):
                    gsum[i] += gs_t[i]
            if t == n_steps - 1 and has_sl:
                for i in range(m):
                    gsum[i] += g_sl[lo + i]
            if need_b:  # Σ dh_{t+1} ∂f/∂β at step t's state
                for i in range(m):
                    s = one if ht[i] - th[i] > 0 else zero
                    acc_b[i] += nxt[i] * _d_beta(mode, ht[i], s, th[i], vr)
            if need_t:  # −Σ g_t ∂L/∂s_t + Σ dh_{t+1} ∂f/∂v_th
                for i in range(m):
                    s = one if ht[i] - th[i] > 0 else zero
                    acc_t[i] += nxt[i] * _d_vth(mode, s, b[i], zero) - g[i] * gsum[i]
            for i in range(m):
                nxt[i] = g[i] * gsum[i] + a[i] * nxt[i]
            if has_gm:
                gm_t = g_m[t, lo:hi]
                for i in range(m):
                    nxt[i] += gm_t[i]
            if t == n_steps - 1 and has_vl:
                for i in range(m):
                    nxt[i] += g_vl[lo + i]
            dt[:] = nxt
        for i in range(m):  # the initial state's pairing with dh_0
            v, s = v0[lo + i], s0[lo + i]
            if need_b:
                gb[lo + i] = acc_b[i] + nxt[i] * _d_beta(mode, v, s, th[i], vr)
            if need_t:
                gt[lo + i] = acc_t[i] + nxt[i] * _d_vth(mode, s, b[i], zero)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def _keeps_graph() -> bool:
    """Whether the running backward keeps the graph (``retain_graph=True``); torch's own
    ahead-of-time autograd asks the same private function. True when it is missing."""
    keep = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if keep is None else bool(keep())


def _per_neuron(t: Tensor, shape: torch.Size) -> Tensor:
    """``t`` broadcast to the state's shape, flattened, contiguous."""
    return t.expand(shape).reshape(-1).contiguous()


def _param(t: Tensor, shape: torch.Size) -> Tensor:
    """As ``_per_neuron``, but a single value stays one value (``[1]``): the kernels spread it
    over each block of neurons."""
    return t.reshape(1).contiguous() if t.numel() == 1 else _per_neuron(t, shape)


def _scalar(value: float, like: np.ndarray) -> Any:
    return like.dtype.type(value)


class _LIFCompiled(torch.autograd.Function):
    """LIF over all T steps in one node, forward and BPTT in compiled loops."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        v0: Tensor,
        s0: Tensor,
        beta: Tensor,
        v_th: Tensor,
        spec: tuple[int, float, bool, tuple[int, float, float], bool, bool],
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        code, v_reset, _, _, membrane, grad = spec
        n_steps = x.shape[0]
        shape = torch.broadcast_shapes(x.shape[1:], v0.shape, s0.shape, beta.shape, v_th.shape)
        xf = x.expand((n_steps, *shape)).reshape(n_steps, -1).contiguous()
        b, th = _param(beta, shape), _param(v_th, shape)
        v, s = _per_neuron(v0, shape), _per_neuron(s0, shape)
        keep_h = membrane or grad
        spikes = buffers.take(xf.shape, xf.dtype)
        h = buffers.take(xf.shape, xf.dtype) if keep_h else xf.new_empty((1, xf.shape[1]))
        xn = _np(xf)
        args = (xn, _np(b), _np(th), _np(v), _np(s), code, _scalar(v_reset, xn))
        jit.run(_fwd, *args, _scalar(1.0, xn), keep_h, _np(spikes), _np(h))
        ctx.spec, ctx.shape, ctx.x_shape = spec, shape, x.shape
        ctx.state_shapes = (v0.shape, s0.shape)
        ctx.set_materialize_grads(False)
        if grad:
            ctx.save_for_backward(h, v, s, b, th, beta, v_th)
        mem = h.view((n_steps, *shape)) if membrane else x.new_empty(0)
        return (
            spikes.view((n_steps, *shape)),
            h[-1].view(shape).clone(),
            spikes[-1].view(shape).clone(),
            mem,
        )

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any,
        g_spikes: Tensor | None,
        g_v_last: Tensor | None,
        g_s_last: Tensor | None,
        g_mem: Tensor | None,
    ) -> tuple[Tensor | None, ...]:
        code, v_reset, detach, (kind, p1, p2), membrane, _ = ctx.spec
        h, v0, s0, b, th, beta, v_th = ctx.saved_tensors
        need_x, need_v0, need_s0, need_beta, need_vth = ctx.needs_input_grad[:5]
        n_steps, n = h.shape
        hn = _np(h)
        none2, none1 = hn[:0], hn[0, :0]

        def flat(g: Tensor | None, rows: bool) -> np.ndarray:
            if g is None or g.numel() == 0:
                return none2 if rows else none1
            return _np(g.reshape((n_steps, n) if rows else (n,)).contiguous())

        # ∂L/∂h overwrites h step by step (each step of h is read before its gradient is
        # written) unless h is the membrane trace handed to the caller or the graph is kept
        # for another backward (``retain_graph=True``)
        dh = h if not membrane and not _keeps_graph() else buffers.take(h.shape, h.dtype)
        gb = torch.empty(n if need_beta else 0, dtype=h.dtype)
        gt = torch.empty(n if need_vth else 0, dtype=h.dtype)
        grads = [flat(g_spikes, True), flat(g_mem, True), flat(g_v_last, False)]
        grads.append(flat(g_s_last, False))
        state = (_np(v0), _np(s0), _np(b), _np(th), code, _scalar(v_reset, hn), detach, kind)
        consts = (_scalar(p1, hn), _scalar(p2, hn), _scalar(1.0, hn))
        jit.run(_bwd, hn, *grads, *state, *consts, _np(dh), _np(gb), _np(gt))
        if dh is h:  # any later use of the saved h fails loudly instead of reading ∂L/∂h
            torch.autograd.graph.increment_version(h)

        shape = ctx.shape
        dh0 = dh[0]
        g_v0 = g_s0 = None
        if need_v0:  # ∂f/∂v at the initial state
            g_v0 = (b * (1.0 - s0) if code == 3 else b) * dh0
        if need_s0:  # ∂f/∂s at the initial state
            if detach or code == 0:
                g_s0 = torch.zeros_like(dh0)
            elif code == 1:
                g_s0 = -(b * th) * dh0
            elif code == 2:
                g_s0 = -th * dh0
            else:
                g_s0 = b * (v_reset - v0) * dh0
        return (
            dh.view((n_steps, *shape)).sum_to_size(ctx.x_shape) if need_x else None,
            g_v0.view(shape).sum_to_size(ctx.state_shapes[0]) if g_v0 is not None else None,
            g_s0.view(shape).sum_to_size(ctx.state_shapes[1]) if g_s0 is not None else None,
            gb.view(shape).sum_to_size(beta.shape) if need_beta else None,
            gt.view(shape).sum_to_size(v_th.shape) if need_vth else None,
            None,
        )


def unsupported(
    x: Tensor, surrogate: sg.Surrogate, recurrent: bool, smooth_forward: bool
) -> str | None:
    """Why the compiled kernels cannot run this layer (``None``: they can)."""
    why = jit.why_unusable()
    if why is not None:
        return why
    if x.device.type != "cpu":
        return f"the input is on {x.device.type}, the compiled kernels run on the CPU"
    if x.dtype not in (torch.float32, torch.float64):
        return f"the compute dtype is {x.dtype}; the compiled kernels take float32 or float64"
    if recurrent:
        return "recurrent weights are not compiled (the torch kernel runs them)"
    if smooth_forward:
        return "a smooth forward is not compiled"
    if surrogate_code(surrogate) is None:
        return f"surrogate {type(surrogate).__name__} is not one of the compiled ones"
    return None


def lif_compiled(
    x: Tensor,
    v0: Tensor,
    s0: Tensor,
    beta: Tensor,
    v_th: Tensor,
    reset: str,
    timing: str,
    v_reset: float,
    detach: bool,
    surrogate: sg.Surrogate,
    membrane: bool,
    grad: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(spikes, v_last, s_last, membrane or empty)``; all tensors in one dtype, checked by
    ``unsupported`` first."""
    sur = surrogate_code(surrogate)
    assert sur is not None
    spec = (RESET_CODES[reset, timing], v_reset, detach, sur, membrane, grad)
    out: tuple[Tensor, Tensor, Tensor, Tensor] = _LIFCompiled.apply(x, v0, s0, beta, v_th, spec)
    return out
