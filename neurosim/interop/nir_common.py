"""What the NIR exporters and importers share: the conversion context, the recurrent node
pair, array helpers and the lazy ``nir`` import (see ``neurosim.interop.nir``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import Tensor, nn

from neurosim.interop.registry import require

__all__ = [
    "Context",
    "Exporter",
    "Importer",
    "Method",
    "Recurrent",
    "check_method",
    "full_array",
    "int_pair",
    "int_tuple",
    "load_nir",
    "to_numpy",
]

Method = Literal["exact", "euler"]


@dataclass(frozen=True)
class Context:
    """What a converter needs besides its layer/node."""

    where: str  # "layer 3 (LIF)" or "node 'lif1' (LIF)"
    in_shape: tuple[int, ...]  # per sample, without [T, B]
    out_shape: tuple[int, ...]
    dt: float
    method: Method
    layers: list[nn.Module]  # neurosim layers built so far (import only)


@dataclass(frozen=True)
class Recurrent:
    """An exporter's result for a neuron with recurrent synapses: ``neuron`` goes on the
    chain as ``"<i>.lif"``, ``weight`` on the cycle ``lif → w_rec → lif`` as ``"<i>.w_rec"``."""

    neuron: Any
    weight: Any


Exporter = Callable[[Any, Context], Any]
Importer = Callable[[Any, Context], list[nn.Module]]


def load_nir() -> Any:
    return require("nir", "nir", "neurosim.interop.to_nir/from_nir")


def check_method(method: str) -> None:
    if method not in ("exact", "euler"):
        raise ValueError(f"method={method!r} is not valid; expected 'exact' or 'euler'")


def to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def full_array(value: Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` broadcast to ``shape`` (float64)."""
    return np.broadcast_to(value.detach().double().cpu().numpy(), shape).copy()


def int_pair(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.int64).reshape(-1)
    return np.array((a[0], a[0]) if a.size == 1 else a, dtype=np.int64)


def int_tuple(v: Any) -> tuple[int, int]:
    a = int_pair(v)
    return int(a[0]), int(a[1])
