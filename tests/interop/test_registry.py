"""The converter registry and the lazy imports of neurosim.interop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from neurosim.interop.registry import ConverterRegistry, require


class Base:
    pass


class Child(Base):
    pass


def test_lookup_walks_the_mro_and_duplicates_are_rejected() -> None:
    reg: ConverterRegistry[object] = ConverterRegistry("test")
    reg.register(Base, "base")
    assert reg.lookup(Child) == "base"
    assert reg.lookup(int) is None
    reg.register(Child, "child")
    assert reg.lookup(Child) == "child"
    assert reg.supported() == ["Base", "Child"]
    with pytest.raises(ValueError, match="converter for Base is already registered"):
        reg.register(Base, "again")
    with pytest.raises(TypeError, match="keyed by type"):
        reg.register("Base", "name")  # type: ignore[arg-type]


def test_builtins_load_once_on_first_use() -> None:
    calls = []

    def builtins(reg: ConverterRegistry[object]) -> None:
        calls.append(1)
        reg.register(Base, "base")

    reg: ConverterRegistry[object] = ConverterRegistry("test", builtins)
    assert calls == []
    assert Base in reg
    assert reg.lookup(Base) == "base"
    with pytest.raises(ValueError, match="already registered"):
        reg.register(Base, "user")  # a built-in cannot be replaced silently
    assert calls == [1]


def test_require_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'my feature needs .*pip install "neurosim\[ray\]"'):
        require("ray", "ray", "my feature")
    assert require("math", "none", "x").sqrt(4.0) == 2.0


def test_importing_interop_imports_no_optional_library() -> None:
    code = (
        "import sys, neurosim.interop\n"
        "print(sorted(m for m in ('brian2', 'nir', 'snntorch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
