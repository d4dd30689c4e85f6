"""Per-bit-width op costs (``neurosim/hardware/bitwidth.py``): the bundled Horowitz tables,
the pricing rules by hand, and validation of ``op_costs`` on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.hardware import ProfileError, load
from neurosim.hardware.bitwidth import add_pj, mult_pj, op_energy
from neurosim.hardware.profile import _bundled_dir

# Horowitz, ISSCC 2014, 45 nm (pJ)
INT8_ADD, INT8_MULT, INT32_ADD, INT32_MULT = 0.03, 0.2, 0.1, 3.1
FP16_ADD, FP16_MULT, FP32_ADD, FP32_MULT = 0.4, 1.1, 0.9, 3.7


def test_bundled_tables_are_horowitz() -> None:
    for name, family in (("asic45-fp32", "float"), ("asic45-int8", "int")):
        costs = load(name).op_costs
        assert costs is not None
        assert costs.arithmetic == family
        assert costs.int_table is not None
        assert costs.float_table is not None
        assert {b: (c.add_pj, c.mult_pj) for b, c in costs.int_table.items()} == {
            8: (INT8_ADD, INT8_MULT),
            32: (INT32_ADD, INT32_MULT),
        }
        assert {b: (c.add_pj, c.mult_pj) for b, c in costs.float_table.items()} == {
            16: (FP16_ADD, FP16_MULT),
            32: (FP32_ADD, FP32_MULT),
        }
        assert "Horowitz" in costs.source
    for name in ("loihi", "truenorth", "cpu"):
        assert load(name).op_costs is None


def test_op_energies_by_hand() -> None:
    fp32 = load("asic45-fp32")
    assert op_energy(fp32, None, None) == (0.9, 4.6)  # no attributes: the constants
    # 2-bit weights, 4-bit activations: int table, reference width 8
    synop, mac = op_energy(fp32, 2, 4)
    assert synop == pytest.approx(INT8_ADD * 2 / 8)
    assert mac == pytest.approx(INT8_MULT * 2 * 4 / 64 + INT8_ADD * 4 / 8)
    # 1-bit input: a MAC is an accumulate
    assert op_energy(fp32, 2, 1) == pytest.approx((INT8_ADD * 2 / 8, INT8_ADD * 2 / 8))
    # 16-bit integers, between the 8- and 32-bit entries: the add a third of the way
    # (16 - 8 = 8 of 24 bits), the multiply a fifth (256 - 64 = 192 of 1024 - 64 = 960)
    add16 = INT8_ADD + (INT32_ADD - INT8_ADD) / 3
    mult16 = INT8_MULT + (INT32_MULT - INT8_MULT) / 5
    assert op_energy(fp32, 16, 16) == pytest.approx((add16, mult16 + add16))
    assert (add16, mult16) == pytest.approx((0.1 / 3 + 0.06 / 3, 0.2 + 2.9 / 5))
    # wider than the table: from the largest entry
    assert op_energy(fp32, 64, 64)[0] == pytest.approx(INT32_ADD * 2)
    assert op_energy(fp32, 64, 64)[1] == pytest.approx(INT32_MULT * 4 + INT32_ADD * 2)
    # only act_bits: the profile's family (float), weights at its width (32); the product of
    # the widths 32 × 8 = 256 = 16 × 16 prices the multiply as the fp16 entry
    assert op_energy(fp32, None, 8) == pytest.approx((FP32_ADD, FP16_MULT + FP32_ADD))
    int8 = load("asic45-int8")
    assert op_energy(int8, None, None) == (0.03, 0.23)
    assert op_energy(int8, 8, 8) == pytest.approx((0.03, 0.23))  # the table at 8 bits


def test_scaling_rules() -> None:
    table = load("asic45-int8").op_costs.int_table  # type: ignore[union-attr]
    assert table is not None
    for b in range(1, 9):  # adders linear, multipliers quadratic below the 8-bit entry
        assert add_pj(table, b) == pytest.approx(INT8_ADD * b / 8)
        assert mult_pj(table, b, b) == pytest.approx(INT8_MULT * b * b / 64)
    assert mult_pj(table, 9, 9) == pytest.approx(INT8_MULT + (INT32_MULT - INT8_MULT) * 17 / 960)
    assert add_pj(table, 20) == pytest.approx(INT8_ADD + (INT32_ADD - INT8_ADD) / 2)


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(["asic45-fp32", "asic45-int8"]),
    w=st.integers(1, 63),
    a=st.integers(1, 63),
)
def test_costs_grow_with_every_width(name: str, w: int, a: int) -> None:
    costs = load(name).op_costs
    assert costs is not None
    for table in (costs.int_table, costs.float_table):
        assert table is not None
        assert 0 < add_pj(table, w) <= add_pj(table, w + 1)
        assert 0 < mult_pj(table, w, a) <= mult_pj(table, w + 1, a)
        assert mult_pj(table, w, a) <= mult_pj(table, w, a + 1)
        assert mult_pj(table, w, a) == pytest.approx(mult_pj(table, a, w))
    for bits in (8, 32):  # the table itself at its widths
        assert costs.int_table is not None
        assert add_pj(costs.int_table, bits) == costs.int_table[bits].add_pj
        assert mult_pj(costs.int_table, bits, bits) == costs.int_table[bits].mult_pj


def test_profile_without_table() -> None:
    loihi = load("loihi")
    e_syn, e_mac = loihi.e_synop_pj.value, loihi.e_mac_pj.value
    assert op_energy(loihi, 2, 4) == (e_syn, e_mac)
    assert op_energy(loihi, 2, 1) == (e_syn, e_syn)


def test_bad_bits_and_missing_table() -> None:
    fp32 = load("asic45-fp32")
    for bad in (0, 65, 2.5, True, "8"):
        with pytest.raises(ValueError, match=r"3\.Linear: weight_bits=.*expected an int"):
            op_energy(fp32, bad, None, "3.Linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="act_bits"):
        op_energy(fp32, None, 0)
    data = fp32.model_dump(by_alias=True)
    data["op_costs"]["int"] = None
    no_int = type(fp32).model_validate(data)
    with pytest.raises(ValueError, match=r"0\.Linear: profile 'asic45-fp32' has no int op_costs"):
        op_energy(no_int, 2, 2, "0.Linear")


# --------------------------------------------------------------------------------------------
# profile validation


def _raw(name: str) -> dict[str, Any]:
    data = yaml.safe_load((_bundled_dir() / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    data["name"] = "my-asic"
    return data


def _error(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ProfileError) as info:
        load(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    return message


def test_table_must_reproduce_the_constants(tmp_path: Path) -> None:
    data = _raw("asic45-fp32")
    data["e_mac_pj"]["value"] = 4.0
    message = _error(tmp_path, data)
    assert "op_costs: e_mac_pj = 4 but op_costs gives a float 32-bit multiply + add of 4.6" in (
        message
    )
    data = _raw("asic45-int8")
    data["op_costs"]["int"][8]["add_pj"] = 0.05
    assert "e_synop_pj = 0.03 but op_costs gives a int 8-bit add of 0.05" in _error(tmp_path, data)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["int"][8].update(add_pj=-1.0), "op_costs.int.8.add_pj = -1.0"),
        (lambda c: c["int"].update({0: {"add_pj": 1.0, "mult_pj": 1.0}}), "widths [0]"),
        (lambda c: c["int"].update({65: {"add_pj": 1.0, "mult_pj": 1.0}}), "widths [65]"),
        (lambda c: c.update(float={}), "the table is empty"),
        (lambda c: c.update(float=None), "no float table"),
        (lambda c: c.update(arithmetic="fixed"), "op_costs.arithmetic = 'fixed'"),
        (lambda c: c.update(colour="blue"), "op_costs.colour: unknown field"),
        (lambda c: c["int"][8].pop("mult_pj"), "op_costs.int.8.mult_pj: missing field"),
        (lambda c: c.pop("source"), "op_costs.source: missing field"),
    ],
)
def test_bad_tables(tmp_path: Path, edit: Any, expected: str) -> None:
    data = _raw("asic45-fp32")
    edit(data["op_costs"])
    assert expected in _error(tmp_path, data)


def test_null_table_and_absent_table_load(tmp_path: Path) -> None:
    data = _raw("asic45-fp32")
    data["op_costs"] = None
    path = tmp_path / "null.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load(path).op_costs is None
    del data["op_costs"]
    path.write_text(yaml.safe_dump(data))
    assert load(path).op_costs is None
