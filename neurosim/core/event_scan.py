"""Compiled scan of binary input for the event-driven Linear (numba): the bags of active
inputs per row, in two passes over the input instead of torch's ``nonzero`` (one branchy
pass at ~2 G elements/s: 1.2 ms on ``[3200, 784]``), a ``searchsorted``, a remainder and a
binarity check on the gathered values.

Pass 1 counts each row's nonzeros and flags any nonzero that is not exactly 1 (0.5, 2,
NaN, inf) or any ``-0.0`` (as the torch scan, which sees its sign bit); pass 2 writes each
row's column indices (increasing) at its offset. Rows run on ``torch.get_num_threads()``
threads.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from neurosim.core import jit

__all__ = ["bags"]


@jit.jit
def _count(x, one, counts, bad):  # type: ignore[no-untyped-def]
    n_rows, n = x.shape
    for r in jit.prange(n_rows):
        row = x[r]
        c = 0
        b = 0
        for j in range(n):  # branch-free, so that it vectorises
            v = row[j]
            nz = v != 0
            c += nz
            b |= (nz & (v != one)) | (math.copysign(one, v) < 0)  # also -0.0
        counts[r + 1] = c
        bad[r] = b


@jit.jit
def _fill(x, offsets, cols):  # type: ignore[no-untyped-def]
    n_rows, n = x.shape
    for r in jit.prange(n_rows):
        row = x[r]
        k = offsets[r]
        for j in range(n):
            if row[j] != 0:
                cols[k] = j
                k += 1


def bags(x: Tensor) -> tuple[Tensor, Tensor] | None:
    """``(columns, offsets)`` of the ones of ``x [rows, in]`` (int64; row r's columns are
    ``columns[offsets[r]:offsets[r + 1]]``), or ``None`` when some element is neither 0 nor 1
    (``-0.0`` included).
    ``x``: contiguous CPU float32/float64; the kernels usable (``jit.usable()``)."""
    xs = x.numpy()
    n_rows = xs.shape[0]
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    bad = np.zeros(n_rows, dtype=np.int8)
    jit.run(_count, xs, xs.dtype.type(1), offsets, bad)
    if bad.any():
        return None
    np.cumsum(offsets, out=offsets)
    cols = np.empty(int(offsets[-1]), dtype=np.int64)
    jit.run(_fill, xs, offsets, cols)
    return torch.from_numpy(cols), torch.from_numpy(offsets)
