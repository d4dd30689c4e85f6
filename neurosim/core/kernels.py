"""Fused multi-step LIF kernels: the whole recurrence over T as one autograd node.

The reference modules (``neurosim.core.neuron_layers`` with ``backend="loop"``) call the step
function of ``neurosim.core.neurons`` T times, so autograd records ~8 nodes per step and
saves several ``[B, ...]`` tensors for each. Here one ``torch.autograd.Function`` runs the
forward over T with the *same* elementwise operations in the same order (so spikes, states
and membranes are bitwise equal to the loop's) writing into preallocated buffers, and a
hand-written BPTT runs backward over T.

Saved for backward: the pre-spike membrane ``h [T, B, ...]`` in the compute dtype (one
element per neuron and step: 4 bytes in float32, 8 in float64; it is the membrane trace
itself, so ``trace()`` costs nothing more), plus the initial state and the parameters. Spikes
are recomputed from ``h`` with the forward's own operations (``h − v_th > 0``, or the
surrogate's smooth step), and ``x`` is not needed. Unless the trace is returned, ``h`` is kept
in blocks of ~``CHUNK_ELEMENTS`` elements rather than one T-sized buffer: glibc returns a large
freed buffer to the OS, and the next call would pay a page fault per 4 KiB to write it again
(measured: 2.4 ms instead of 6.7 ms for the forward at [25, 128, 1000]). When no input needs a
gradient and no trace is asked, nothing of size T but the spikes is allocated: ``h`` lives in
two ``[B, ...]`` buffers.

Backward. With ``g_t = surrogate.grad(h_t − v_th)`` and the state ``(v, s)`` of the previous
step, step t is ``h_t = f(v_{t−1}, s_{t−1}) + x_t`` with the partial derivatives (per neuron)
``a = ∂f/∂v``, ``c = ∂f/∂s`` (0 under ``detach_reset``), ``r = ∂f/∂β`` and ``e = ∂f/∂v_th``:

=================  ==========  =============  ==============  ==========
reset / timing     a           c              r               e
=================  ==========  =============  ==============  ==========
none               β           0              v               0
subtract immediate β           −β·v_th        v − s·v_th      −β·s
subtract delayed   β           −v_th          v               −s
zero               β(1 − s)    β(v_r − v)     v + s(v_r − v)  0
=================  ==========  =============  ==============  ==========

The adjoint of ``h`` obeys the first-order linear recurrence

    dh_t = A_t + K_t ⊙ dh_{t+1} (+ g_t ⊙ (dh_{t+1} @ W_rec) for RecurrentLIF)
    A_t = ∂L/∂mem_t + g_t ⊙ ∂L/∂spikes_t,    K_t = a(h_t, s_t) + g_t ⊙ c(h_t, s_t)

where ``A`` and ``K`` depend only on the saved ``h``: they are computed for a block of steps
at once with a few vectorised operations, leaving one ``addcmul_`` per step (plus one matmul
for the recurrent variant) in the sequential loop. ``∂L/∂x_t = dh_t``; the parameter gradients
are sums over each block (``Σ dh_t r``, ``−Σ g_t ∂L/∂s_t + Σ dh_t e`` and ``Σ dh_tᵀ s_{t−1}``,
with ``r`` and ``e`` at the previous step's state) reduced to the parameters' shapes. Blocks
of ~``CHUNK_ELEMENTS`` elements bound the backward's temporaries.

Not supported by the fused node (use ``backend="loop"``): double backward (``create_graph``),
forward-mode AD and ``torch.func`` transforms. The membrane ``trace()`` returns is the tensor
saved for backward: modifying it in place before ``backward`` raises autograd's version error.

``torch.compile`` was tried and is not used. Compiling the block's elementwise backward
(``u → g → A, K``) with inductor on CPU fuses ~8 passes into one (about 10x faster on that
part, bitwise equal), but importing ``torch._inductor`` emits a ``DeprecationWarning``
(``torch.jit.script_method``, from ``torch/utils/mkldnn.py``), an error under this project's
warnings-as-errors, and every configuration then compiles for 3-14 s with a C++ toolchain,
again for each surrogate, reset rule, dtype and shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from neurosim.core import kernels_cpu
from neurosim.core.neurons import LIFParams, LIFState
from neurosim.core.surrogate import Surrogate

__all__ = ["CHUNK_ELEMENTS", "lif_fused"]

#: Target number of elements per block of steps in the backward pass (temporaries ∝ this).
CHUNK_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class _Config:
    reset: str
    timing: str
    detach: bool
    v_reset: float
    surrogate: Surrogate
    smooth: bool
    membrane: bool  # return the membrane trace
    grad: bool  # a gradient may be asked: keep h for the backward


def _fire(u: Tensor, cfg: _Config, out: Tensor | None = None) -> Tensor:
    """Spikes from ``u = h − v_th``: exactly the forward of ``surrogate.spike``."""
    if cfg.smooth:
        s = cfg.surrogate.smooth(u)
        return s if out is None else out.copy_(s)
    # a comparison written straight into a float tensor is ~4x faster than bool then .to()
    return torch.gt(u, 0, out=torch.empty_like(u) if out is None else out)


def _integrate(
    x: Tensor,
    v: Tensor,
    s: Tensor,
    beta: Tensor,
    v_th: Tensor,
    cfg: _Config,
    out: Tensor,
    tmp: Tensor,
) -> None:
    """``out = h``, the same operations in the same order as ``neurons._integrate``."""
    if cfg.reset == "none":  # β·v + x
        torch.mul(beta, v, out=tmp)
        torch.add(tmp, x, out=out)
    elif cfg.reset == "zero":  # β·(v + s·(v_r − v)) + x, written as β·(v − s·(v − v_r)) + x
        torch.sub(v, cfg.v_reset, out=tmp)  # (−a)·s = −(a·s) and v + (−y) = v − y exactly
        torch.mul(s, tmp, out=tmp)
        torch.sub(v, tmp, out=tmp)
        torch.mul(beta, tmp, out=tmp)
        torch.add(tmp, x, out=out)
    elif cfg.timing == "delayed":  # β·v + x − s·v_th
        torch.mul(beta, v, out=tmp)
        torch.add(tmp, x, out=out)
        torch.mul(s, v_th, out=tmp)
        torch.sub(out, tmp, out=out)
    else:  # β·(v − s·v_th) + x
        torch.mul(s, v_th, out=tmp)
        torch.sub(v, tmp, out=tmp)
        torch.mul(beta, tmp, out=tmp)
        torch.add(tmp, x, out=out)


# Partial derivatives of f(v, s) (step t's h minus its input) for the backward; see the table
# in the module docstring. ``None`` means identically zero.


def _d_v(v: Tensor, s: Tensor, beta: Tensor, cfg: _Config) -> Tensor:
    return beta * (1.0 - s) if cfg.reset == "zero" else beta


def _d_s(v: Tensor, beta: Tensor, v_th: Tensor, cfg: _Config) -> Tensor | None:
    if cfg.detach or cfg.reset == "none":
        return None
    if cfg.reset == "zero":
        return beta * (cfg.v_reset - v)
    if cfg.timing == "delayed":
        return -v_th
    return -(beta * v_th)


def _d_beta(v: Tensor, s: Tensor | None, v_th: Tensor, cfg: _Config) -> Tensor:
    if cfg.reset == "none" or (cfg.reset == "subtract" and cfg.timing == "delayed"):
        return v
    assert s is not None  # computed whenever the reset uses it
    if cfg.reset == "zero":
        return v + s * (cfg.v_reset - v)
    return v - s * v_th


def _e_sum(dh_next: Tensor, s: Tensor, scale: Tensor | None, v_th: Tensor) -> Tensor:
    """``Σ dh_{t+1} s_t (· β)``, reduced to v_th's shape: minus the v_th gradient through the
    subtractive reset (β may have more dimensions than v_th, so it multiplies first)."""
    term = dh_next * s
    if scale is not None:
        term.mul_(scale)
    return term.sum_to_size(v_th.shape)


def _reduce(grad: Tensor | None, like: Tensor | None) -> Tensor | None:
    """Sum a broadcast gradient back to the shape of ``like``."""
    if grad is None or like is None:
        return None
    if grad.shape != like.shape:
        grad = grad.sum_to_size(like.shape)
    return grad


class _LIFMultistep(torch.autograd.Function):
    """LIF (optionally with recurrent synapses) over all T steps in one node."""

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        v0: Tensor,
        s0: Tensor,
        beta: Tensor,
        v_th: Tensor,
        w: Tensor | None,
        b: Tensor | None,
        cfg: _Config,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        steps = x.unbind(0)
        n_steps = len(steps)
        shape = torch.broadcast_shapes(steps[0].shape, v0.shape, s0.shape, beta.shape, v_th.shape)
        spikes = x.new_empty((n_steps, *shape))
        block = max(1, min(n_steps, CHUNK_ELEMENTS // max(1, math.prod(shape))))
        bounds = [(t0, min(t0 + block, n_steps)) for t0 in range(0, n_steps, block)]
        h_whole = None
        if cfg.membrane:  # h is returned: one tensor
            h_whole = x.new_empty((n_steps, *shape))
            h_blocks = [h_whole[t0:t1] for t0, t1 in bounds]
        elif cfg.grad:
            # h is only saved: block-sized pieces, which the allocator recycles from call to
            # call (glibc hands a T-sized buffer back to the OS when it is freed, and the next
            # call pays a page fault per 4 KiB to write it again)
            h_blocks = [x.new_empty((t1 - t0, *shape)) for t0, t1 in bounds]
        else:  # forward only: two step buffers, nothing of size T but the spikes
            h_blocks = [x.new_empty((2, *shape))]
        h_steps = [h_t for blk in h_blocks for h_t in blk.unbind(0)]
        if not (cfg.membrane or cfg.grad):
            h_steps = [h_steps[t % 2] for t in range(n_steps)]
        s_steps = spikes.unbind(0)
        tmp = x.new_empty(shape)
        x_in = x.new_empty(shape) if w is not None else None
        # BLAS results depend on the operand's alignment: the recurrent matmul reads the
        # spikes from a freshly allocated (aligned) step buffer, like the loop's.
        s_aligned = x.new_empty(shape) if w is not None else None
        v, s = v0.expand(shape), s0.expand(shape)
        for x_t, h_t, s_t in zip(steps, h_steps, s_steps, strict=True):
            if w is not None and x_in is not None:  # x + s[t−1] @ W.T (+ b), as F.linear
                x_t = torch.add(x_t, F.linear(s, w, b), out=x_in)
            _integrate(x_t, v, s, beta, v_th, cfg, h_t, tmp)
            if s_aligned is not None:
                _fire(torch.sub(h_t, v_th, out=tmp), cfg, out=s_aligned)
                s_t.copy_(s_aligned)
                v, s = h_t, s_aligned
            else:
                _fire(torch.sub(h_t, v_th, out=tmp), cfg, out=s_t)
                v, s = h_t, s_t
        ctx.cfg = cfg
        ctx.x_shape = x.shape  # smaller than the state's when the parameters broadcast x
        ctx.bounds = bounds
        ctx.set_materialize_grads(False)
        if cfg.grad:
            saved_h = [h_whole] if h_whole is not None else h_blocks
            ctx.save_for_backward(v0, s0, beta, v_th, w, b, *saved_h)
        membrane = h_whole if h_whole is not None else x.new_empty(0)
        return spikes, v.clone(), s.clone(), membrane

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any,
        g_spikes: Tensor | None,
        g_v_last: Tensor | None,
        g_s_last: Tensor | None,
        g_mem: Tensor | None,
    ) -> tuple[Tensor | None, ...]:
        cfg: _Config = ctx.cfg
        v0, s0, beta, v_th, w, b, *h_blocks = ctx.saved_tensors
        need_x, need_v0, need_s0, need_beta, need_vth, need_w, need_b = ctx.needs_input_grad[:7]
        bounds: list[tuple[int, int]] = ctx.bounds
        if len(h_blocks) != len(bounds):  # the whole membrane was saved
            h_blocks = [h_blocks[0][t0:t1] for t0, t1 in bounds]
        n_steps, shape = bounds[-1][1], h_blocks[0].shape[1:]
        ndim = 1 + len(shape)
        if g_mem is not None and g_mem.numel() == 0:
            g_mem = None
        # s_t is needed where the coupling, a gradient or the recurrent weights use it
        need_s = (
            cfg.reset == "zero"
            or (need_beta and cfg.reset != "none" and cfg.timing == "immediate")
            or (need_vth and cfg.reset == "subtract")
            or (w is not None and need_w)
        )

        dh = h_blocks[0].new_empty((n_steps, *shape))  # ∂L/∂h_t, which is also ∂L/∂x_t
        dh_steps = dh.unbind(0)
        g_beta = torch.zeros_like(beta) if need_beta else None
        g_vth = torch.zeros_like(v_th) if need_vth else None
        g_w = torch.zeros_like(w) if w is not None and need_w else None
        g_b = torch.zeros_like(b) if b is not None and need_b else None
        d_s = _d_s(beta, beta, v_th, cfg) if cfg.reset != "zero" else None  # constant in t
        scale_e = beta if cfg.timing == "immediate" else None  # e = −scale·s (subtract)

        for (t0, t1), h_blk in zip(reversed(bounds), reversed(h_blocks), strict=True):
            length = t1 - t0
            n_next = length - int(t1 == n_steps)  # steps of the block with a step after them
            dh_blk = dh[t0:t1]
            u = torch.sub(h_blk, v_th)
            g = cfg.surrogate.grad(u)
            s = _fire(u, cfg) if need_s else None
            del u

            # A_t = ∂L/∂mem_t + g_t ∂L/∂s_t (+ the final state's gradients at t = T − 1)
            if g_spikes is not None:
                torch.mul(g, g_spikes[t0:t1], out=dh_blk)
                if g_mem is not None:
                    dh_blk.add_(g_mem[t0:t1])
            elif g_mem is not None:
                dh_blk.copy_(g_mem[t0:t1])
            else:
                dh_blk.zero_()
            if n_next < length:
                if g_v_last is not None:
                    dh_blk[-1].add_(g_v_last)
                if g_s_last is not None:
                    dh_blk[-1].addcmul_(g[-1], g_s_last)

            # K_t = a(h_t, s_t) + g_t c(h_t, s_t): how dh_{t+1} reaches dh_t
            d_s_blk = d_s if cfg.reset != "zero" else _d_s(h_blk, beta, v_th, cfg)
            coupling = _d_v(h_blk, s, beta, cfg) if s is not None else beta
            if d_s_blk is not None:  # (addcmul with a broadcast first operand is slow)
                coupling = torch.mul(g, d_s_blk).add_(coupling)
            k_steps = coupling.unbind(0) if coupling.dim() == ndim else None
            g_steps = g.unbind(0)
            rec = dh.new_empty((n_next, *shape)) if w is not None else None
            rec_steps = rec.unbind(0) if rec is not None else ()
            # the sequential part: dh_t += K_t dh_{t+1} (+ g_t ⊙ (dh_{t+1} @ W))
            for i in range(n_next - 1, -1, -1):
                nxt = dh_steps[t0 + i + 1]
                dh_steps[t0 + i].addcmul_(coupling if k_steps is None else k_steps[i], nxt)
                if w is not None:
                    torch.mm(nxt, w, out=rec_steps[i])
                    dh_steps[t0 + i].addcmul_(g_steps[i], rec_steps[i])
            del coupling, k_steps

            # parameter gradients: each term pairs step t's state with dh_{t+1}
            nxt_blk = dh[t0 + 1 : t0 + 1 + n_next]
            if g_b is not None:
                g_b.add_(dh_blk.sum_to_size(g_b.shape))
            if n_next == 0:
                if g_vth is not None and g_spikes is not None:  # only the last step
                    g_s_t = g_spikes[t0:t1] if g_s_last is None else g_spikes[t0:t1] + g_s_last
                    g_vth.sub_((g * g_s_t).sum_to_size(v_th.shape))
                elif g_vth is not None and g_s_last is not None:
                    g_vth.sub_((g[-1] * g_s_last).sum_to_size(v_th.shape))
                continue
            h_n = h_blk[:n_next]
            s_n = s[:n_next] if s is not None else None
            if g_beta is not None:
                g_beta.add_((nxt_blk * _d_beta(h_n, s_n, v_th, cfg)).sum_to_size(beta.shape))
            if g_vth is not None:
                # ∂L/∂s_t: its own gradient, that through step t + 1, the final state's
                g_s = dh.new_zeros((length, *shape))
                if g_spikes is not None:
                    g_s.add_(g_spikes[t0:t1])
                if d_s_blk is not None:
                    d_s_n = d_s_blk if d_s_blk.dim() < ndim else d_s_blk[:n_next]
                    g_s[:n_next].addcmul_(d_s_n, nxt_blk)
                if rec is not None:
                    g_s[:n_next].add_(rec)
                if n_next < length and g_s_last is not None:
                    g_s[-1].add_(g_s_last)
                g_vth.sub_((g * g_s).sum_to_size(v_th.shape))
                if cfg.reset == "subtract" and s_n is not None:  # the v_th in the reset
                    g_vth.sub_(_e_sum(nxt_blk, s_n, scale_e, v_th))
            if g_w is not None and s_n is not None:
                n = shape[-1]
                g_w.add_(nxt_blk.reshape(-1, n).T @ s_n.reshape(-1, n))

        # the initial state's terms (its gradients and its pairing with dh_0)
        dh0 = dh_steps[0]
        v_i, s_i = v0.expand(dh0.shape), s0.expand(dh0.shape)
        if g_beta is not None:
            g_beta.add_((dh0 * _d_beta(v_i, s_i, v_th, cfg)).sum_to_size(beta.shape))
        if g_vth is not None and cfg.reset == "subtract":
            g_vth.sub_(_e_sum(dh0, s_i, scale_e, v_th))
        if g_w is not None:
            n = shape[-1]
            g_w.add_(dh0.reshape(-1, n).T @ s_i.reshape(-1, n))
        g_v0 = _d_v(v_i, s_i, beta, cfg) * dh0 if need_v0 else None
        g_s0 = None
        if need_s0:
            d_s0 = _d_s(v_i, beta, v_th, cfg)
            g_s0 = d_s0 * dh0 if d_s0 is not None else torch.zeros_like(dh0)
            if w is not None:
                g_s0 = g_s0 + dh0 @ w
        return (
            dh.sum_to_size(ctx.x_shape) if need_x else None,
            _reduce(g_v0, v0),
            _reduce(g_s0, s0),
            g_beta,
            g_vth,
            g_w,
            g_b,
            None,
        )


def _compute_dtype(x: Tensor, *others: Tensor) -> torch.dtype:
    """The dtype the reference loop computes in: ``x``'s, promoted with any tensor that has
    dimensions (zero-dim tensors do not promote within the floating category)."""
    dtype = x.dtype
    for t in others:
        if t.dim() > 0:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def lif_fused(
    x: Tensor,
    state: LIFState | None,
    p: LIFParams,
    surrogate: Surrogate,
    *,
    w_rec: Tensor | None = None,
    b_rec: Tensor | None = None,
    membrane: bool = False,
    smooth_forward: bool = False,
    compiled: bool | None = None,
) -> tuple[Tensor, LIFState, Tensor | None]:
    """Run LIF (recurrent when ``w_rec`` is given) over ``x [T, B, ...]`` in one autograd node.

    Same result as ``T`` calls of ``lif_step`` / ``recurrent_lif_step`` (bitwise in the
    forward, to rounding in the gradients). Returns ``(spikes [T, B, ...], final state,
    membrane [T, B, ...] or None)``; the membrane is computed only when ``membrane=True``.
    ``smooth_forward=True`` fires ``surrogate.smooth(h − v_th)`` instead of the step (as
    ``spike(..., smooth_forward=True)``), making the surrogate gradient exact.

    ``compiled``: run the numba kernels of ``kernels_cpu`` (``True``: a ``ValueError`` says
    why when they cannot), the torch node (``False``), or the former wherever they can
    (``None``).
    """
    if not x.is_floating_point():
        raise TypeError(f"the fused LIF kernel needs a floating-point input, got {x.dtype}")
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"expected x [T, B, ...] with T >= 1, got shape {list(x.shape)}")
    beta = torch.as_tensor(p.beta, device=x.device)
    v_th = torch.as_tensor(p.v_th, device=x.device)
    if state is None:
        zeros = torch.zeros_like(x[0])
        v0, s0 = zeros, zeros
    else:
        v0, s0 = state
    extra = [t for t in (w_rec, b_rec) if t is not None]
    dtype = _compute_dtype(x, beta, v_th, v0, s0, *extra)
    x, beta, v_th, v0, s0 = (t.to(dtype) for t in (x, beta, v_th, v0, s0))
    w = w_rec.to(dtype) if w_rec is not None else None
    b = b_rec.to(dtype) if b_rec is not None else None
    inputs = (x, beta, v_th, v0, s0, *extra)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in inputs)
    cfg = _Config(
        p.reset,
        p.reset_timing,
        bool(p.detach_reset),
        float(p.v_reset),
        surrogate,
        bool(smooth_forward),
        bool(membrane),
        grad,
    )
    why_not = kernels_cpu.unsupported(x, surrogate, w is not None, smooth_forward)
    if compiled and why_not is not None:
        raise ValueError(f"the compiled LIF kernel cannot run here: {why_not}")
    if compiled is not False and why_not is None:
        reset, timing = p.reset, p.reset_timing
        spikes, v_last, s_last, mem = kernels_cpu.lif_compiled(
            x, v0, s0, beta, v_th, reset, timing, cfg.v_reset, cfg.detach, surrogate, membrane, grad
        )
    else:
        spikes, v_last, s_last, mem = _LIFMultistep.apply(x, v0, s0, beta, v_th, w, b, cfg)
    return spikes, LIFState(v_last, s_last), mem if membrane else None
