"""Event-driven inference for synaptic layers: add up the weights of the inputs that spiked.

A layer fed exactly-0/1 spikes computes ``y = W s + b``, the sum of the weight columns of
the active inputs plus the bias. When few inputs are active and no gradient is needed, that
sum is cheaper than the dense matmul. :class:`~neurosim.core.layers.Linear` and
:class:`~neurosim.core.layers.Conv2d` route every forward through :func:`maybe_linear` /
:func:`maybe_conv2d`, which return the event-driven result, or ``None`` to let the layer run
its ordinary dense path (unchanged).

The event path runs only when all of these hold; otherwise the dense path runs:

* no gradient is needed: ``not torch.is_grad_enabled()`` (``no_grad``, ``inference_mode``),
  or neither the input nor the weight nor the bias requires grad. Training is therefore
  always dense, outputs and gradients unchanged;
* the input is float32 or float64 of the weight's dtype and device, non-empty, a plain
  tensor (not a subclass, not inside ``torch.func`` transforms such as ``vmap``), and not
  being traced or compiled (the path choice and the shapes are data-dependent); Conv2d also
  needs ``padding_mode="zeros"`` and numeric padding (not ``"same"``/``"valid"``);
* the input is binary: every nonzero element equals 1. This is checked within the scan that
  the event path needs anyway (the compiled scan's counting pass; Conv2d and the torch scan:
  on the nonzero elements only, ``O(nnz)``), so it costs no extra pass; any other value
  (0.5, 2, −1, −0.0, NaN, inf) sends the call to dense;
* under :func:`mode` ``"auto"`` (the default): the input is on the CPU, and its density is
  strictly below the layer's threshold (:func:`threshold`). The density is ``x.sum()/numel``
  (the fraction of ones for binary input): one branch-free pass, 0.06 ms on
  ``[25, 128, 784]``, where ``count_nonzero`` costs up to 5 ms (branchy at density 0.5).
  Non-binary input that passes it is caught by the binarity check. Under ``mode("event")``
  the density is not checked; under ``mode("dense")`` the event path never runs.

``layer.event_threshold`` (a plain attribute; ``None`` or absent: :func:`default_threshold`,
which depends on the layer's shape) is the density below which the layer takes the event
path: ``0`` disables it, a value above 1 makes it unconditional for binary input. It is not
saved in the ``state_dict``. :func:`mode` is a context manager (a ``ContextVar``: per thread
and task) meant for tests and benchmarks.

Results equal the dense path up to the order of the float summation (bitwise equal when
every partial sum is exact, e.g. weights that are multiples of 1/8). The event path sums the
active inputs of each sample-step in a fixed order, independent of the rest of the batch;
since the path is chosen per call, a run split into chunks may take different paths for
different chunks and so differ from the whole run in the last bits.

Measurements: this project's CPU (2 cores shared with other jobs, AVX-512, oneDNN/MKL),
``torch.set_num_threads(2)``, float32, no_grad, through the layers' ``forward``; median of
20 interleaved iterations (dense, event, auto) in ms, repeated until steady.

Linear. With numba (a dependency; ``neurosim.core.event_scan``) the ``[T·B, in]`` spikes are
scanned in two compiled passes: each row's count of ones (any value but 0 and 1, −0.0
included, sends the call to dense), then each row's column indices at its offset — one bag
of active inputs per row. ``F.embedding_bag(mode="sum")`` sums the selected rows of the
table ``Wᵀ`` (``[in, out]``, 0.3 ms to make for 784×1000: made once per call, or once per
``Sequential.forward`` streaming its chunks, see :func:`reuse_tables`), and the bias is
added once. Without numba, ``nonzero`` on the float bits viewed as integers gives flat
indices sorted by row, and a ``searchsorted`` the bag offsets (scan of ``[3200, 784]`` at
density 0.02: 1.35 ms, against 0.78 ms compiled; ``python -m benchmarks.probe scan``).
Rejected alternatives (at densities 0.5/0.1/0.02/0.005 on an earlier version, ms
136/11.4/5.7/4.5): ``torch.sparse.mm`` with a CSR view of the spikes 195/18.4/7.0/5.2, COO
``sparse.addmm`` 785/157/35/11, ``embedding_bag`` on the strided ``W.t()`` 800/159/37/13,
gathering the active rows for ``index_add_`` (an ``nnz × out`` matrix: 1 GB at density 0.1),
and a compiled loop adding the table rows itself (a prototype, not kept: no faster than
``embedding_bag`` at 0.02 and slower at 0.1 and 0.2 for 784→1000).

Input ``[25, 128, in]``, dense / event ms and their ratio (``python -m benchmarks.probe
event``, 2026-11-29, compiled scan):

=========  ==============  ==============  ==============  ==============  ==============
density    784→1000        784→300         784→100         784→30          1000→10
=========  ==============  ==============  ==============  ==============  ==============
0.5        22.8/40.9 1.79  7.53/13.9 1.84  2.81/8.26 2.94  1.40/6.62 4.74  0.77/7.77 10.1
0.3        22.9/22.0 0.96  7.47/7.33 0.98  2.79/5.27 1.89  1.42/4.28 3.00  1.78/5.15 2.90
0.2        23.0/14.2 0.62  7.49/5.09 0.68  2.80/3.58 1.28  1.36/2.93 2.16  1.82/3.59 1.97
0.1        23.1/7.88 0.34  7.47/3.03 0.41  2.61/2.06 0.79  1.36/1.75 1.29  1.77/2.10 1.19
0.05       22.6/4.95 0.22  7.55/1.96 0.26  2.71/1.36 0.50  1.36/1.17 0.86  1.80/1.40 0.78
0.02       22.9/3.15 0.14  7.53/1.35 0.18  2.77/0.96 0.34  1.34/0.83 0.62  1.80/0.99 0.55
=========  ==============  ==============  ==============  ==============  ==============

The dense 1000→10 product takes either ~0.77 or ~1.8 ms (both seen from run to run).
The event path pays a scan of the input that the matmul amortises over ``out`` outputs, so
narrow layers need sparser input: crossovers ≈0.3 (1000 and 300 outputs), ≈0.14 (100),
≈0.06 (30), and for 10 outputs ≈0.07 against the slower dense time, below 0.02 against the
faster. The default ``LINEAR_THRESHOLD · out / (out + LINEAR_HALF_OUT)`` (0.26, 0.19, 0.11,
0.045, 0.017 for these widths) stays below the first four and near the last.
Deciding in auto mode costs one ``sum`` over the input (~0.06 ms) when it falls back to dense.

Conv2d. Each active input ``(n, c, iy, ix)`` and kernel tap ``(ky, kx)`` contributes
``W[:, c, ky, kx]`` to the output pixel it reaches (stride, padding, dilation and groups
resolved in int32 index arithmetic). The (output pixel, table row) pairs are sorted by
output pixel (stable: a fixed summation order) so that every output pixel is one bag of
``F.embedding_bag`` over the im2col-transposed weight table ``[C_in·kh·kw, C_out/groups]``;
taps that fall outside the output are sorted to the end and cut off. The result is permuted
to NCHW with the bias added in the same pass. Conv 32→64 3×3 pad 1, input
``[10, 32, 32, 14, 14]``:

==========  ========  ========  =============  =============================
density     dense     event     event / dense  auto (default threshold 0.01)
==========  ========  ========  =============  =============================
0.5         9.2*      282       31             13.9* (dense)
0.1         5.9       23.6      4.0            6.4 (dense)
0.02        5.7       6.8       1.18           6.2 (dense)
0.01        6.1       5.0       0.82           5.1 (realised density < 0.01)
0.005       6.0       4.1       0.69           4.1
0.002       6.3       3.8       0.61           3.9
==========  ========  ========  =============  =============================

(* not steady: the 0.28 s event call frees ~300 MB, and the next calls pay page faults.)
The dense conv (oneDNN, ~350 GFLOP/s here) spends ~0.005 ns per multiply-add, a gathered row
add costs ~30x more per element, and the event path also pays a scan of the input, a sort of
the ``nnz·kh·kw`` pairs and a pass over the output (NCHW permute), so it wins only below
≈0.015 for this layer, by at most ~1.6x. It is kept because SNN conv layers that are that
quiet exist (late layers, silent frames). Other conv shapes measured (event/dense at 0.02,
0.01, 0.005): 64→128 on 7×7: 0.71, 0.55, 0.46; 16→64: 1.49, 1.17, 0.98; 32→32: 1.69, 1.26,
0.97; 2→64 on 64×64: 1.15, 1.13, 1.13; 16→32 5×5 stride 2: 4.4, -, 1.54. Hence the default
:data:`CONV2D_THRESHOLD` = 0.01 only for stride 1, ≥ 64 outputs per group and fan-in
``C_in/groups·kh·kw`` ≥ 256, and 0 (always dense) otherwise. Rejected: scatter-adding the
gathered rows with ``index_add_`` (1.5-4x slower than bags at 0.005-0.05), COO
``sparse.mm`` (slower than the bags), ``embedding_bag(padding_idx=...)`` for the cut-off taps
(a slow path, 20x slower), and unsorted pairs (embedding_bag needs each bag contiguous).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurosim.core import event_scan, jit

__all__ = [
    "CONV2D_MIN_FAN_IN",
    "CONV2D_MIN_OUT",
    "CONV2D_THRESHOLD",
    "LINEAR_HALF_OUT",
    "LINEAR_THRESHOLD",
    "Mode",
    "conv2d_events",
    "current_mode",
    "default_threshold",
    "linear_events",
    "maybe_conv2d",
    "maybe_linear",
    "mode",
    "reuse_tables",
    "threshold",
]

Mode = Literal["auto", "dense", "event"]

#: Largest default ``event_threshold`` of a Linear layer (approached for wide outputs).
LINEAR_THRESHOLD = 0.3
#: Output width at which a Linear layer's default threshold is half of ``LINEAR_THRESHOLD``.
LINEAR_HALF_OUT = 170
#: Default ``event_threshold`` of a Conv2d layer with stride 1, at least
#: :data:`CONV2D_MIN_OUT` output channels per group and at least :data:`CONV2D_MIN_FAN_IN`
#: inputs per output (``in_channels/groups · kh · kw``); other conv layers default to 0.
CONV2D_THRESHOLD = 0.01
CONV2D_MIN_OUT = 64
CONV2D_MIN_FAN_IN = 256

_MODES: tuple[Mode, ...] = ("auto", "dense", "event")
_mode: ContextVar[Mode] = ContextVar("neurosim_event_mode", default="auto")
_FLOATS = (torch.float32, torch.float64)
# whether a tensor is wrapped by a torch.func transform (vmap, grad, ...); private API, so
# looked up defensively: without it such tensors raise inside nonzero under mode("event")
_is_transformed: Callable[[Tensor], bool] = getattr(
    getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", lambda x: False
)


@contextmanager
def mode(m: Mode) -> Iterator[None]:
    """Choose the synaptic path inside the block: ``"auto"`` (by density, the default),
    ``"dense"`` (never event-driven) or ``"event"`` (event-driven whenever allowed, whatever
    the density). Binarity and the no-gradient condition are always required."""
    if m not in _MODES:
        raise ValueError(f"event mode must be one of {_MODES}, got {m!r}")
    token = _mode.set(m)
    try:
        yield
    finally:
        _mode.reset(token)


def current_mode() -> Mode:
    """The mode set by the innermost :func:`mode` block (``"auto"`` outside any)."""
    return _mode.get()


def default_threshold(layer: nn.Module) -> float:
    """The density below which ``layer`` takes the event path when it has no
    ``event_threshold`` of its own (measured; see the module docstring).

    Linear: ``LINEAR_THRESHOLD · out / (out + LINEAR_HALF_OUT)``. The event path pays a
    scan of the input (``O(in)`` per row) that the dense matmul amortises over ``out``
    outputs, so narrow layers need sparser input to win (measured crossovers: ≈0.3 for
    784→1000 and 784→300, ≈0.14 for 784→100, ≈0.06 for 784→30, 0.02–0.07 for 1000→10).
    Conv2d: :data:`CONV2D_THRESHOLD` for stride 1, ≥ :data:`CONV2D_MIN_OUT` output channels
    per group and ≥ :data:`CONV2D_MIN_FAN_IN` inputs per output, else 0: smaller or strided
    convs were at best even with the dense conv at density 0.005. Other layers: 0.
    """
    if isinstance(layer, nn.Linear):
        out = layer.out_features
        return LINEAR_THRESHOLD * out / (out + LINEAR_HALF_OUT)
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        fan_in = layer.in_channels // layer.groups * kh * kw
        big = layer.out_channels // layer.groups >= CONV2D_MIN_OUT and fan_in >= CONV2D_MIN_FAN_IN
        return CONV2D_THRESHOLD if big and tuple(layer.stride) == (1, 1) else 0.0
    return 0.0


def threshold(layer: nn.Module) -> float:
    """``layer.event_threshold`` if set (not ``None``), else :func:`default_threshold`."""
    own = getattr(layer, "event_threshold", None)
    return default_threshold(layer) if own is None else float(own)


def _eligible(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Everything but density and binarity: dtype, device, gradients, tracing."""
    if x.dtype not in _FLOATS or x.dtype != weight.dtype or x.device != weight.device:
        return False
    if x.numel() == 0:
        return False
    if torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    ):
        return False
    if type(x) is not Tensor or _is_transformed(x):
        return False  # tensor subclasses, vmap/grad transforms: no data-dependent shapes
    if torch.is_autocast_enabled(x.device.type):
        return False  # the dense op would compute (and return) the autocast dtype
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling())


