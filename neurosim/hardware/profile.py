"""Hardware profiles: validated energy, latency and topology constants with sources.

A profile is one YAML file. Every constant is written as

    e_synop_pj: {value: 23.6, source: "Davies et al., IEEE Micro 38(1) 2018, Table 2",
                 grade: measured, note: "..."}

with its unit in its name (``_pj``, ``_pj_per_byte``, ``_mw``, ``_s``) and an evidence grade:
``measured`` (silicon), ``simulated`` (pre-silicon or calibrated simulator), ``derived``
(computed from other published figures, or an estimate) or ``convention`` (an accepted
convention, or 0 because the cost is folded into another constant — the note says where).
All fields are required except ``op_costs`` (add/multiply energies by bit width, see
``neurosim/hardware/bitwidth.py``; checked against ``e_synop_pj``/``e_mac_pj``); unknown
fields, negative values and wrong units are errors that name the file, the field and the value.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from neurosim.hardware.bitwidth import OpCosts, check_consistent

__all__ = [
    "ENERGY_FIELDS",
    "Constant",
    "HardwareProfile",
    "ProfileError",
    "available",
    "load",
    "load_all",
]

Grade = Literal["measured", "simulated", "derived", "convention"]

_UNIT_OF_SUFFIX = {"_pj": "pJ", "_pj_per_byte": "pJ/byte", "_mw": "mW", "_s": "s"}


class ProfileError(ValueError):
    """A hardware profile file that cannot be read or does not validate."""


class Constant(BaseModel):
    """One physical constant: a value ≥ 0 in the unit its field name carries, and its origin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0, allow_inf_nan=False)
    source: str = Field(min_length=3)
    grade: Grade
    note: str = ""
    unit: str | None = Field(default=None, description="optional; must match the field name")


class HardwareProfile(BaseModel):
    """Costs of one hardware target. Energies per event; see ``energy/MODEL.md``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=3)
    kind: Literal["neuromorphic", "fpga", "cpu", "gpu", "asic"]
    per_op_numbers: Literal["published", "derived"] = Field(
        description="'derived' when no per-operation figure is published for this target"
    )
    skips_zero_inputs: bool = Field(description="MACs on zero-valued analog inputs are skipped")
    event_driven: bool = Field(
        description="binary inputs cost per spike event; if false, every synapse every step"
    )
    weight_bits: int = Field(ge=1, le=64)
    state_bits: int = Field(ge=1, le=64)
    neurons_per_core: int = Field(ge=1)
    cores_per_tile: int = Field(ge=1, description="cores sharing one router (0 hops apart)")
    mesh_width: int = Field(ge=1, description="tiles per row of the 2-D mesh")

    e_synop_pj: Constant  # accumulate of one synaptic event (spike × synapse)
    e_mac_pj: Constant  # multiply-accumulate on a non-binary input
    e_neuron_driven_pj: Constant  # neuron update in a step it received input
    e_neuron_idle_pj: Constant  # neuron update in a step without input (leak only)
    e_spike_pj: Constant  # generating one output spike
    e_packet_pj: Constant  # one spike packet into the network (per destination core)
    e_hop_x_pj: Constant  # one east-west router-to-router hop of a packet
    e_hop_y_pj: Constant  # one north-south router-to-router hop of a packet
    e_weight_read_pj_per_byte: Constant  # weight memory read per synaptic event / MAC
    e_state_rw_pj_per_byte: Constant  # neuron state read + write per update
    p_static_mw: Constant  # static (leakage + idle) power while running
    t_synop_s: Constant  # latency per synaptic event on one core
    t_mac_s: Constant  # latency per MAC on one core
    t_neuron_s: Constant  # latency per neuron update on one core
    t_hop_x_s: Constant  # latency per east-west hop
    t_hop_y_s: Constant  # latency per north-south hop
    t_step_sync_s: Constant  # fixed time-step synchronisation overhead
    # optional add/multiply energies by bit width (neurosim/hardware/bitwidth.py); null:
    # bit widths change memory bytes only. Declared last: validated against the constants.
    op_costs: OpCosts | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _check_unit(cls, value: Any, info: Any) -> Any:
        name = info.field_name
        if isinstance(value, dict) and "unit" in value and value["unit"] is not None:
            want = next((u for s, u in _UNIT_OF_SUFFIX.items() if name.endswith(s)), None)
            if want is not None and str(value["unit"]) != want:
                raise ValueError(
                    f"unit {value['unit']!r} does not match the field name: {name} is in {want}"
                )
        return value

    @field_validator("op_costs")
    @classmethod
    def _check_op_costs(cls, value: OpCosts | None, info: Any) -> OpCosts | None:
        data = info.data
        if value is not None and {"weight_bits", "e_synop_pj", "e_mac_pj"} <= set(data):
            check_consistent(
                value, data["weight_bits"], data["e_synop_pj"].value, data["e_mac_pj"].value
            )
        return value

    def constants(self) -> dict[str, Constant]:
        """All constants by field name."""
        return {k: v for k, v in self if isinstance(v, Constant)}

    def sources(self) -> list[str]:
        """Distinct sources cited, in field order."""
        seen: list[str] = []
        for c in self.constants().values():
            if c.source not in seen:
                seen.append(c.source)
        return seen


ENERGY_FIELDS = tuple(n for n in HardwareProfile.model_fields if n.startswith(("e_", "p_")))


def _bundled_dir() -> Path:
    """Installed: the data package ``neurosim.hardware_models``; in a source checkout
    imported from its root (where ``neurosim/`` shadows the installed mapping): the
    repository's ``hardware_models/``."""
    try:
        return Path(str(resources.files("neurosim.hardware_models")))
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2] / "hardware_models"
        if checkout.is_dir():
            return checkout
        raise


