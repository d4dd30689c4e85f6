"""The top-level namespace: eager core names, subpackages loaded on first use."""

import subprocess
import sys

import pytest

import neurosim as ns


@pytest.mark.parametrize("name", ["datasets", "interop", "io", "models", "training", "viz"])
def test_subpackages_are_reachable_from_the_top_level(name: str) -> None:
    module = getattr(ns, name)
    assert module.__name__ == f"neurosim.{name}"


def test_sweeps_are_exported_from_training() -> None:
    from neurosim.training.sweep import SweepConfig, run_sweep

    assert ns.training.run_sweep is run_sweep
    assert ns.training.SweepConfig is SweepConfig


def test_adversarial_trainers_are_exported_from_training() -> None:
    from neurosim.training import adversarial

    assert ns.training.fit_gan is adversarial.fit_gan
    assert ns.training.fit_dann is adversarial.fit_dann
    assert ns.training.DANN is adversarial.DANN


def test_unknown_attribute_names_itself() -> None:
    with pytest.raises(AttributeError, match="'no_such_thing'"):
        _ = ns.no_such_thing  # type: ignore[attr-defined]


def test_import_does_not_load_plotting_or_converters() -> None:
    code = (
        "import sys, neurosim\n"
        "print(','.join(m for m in ('matplotlib', 'brian2', 'nir', 'snntorch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