def _wanted(layer: nn.Module, x: Tensor) -> bool:
    """The mode and, under ``"auto"``, the density say the event path should run."""
    m = _mode.get()
    if m == "dense":
        return False
    if m == "auto":
        limit = threshold(layer)
        if limit <= 0.0 or x.device.type != "cpu":
            return False
        # for 0/1 input the sum is the number of ones; one branch-free pass (count_nonzero
        # is branchy: 5 ms instead of 0.06 ms at density 0.5 on [25, 128, 784]). Any other
        # input is caught by the binarity check; NaN sums compare False and go dense.
        if not float(x.sum()) < limit * x.numel():
            return False
    return True


def _active(layer: nn.Module, x: Tensor) -> Tensor | None:
    """Sorted flat indices of the nonzeros of ``x`` (contiguous order) if the event path
    should run, else ``None``."""
    if not _wanted(layer, x):
        return None
    flat = x.reshape(-1)
    # scan the bit patterns as integers: ~1.2-1.7x faster than the float scan; -0.0 is then
    # "active" but fails the binarity check below (dense path), as NaN or 0.5 do
    bits = flat.view(torch.int32 if flat.dtype == torch.float32 else torch.int64)
    idx = bits.nonzero().squeeze(1)
    if not bool((flat[idx] == 1).all()):
        return None  # not spikes: some nonzero value is not exactly 1
    return idx


