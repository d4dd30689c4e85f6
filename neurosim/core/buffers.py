"""A recycling pool for the large CPU tensors the compiled kernels return.

A fresh ``[T, B, ...]`` buffer costs a page fault per 4 KiB the first time it is written:
glibc hands buffers above its mmap threshold back to the OS when they are freed (and trims
the heap top), so a training step that allocates the same few large buffers every time pays
for them every time — measured here at ~0.75 µs per fault, ~2.3 ms for one ``[25, 128,
1000]`` float32 buffer (3,125 faults), half the LIF layer's whole training step
(``python -m benchmarks.probe steps neuron_train 0 neurosim 30`` on commit ``dd9676b``,
before this pool: steps of 3.7–4.2 ms without faults, 6.0–6.7 ms with 3,093–3,125).
Per-step libraries allocate small buffers that glibc recycles; whole-sequence kernels need a
pool.

``take(shape, dtype)`` returns a tensor backed by a block from the pool (or a new one). The
tensor owns the block through a numpy array; when the last tensor or view using it is
freed, the block goes back to the pool (``weakref.finalize`` on that array), so nothing can
see a block while it is reused. Free blocks are kept per size, at most ``MAX_FREE_PER_SIZE``
of each and ``MAX_FREE_BYTES`` in all (oldest dropped first). Contents of a taken tensor are
undefined, as with ``torch.empty``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

__all__ = ["MAX_FREE_BYTES", "MAX_FREE_PER_SIZE", "MIN_BYTES", "clear", "free_bytes", "take"]

#: Smaller tensors come from torch's allocator (glibc recycles them itself).
MIN_BYTES = 1 << 20
MAX_FREE_PER_SIZE = 4
MAX_FREE_BYTES = 1 << 30
_ALIGN = 64

_lock = threading.Lock()
_free: OrderedDict[int, list[np.ndarray]] = OrderedDict()  # nbytes → free blocks
_free_total = 0

_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}


def _new_block(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    offset = (-raw.ctypes.data) % _ALIGN
    return raw[offset : offset + nbytes]


def _give_back(block: np.ndarray) -> None:
    global _free_total
    nbytes = block.nbytes
    with _lock:
        blocks = _free.setdefault(nbytes, [])
        _free.move_to_end(nbytes)
        if len(blocks) >= MAX_FREE_PER_SIZE:
            return
        blocks.append(block)
        _free_total += nbytes
        while _free_total > MAX_FREE_BYTES and _free:
            size, old = next(iter(_free.items()))
            if old:
                old.pop(0)
                _free_total -= size
            if not old:
                del _free[size]


def take(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
    """An uninitialised CPU tensor of ``shape`` and ``dtype`` (float32/float64), from the
    pool when it is at least ``MIN_BYTES``."""
    global _free_total
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    if dtype not in _NUMPY or nbytes < MIN_BYTES:
        return torch.empty(shape, dtype=dtype)
    with _lock:
        blocks = _free.get(nbytes)
        block = blocks.pop() if blocks else None
        if block is not None:
            _free_total -= nbytes
    if block is None:
        block = _new_block(nbytes)
    arr = block.view(_NUMPY[dtype]).reshape(tuple(shape))
    weakref.finalize(arr, _give_back, block).atexit = False  # nothing to return at exit
    return torch.from_numpy(arr)


def free_bytes() -> int:
    """Bytes held by free blocks."""
    return _free_total


def clear() -> None:
    """Drop every free block (hand the memory back to the allocator)."""
    global _free_total
    with _lock:
        _free.clear()
        _free_total = 0
