"""The wheel holds every package and the bundled hardware profiles."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "neurosim").rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {found - listed}"


@pytest.mark.slow
def test_wheel_ships_the_hardware_profiles(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("neurosim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    profiles = {Path(n).name for n in names if n.startswith("neurosim/hardware_models/")}
    assert {p.name for p in (ROOT / "hardware_models").glob("*.yaml")} == profiles
    assert "neurosim/energy/model.py" in names