_tables: ContextVar[dict[int, tuple[Tensor, int, Tensor]] | None] = ContextVar(
    "neurosim_event_tables", default=None
)


@contextmanager
def reuse_tables() -> Iterator[None]:
    """Inside the block a Linear's table ``Wᵀ`` is made once per weight tensor and reused
    (``Sequential.forward`` wraps its chunks in this: 0.3 ms per 784×1000 table and chunk).
    A weight changed in place through torch bumps its version and gets a new table; a new
    weight tensor (a parametrized weight is recomputed on every access) is a new key."""
    token = _tables.set({})
    try:
        yield
    finally:
        _tables.reset(token)


def _table(weight: Tensor) -> Tensor:
    cache = _tables.get()
    if cache is None:
        return weight.t().contiguous()
    hit = cache.get(id(weight))
    if hit is not None and hit[0] is weight and hit[1] == weight._version:
        return hit[2]
    table = weight.t().contiguous()
    cache[id(weight)] = (weight, weight._version, table)
    return table


def _bags(layer: nn.Linear, x: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(columns, offsets)`` of the ones of ``x`` viewed as ``[rows, in]`` (row r's active
    inputs are ``columns[offsets[r]:offsets[r + 1]]``) if the event path should run, else
    ``None``: the compiled scan where it runs, else ``nonzero`` and ``searchsorted``."""
    n_in = layer.in_features
    if x.device.type == "cpu" and jit.usable():
        if not _wanted(layer, x):
            return None
        return event_scan.bags(x.reshape(-1, n_in).contiguous())
    idx = _active(layer, x)
    if idx is None:
        return None
    n_rows = x.numel() // n_in
    if (n_rows + 1) * n_in < 2**31:
        idx = idx.int()  # int32 indices: faster arithmetic and embedding_bag
    bounds = torch.arange(0, (n_rows + 1) * n_in, n_in, dtype=idx.dtype, device=idx.device)
    offsets = torch.searchsorted(idx, bounds, out_int32=idx.dtype == torch.int32)
    return idx % n_in, offsets


def linear_events(cols: Tensor, offsets: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear(s, weight, bias)`` for binary ``s [rows, in]`` given the bags of its ones
    (row r's active inputs ``cols[offsets[r]:offsets[r + 1]]``); returns ``[rows, out]``."""
    table = _table(weight)  # [in, out]; embedding_bag is slow on the strided W.t()
    y = F.embedding_bag(cols, table, offsets, mode="sum", include_last_offset=True)
    if bias is not None:
        y.add_(bias)
    return y


def maybe_linear(layer: nn.Linear, x: Tensor) -> Tensor | None:
    """Event-driven ``layer(x)`` for ``x [..., in]``, or ``None`` for the dense path."""
    if not _eligible(x, layer.weight, layer.bias):
        return None
    found = _bags(layer, x)
    if found is None:
        return None  # dense: by mode or density, or some nonzero value is not exactly 1
    y = linear_events(*found, layer.weight, layer.bias)
    return y.view(*x.shape[:-1], layer.out_features)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def conv2d_events(
    idx: Tensor,
    shape: tuple[int, int, int, int],
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
) -> Tensor:
    """``F.conv2d(s, weight, bias, stride, padding, dilation, groups)`` for binary
    ``s [N, C, H, W]`` (zero padding) given the sorted flat indices ``idx`` of its ones."""
    n, c_in, h, w = shape
    c_out, c_in_g, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    c_out_g = c_out // groups
    dev = idx.device
    n_bags = n * groups * h_out * w_out  # one bag per output pixel (sample, group, oy, ox)
    n_rows = c_in * kh * kw  # table rows (c, ky, kx)
    # int32 index arithmetic is ~1.5x faster (sort included) when everything fits
    fits = max(n_bags + 1, n * c_in * h * w * kh * kw) < 2**31
    idx = idx.int() if fits else idx

    # decode the active inputs (n, c, iy, ix) from the NCHW flat index
    ix = idx % w
    rest = idx // w
    iy = rest % h
    rest = rest // h
    c = rest % c_in
    b = rest // c_in
    # every kernel tap (ky, kx) sends input (iy, ix) to output (oy, ox) with
    # oy·sh − ph + ky·dh = iy, if that oy is an integer inside the output
    ky = torch.arange(kh, device=dev, dtype=idx.dtype).repeat_interleave(kw)
    kx = torch.arange(kw, device=dev, dtype=idx.dtype).repeat(kh)
    oy = iy[:, None] + (ph - ky * dh)
    ox = ix[:, None] + (pw - kx * dw)
    ok = (oy >= 0) & (ox >= 0)
    if sh > 1:
        ok &= oy % sh == 0
        oy = oy // sh
    if sw > 1:
        ok &= ox % sw == 0
        ox = ox // sw
    ok &= (oy < h_out) & (ox < w_out)
    # taps that leave the output go to a sentinel bag past the last one: they sort to the
    # end and are cut off (cheaper than compacting the pairs with a boolean mask)
    bag = ((b * groups + c // c_in_g)[:, None] * h_out + oy) * w_out + ox
    bag = torch.where(ok, bag, n_bags).view(-1)
    row = (c[:, None] * (kh * kw) + (ky * kw + kx)).view(-1)
    bag, order = torch.sort(bag, stable=True)  # fixed summation order within a bag
    counts = torch.bincount(bag, minlength=n_bags + 1)[:n_bags]
    offsets = torch.zeros(n_bags + 1, dtype=row.dtype, device=dev)
    torch.cumsum(counts, 0, dtype=offsets.dtype, out=offsets[1:])
    row = row[order[: int(offsets[-1])]]

    # table row (c, ky, kx) holds the weights from input channel c at tap (ky, kx) to the
    # output channels of c's group (contiguous: embedding_bag is slow on a strided table)
    table = (
        weight.reshape(groups, c_out_g, c_in_g, kh, kw)
        .permute(0, 2, 3, 4, 1)
        .reshape(n_rows, c_out_g)
        .contiguous()
    )
    # (not padding_idx for the cut-off taps: it takes a slow path, 20x slower here)
    y = F.embedding_bag(row, table, offsets, mode="sum", include_last_offset=True)
    y = y.view(n, groups, h_out, w_out, c_out_g).permute(0, 1, 4, 2, 3)
    out = torch.empty(n, c_out, h_out, w_out, dtype=y.dtype, device=dev)
    if bias is None:
        out.view(n, groups, c_out_g, h_out, w_out).copy_(y)
    else:
        torch.add(
            y, bias.view(groups, c_out_g, 1, 1), out=out.view(n, groups, c_out_g, h_out, w_out)
        )
    return out


def maybe_conv2d(layer: nn.Conv2d, x: Tensor) -> Tensor | None:
    """Event-driven ``layer(x)`` for ``x [T, B, C, H, W]``, or ``None`` for the dense path."""
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        return None
    t, b, c, h, w = x.shape
    geometry = _pair(layer.stride), _pair(layer.padding), _pair(layer.dilation)
    kh, kw = layer.kernel_size
    _, (ph, pw), (dh, dw) = geometry
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return None  # no output: let the dense conv raise its error
    if not _eligible(x, layer.weight, layer.bias):
        return None
    idx = _active(layer, x)
    if idx is None:
        return None
    y = conv2d_events(idx, (t * b, c, h, w), layer.weight, layer.bias, *geometry, layer.groups)
    return y.unflatten(0, (t, b))
