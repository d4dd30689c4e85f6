"""Bundled hardware profiles: they load, carry sources and grades, quote the published numbers,
and the loader rejects bad files with messages that name the file, the field and the value."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from neurosim.hardware import (
    HardwareProfile,
    ProfileError,
    available,
    load,
    load_all,
)
from neurosim.hardware.listing import profile_detail, profiles_table, unit_of
from neurosim.hardware.profile import _bundled_dir

CONSTANT_FIELDS = [
    "e_synop_pj",
    "e_mac_pj",
    "e_neuron_driven_pj",
    "e_neuron_idle_pj",
    "e_spike_pj",
    "e_packet_pj",
    "e_hop_x_pj",
    "e_hop_y_pj",
    "e_weight_read_pj_per_byte",
    "e_state_rw_pj_per_byte",
    "p_static_mw",
    "t_synop_s",
    "t_mac_s",
    "t_neuron_s",
    "t_hop_x_s",
    "t_hop_y_s",
    "t_step_sync_s",
]
EXPECTED = {
    "loihi",
    "loihi-sanafe",
    "loihi2",
    "truenorth",
    "spinnaker",
    "spinnaker2",
    "odin",
    "fpga-hls",
    "cpu",
    "gpu",
    "arm",
    "asic45-fp32",
    "asic45-int8",
}
DENSE = ("cpu", "gpu", "arm", "asic45-fp32", "asic45-int8")
ROUTING = ("e_packet_pj", "e_hop_x_pj", "e_hop_y_pj")


def _raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load((_bundled_dir() / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------------------------
# Every bundled profile


def test_at_least_twelve_profiles_bundled() -> None:
    names = set(available())
    assert len(names) >= 12
    assert names >= EXPECTED


@pytest.mark.parametrize("name", available())
def test_profile_loads_and_file_name_is_its_name(name: str) -> None:
    profile = load(name)
    assert isinstance(profile, HardwareProfile)
    assert profile.name == name
    assert (_bundled_dir() / f"{name}.yaml").is_file()


@pytest.mark.parametrize("name", available())
def test_profile_file_writes_every_field(name: str) -> None:
    raw = _raw(name)
    assert set(raw) == set(HardwareProfile.model_fields)
    assert list(load(name).constants()) == CONSTANT_FIELDS


@pytest.mark.parametrize("name", available())
def test_every_constant_has_source_grade_and_reason(name: str) -> None:
    profile = load(name)
    for field, c in profile.constants().items():
        assert len(c.source.strip()) >= 3, (name, field)
        assert c.grade in ("measured", "simulated", "derived", "convention"), (name, field)
        if c.unit is not None:
            assert c.unit == unit_of(field), (name, field)
        if c.value == 0:
            # a zero is either folded into another constant or not modelled: say which
            assert c.grade == "convention", (name, field)
            assert c.note.strip(), (name, field)
        if c.grade == "derived":
            assert c.note.strip(), (name, field)


@pytest.mark.parametrize("name", available())
def test_derived_per_op_numbers_are_said_plainly(name: str) -> None:
    profile = load(name)
    if profile.per_op_numbers == "derived":
        assert "no published per-op" in profile.description.lower()
        assert any(c.grade == "derived" for c in profile.constants().values())


def test_dense_and_event_driven_targets() -> None:
    for name in DENSE:
        profile = load(name)
        assert profile.kind in ("cpu", "gpu", "asic")
        assert profile.skips_zero_inputs is False
        for field in ROUTING:
            c = getattr(profile, field)
            assert c.value == 0
            assert c.grade == "convention"
            assert "no on-chip spike network" in c.note
    for name in ("loihi", "loihi-sanafe", "loihi2", "truenorth", "spinnaker", "spinnaker2", "odin"):
        profile = load(name)
        assert profile.kind == "neuromorphic"
        assert profile.skips_zero_inputs is True
    assert load("fpga-hls").kind == "fpga"


# --------------------------------------------------------------------------------------------
# Published numbers


def test_loihi_davies_2018_table_2() -> None:
    p = load("loihi")
    assert p.e_synop_pj.value == 23.6
    assert p.e_neuron_driven_pj.value == 81.0
    assert p.e_neuron_idle_pj.value == 52.0
    assert (p.e_hop_x_pj.value, p.e_hop_y_pj.value) == (3.0, 4.0)
    assert p.per_op_numbers == "published"


def test_loihi2_stands_on_loihi_figures() -> None:
    p, base = load("loihi2"), load("loihi")
    assert p.per_op_numbers == "derived"
    for field in ("e_synop_pj", "e_neuron_driven_pj", "e_neuron_idle_pj", "e_packet_pj"):
        assert getattr(p, field).value == getattr(base, field).value
        assert getattr(p, field).grade == "derived"
        assert "Loihi 1" in getattr(p, field).source


def test_horowitz_45nm() -> None:
    fp32, int8 = load("asic45-fp32"), load("asic45-int8")
    assert fp32.e_mac_pj.value == 4.6
    assert fp32.e_synop_pj.value == 0.9
    assert int8.e_mac_pj.value == 0.23
    assert int8.e_synop_pj.value == 0.03
    for p in (fp32, int8):
        assert p.e_weight_read_pj_per_byte.value == 1.25
        assert p.e_weight_read_pj_per_byte.grade == "derived"
        assert "10 pJ / 8 bytes" in p.e_weight_read_pj_per_byte.note
    assert (fp32.weight_bits, int8.weight_bits) == (32, 8)


def test_all_in_figures_carry_everything() -> None:
    for name, synop in (("truenorth", 26.0), ("odin", 12.7), ("fpga-hls", 21000.0)):
        p = load(name)
        assert p.e_synop_pj.value == synop
        assert p.e_synop_pj.grade == "measured"
        assert "all-in" in p.e_synop_pj.note
        for field in CONSTANT_FIELDS:
            if field.startswith(("e_", "p_")) and field not in ("e_synop_pj", "e_mac_pj"):
                assert getattr(p, field).value == 0, (name, field)


def test_kerasspiking_device_constants() -> None:
    # keras_spiking/model_energy.py ModelEnergy.devices, in pJ
    for name, synop, neuron in (
        ("cpu", 8600.0, 8600.0),
        ("gpu", 300.0, 300.0),
        ("arm", 900.0, 900.0),
        ("spinnaker", 13300.0, 26000.0),
        ("spinnaker2", 450.0, 2190.0),
    ):
        p = load(name)
        assert p.e_synop_pj.value == synop
        assert p.e_neuron_driven_pj.value == neuron
        assert p.e_neuron_idle_pj.value == neuron
        assert "KerasSpiking" in p.e_synop_pj.source
    for name in ("cpu", "gpu", "arm"):
        p = load(name)
        assert p.e_mac_pj.value == p.e_synop_pj.value
    assert load("spinnaker2").per_op_numbers == "derived"


# --------------------------------------------------------------------------------------------
# loihi-sanafe against SANA-FE's own shipped architecture file

_RANGE = re.compile(r"\[(\d+)\.\.(\d+)\]$")


def _by_name(units: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for unit in units:
        if unit["name"] == name:
            attributes = unit["attributes"]
            assert isinstance(attributes, dict)
            return attributes
    raise AssertionError(f"{name} not in SANA-FE's loihi.yaml")


def _count(name: str) -> int:
    m = _RANGE.search(name)
    return 1 if m is None else int(m.group(2)) - int(m.group(1)) + 1


def test_loihi_sanafe_equals_sanafe_arch_file() -> None:
    pytest.importorskip("sanafe", reason="sanafe (SANA-FE) is not installed")
    arch_file = resources.files("sanafe.examples") / "loihi.yaml"
    arch = yaml.safe_load(arch_file.read_text())["architecture"]
    tile = arch["tile"][0]
    core = tile["core"][0]
    t_att, c_att = tile["attributes"], core["attributes"]
    lif = _by_name(core["soma"], "loihi_lif")
    dense = _by_name(core["synapse"], "loihi_dense_synapse")
    out = _by_name(core["axon_out"], "loihi_out")
    inputs = _by_name(core["soma"], "loihi_inputs[0..1023]")

    p = load("loihi-sanafe")
    pj, approx = 1e12, pytest.approx

    assert p.e_synop_pj.value == approx(dense["energy_process_spike"] * pj)
    assert p.e_neuron_idle_pj.value == approx(lif["energy_access_neuron"] * pj)
    assert p.e_neuron_driven_pj.value == approx(
        (lif["energy_access_neuron"] + lif["energy_update_neuron"]) * pj
    )
    assert p.e_spike_pj.value == approx(lif["energy_spike_out"] * pj)
    assert p.e_packet_pj.value == approx(out["energy_message_out"] * pj)
    assert p.e_hop_x_pj.value == approx(t_att["energy_east_hop"] * pj)
    assert p.e_hop_x_pj.value == approx(t_att["energy_west_hop"] * pj)
    assert p.e_hop_y_pj.value == approx(t_att["energy_north_hop"] * pj)
    assert p.e_hop_y_pj.value == approx(t_att["energy_south_hop"] * pj)
    # inputs are free in SANA-FE, and so are MACs here
    assert all(v == 0 for k, v in inputs.items() if k.startswith(("energy_", "latency_")))
    assert p.e_mac_pj.value == 0
    assert p.t_mac_s.value == 0

    assert p.t_synop_s.value == approx(dense["latency_process_spike"])
    assert p.t_neuron_s.value == approx(lif["latency_access_neuron"] + lif["latency_update_neuron"])
    assert p.t_hop_x_s.value == approx(t_att["latency_east_hop"])
    assert p.t_hop_y_s.value == approx(t_att["latency_north_hop"])
    assert p.t_step_sync_s.value == approx(arch["attributes"]["latency_sync"][1])

    assert p.neurons_per_core == c_att["max_neurons_supported"]
    assert p.cores_per_tile == _count(core["name"])
    assert p.mesh_width == arch["attributes"]["width"]

    # the arithmetic the notes show
    assert p.e_neuron_driven_pj.value == approx(51.2 + 21.6)
    assert (p.e_spike_pj.value, p.e_packet_pj.value) == (69.3, 111.0)
    for c in p.constants().values():
        assert c.source.startswith("SANA-FE 2.2.9 arch loihi.yaml")


# --------------------------------------------------------------------------------------------
# Validation errors, each from a file written here


def _valid() -> dict[str, Any]:
    data = _raw("loihi")
    data["name"] = "my-chip"
    return data


def _write(tmp_path: Path, data: Any, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _error(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    return message


def test_unknown_field_suggests_the_unit_in_the_name(tmp_path: Path) -> None:
    data = _valid()
    data["e_synop_nj"] = data.pop("e_synop_pj")
    message = _error(_write(tmp_path, data))
    assert "e_synop_nj: unknown field" in message
    assert "did you mean e_synop_pj?" in message
    assert "e_synop_pj: missing field" in message


def test_unknown_field_without_suggestion(tmp_path: Path) -> None:
    data = _valid()
    data["colour"] = "blue"
    message = _error(_write(tmp_path, data))
    assert "colour: unknown field" in message
    assert "did you mean" not in message


def test_missing_field(tmp_path: Path) -> None:
    data = _valid()
    del data["t_step_sync_s"]
    message = _error(_write(tmp_path, data))
    assert "t_step_sync_s: missing field" in message


def test_negative_energy(tmp_path: Path) -> None:
    data = _valid()
    data["e_neuron_idle_pj"]["value"] = -1.0
    message = _error(_write(tmp_path, data))
    assert "e_neuron_idle_pj.value = -1.0" in message
    assert "greater than or equal to 0" in message


def test_wrong_unit(tmp_path: Path) -> None:
    data = _valid()
    data["e_synop_pj"]["unit"] = "nJ"
    message = _error(_write(tmp_path, data))
    assert "e_synop_pj" in message
    assert "unit 'nJ' does not match the field name" in message
    assert "in pJ" in message


def test_right_unit_is_accepted(tmp_path: Path) -> None:
    data = _valid()
    data["e_synop_pj"]["unit"] = "pJ"
    data["e_weight_read_pj_per_byte"]["unit"] = "pJ/byte"
    data["p_static_mw"]["unit"] = "mW"
    data["t_synop_s"]["unit"] = "s"
    assert load(_write(tmp_path, data, "ok.yaml")).e_synop_pj.unit == "pJ"


def test_bad_grade(tmp_path: Path) -> None:
    data = _valid()
    data["e_mac_pj"]["grade"] = "guessed"
    message = _error(_write(tmp_path, data))
    assert "e_mac_pj.grade = 'guessed'" in message
    assert "measured" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- e_synop_pj\n- e_mac_pj\n")
    message = _error(path)
    assert "must be a mapping" in message


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert "must be a mapping" in _error(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n  e_synop_pj: {value: 1\n")
    message = _error(path)
    assert "is not valid YAML" in message


def test_missing_path() -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load("/nonexistent/dir/chip.yaml")
    with pytest.raises(FileNotFoundError):
        load(Path("no-such-profile.yaml"))


def test_unknown_bundled_name_lists_the_bundled() -> None:
    with pytest.raises(ValueError, match="unknown hardware profile 'loihi3'") as info:
        load("loihi3")
    assert not isinstance(info.value, ProfileError)
    for name in available():
        assert name in str(info.value)


# --------------------------------------------------------------------------------------------
# User profiles, load_all


def test_user_profile_by_path(tmp_path: Path) -> None:
    data = _valid()
    data["e_synop_pj"] = {"value": 5.0, "source": "my measurement", "grade": "measured"}
    path = _write(tmp_path, data, "my-chip.yaml")
    for spec in (path, str(path)):
        profile = load(spec)
        assert profile.name == "my-chip"
        assert profile.e_synop_pj.value == 5.0
        assert profile.e_synop_pj.note == ""
    assert load(profile) is profile
    assert "my-chip" not in available()


def test_load_all() -> None:
    profiles = load_all()
    assert [p.name for p in profiles] == list(available())
    assert all(isinstance(p, HardwareProfile) for p in profiles)


# --------------------------------------------------------------------------------------------
# Listing tables


def _render(table: Any) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_unit_of() -> None:
    assert unit_of("e_synop_pj") == "pJ"
    assert unit_of("e_weight_read_pj_per_byte") == "pJ/byte"
    assert unit_of("p_static_mw") == "mW"
    assert unit_of("t_step_sync_s") == "s"
    assert unit_of("name") == ""


def test_profiles_table_renders() -> None:
    text = _render(profiles_table(load_all()))
    for header in ("name", "kind", "per-op numbers", "e_synop_pj", "e_mac_pj", "static mW"):
        assert header in text
    assert "neuron driven/idle pJ" in text
    for name in available():
        assert re.search(rf"│ {re.escape(name)} +│", text), name
    assert "81 / 52" in text
    assert "72.8 / 51.2" in text
    for word in ("23.6", "21000", "360", "derived", "published"):
        assert word in text, word
    assert "Davies et al." in text


def test_profile_detail_renders() -> None:
    profile = load("loihi")
    text = _render(profile_detail(profile))
    assert "loihi" in text
    assert profile.description[:30] in text
    for field in CONSTANT_FIELDS:
        assert field in text, field
    for word in ("pJ/byte", "mW", "simulated", "convention", "Table 2", "1.13e-07", "23.6"):
        assert word in text, word
    assert "1024 neurons/core" in text


def test_profile_detail_lists_the_bit_width_costs() -> None:
    text = _render(profile_detail(load("asic45-int8")))
    rows = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"│ op_costs (\w+ \w+) +│ +([0-9.]+) │", text)
    }
    assert rows == {
        "int8 add": 0.03,
        "int8 mult": 0.2,
        "int32 add": 0.1,
        "int32 mult": 3.1,
        "float16 add": 0.4,
        "float16 mult": 1.1,
        "float32 add": 0.9,
        "float32 mult": 3.7,
    }
    assert "op_costs" not in _render(profile_detail(load("loihi")))