def available() -> tuple[str, ...]:
    """Names of the bundled profiles."""
    return tuple(sorted(p.stem for p in _bundled_dir().glob("*.yaml")))


def _format_error(path: Path, err: ValidationError, data: dict[str, Any]) -> str:
    lines = [f"hardware profile {path} is not valid:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].replace("Value error, ", "")
        if e["type"] == "extra_forbidden":
            hint = _suggest(str(e["loc"][-1]))
            lines.append(f"  {loc}: unknown field{hint}")
        elif e["type"] == "missing":
            lines.append(f"  {loc}: missing field")
        elif e["type"] == "value_error" and isinstance(e.get("input"), dict):
            lines.append(f"  {loc}: {msg}")  # a whole table: the message says what is wrong
        else:
            lines.append(f"  {loc} = {e.get('input')!r}: {msg}")
    return "\n".join(lines)


def _suggest(field: str) -> str:
    stem = re.sub(r"_(pj|nj|uj|mj|j|pj_per_byte|mw|w|uw|s|ns|us|ms)$", "", field)
    for name in HardwareProfile.model_fields:
        if name != field and re.sub(r"_(pj|pj_per_byte|mw|s)$", "", name) == stem:
            return f" (did you mean {name}? units are fixed by the field name)"
    return ""


def _load_path(path: Path) -> HardwareProfile:
    try:
        text = path.read_text()
    except OSError as err:
        raise ProfileError(f"hardware profile {path} cannot be read: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ProfileError(f"hardware profile {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"hardware profile {path} must be a mapping of fields")
    try:
        return HardwareProfile.model_validate(data)
    except ValidationError as err:
        raise ProfileError(_format_error(path, err, data)) from None


def load(spec: str | os.PathLike[str] | HardwareProfile) -> HardwareProfile:
    """A bundled profile by name (``"loihi"``) or any profile YAML by path."""
    if isinstance(spec, HardwareProfile):
        return spec
    text = os.fspath(spec)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text:
        if not path.is_file():
            raise FileNotFoundError(f"hardware profile file {path} does not exist")
        return _load_path(path.resolve())
    if text not in available():
        raise ValueError(
            f"unknown hardware profile {text!r}; bundled: {', '.join(available())} "
            "(or pass a path to a YAML file)"
        )
    return _load_path(_bundled_dir() / f"{text}.yaml")


def load_all() -> list[HardwareProfile]:
    """Every bundled profile."""
    return [load(n) for n in available()]
