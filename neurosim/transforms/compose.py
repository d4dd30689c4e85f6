"""Chaining transforms: ``compose(t1, t2, ...)(net) == ... t2(t1(net))``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

__all__ = ["Transform", "compose"]

#: A network transform: takes a network and returns a new one (the input left unchanged).
Transform = Callable[[nn.Module], Any]


def compose(*transforms: Transform) -> Transform:
    """One transform applying ``transforms`` left to right, each to the previous result.

    Arguments are bound with ``functools.partial`` (or a lambda), e.g.
    ``compose(partial(quantize, weight_states=3), spectral_norm)``. Each transform returns a
    new network, so the input of the composition is never modified.
    """
    if not transforms:
        raise ValueError("compose needs at least one transform")
    for i, t in enumerate(transforms):
        if not callable(t):
            raise TypeError(f"compose: argument {i} is not callable, got {type(t).__name__}")

    def composed(net: nn.Module) -> Any:
        for t in transforms:
            net = t(net)
        return net

    composed.__doc__ = (
        "compose(" + ", ".join(getattr(t, "__name__", repr(t)) for t in transforms) + ")"
    )
    return composed
