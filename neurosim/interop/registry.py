"""Converter registries keyed by type, and the lazy import of optional libraries.

Each converter module (``snntorch``, ``nir``) keeps one ``ConverterRegistry`` that maps a
source type (``snn.Leaky``, ``nir.LIF``, ``neurosim.LIF``, ...) to the function converting
it. The built-in entries need the optional library, so they are registered on first use;
``register`` rejects a type that already has a converter, and ``lookup`` walks the MRO so a
subclass finds its base's converter unless it registers its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Generic, TypeVar

__all__ = ["ConverterRegistry", "require"]

F = TypeVar("F", bound=Callable[..., object])


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"{purpose} needs the optional dependency {module!r}; install it with: "
            f'pip install "neurosim[{extra}]"'
        ) from err


class ConverterRegistry(Generic[F]):
    """Converters keyed by the type they convert.

    name: what the registry converts, used in error messages (``"snnTorch module"``).
    builtins: called once, on first use, with the registry; registers the built-in entries.
    """

    def __init__(
        self, name: str, builtins: Callable[[ConverterRegistry[F]], None] | None = None
    ) -> None:
        self.name = name
        self._builtins = builtins
        self._table: dict[type, F] = {}

    def _load(self) -> None:
        if self._builtins is not None:
            builtins, self._builtins = self._builtins, None
            builtins(self)

    def register(self, key: type, converter: F) -> None:
        """Register ``converter`` for ``key``; a type already registered raises ``ValueError``."""
        if not isinstance(key, type):
            raise TypeError(f"{self.name} converters are keyed by type, got {key!r}")
        self._load()
        if key in self._table:
            raise ValueError(
                f"a {self.name} converter for {key.__qualname__} is already registered "
                f"({self._table[key]!r})"
            )
        self._table[key] = converter

    def lookup(self, key: type) -> F | None:
        """The converter for ``key`` or its nearest registered base class; ``None`` if none."""
        self._load()
        for cls in key.__mro__:
            if cls in self._table:
                return self._table[cls]
        return None

    def supported(self) -> list[str]:
        """Names of the registered types, sorted."""
        self._load()
        return sorted(t.__qualname__ for t in self._table)

    def __contains__(self, key: type) -> bool:
        self._load()
        return key in self._table
