"""Per-bit-width arithmetic costs of a profile, and the energy of one operation of a layer.

A profile may carry ``op_costs``: a table of add and multiply energies (pJ) by operand width
for integer and/or floating-point arithmetic, with its source::

    op_costs:
      arithmetic: float          # the family e_synop_pj / e_mac_pj are priced in
      source: "Horowitz, ISSCC 2014 (45 nm)"
      grade: convention
      int:   {8: {add_pj: 0.03, mult_pj: 0.2}, 32: {add_pj: 0.1, mult_pj: 3.1}}
      float: {16: {add_pj: 0.4, mult_pj: 1.1}, 32: {add_pj: 0.9, mult_pj: 3.7}}

On load the table must reproduce the profile's own constants at its ``weight_bits``:
``e_synop_pj = add(w)`` and ``e_mac_pj = mult(w, w) + add(w)`` in the ``arithmetic`` family.

Widths not in the table follow a convention (stated, not measured): **adders are linear in
bits** and **multipliers linear in the product of the operand widths** (quadratic for equal
widths). Below the smallest table width ``r`` and above the largest they are proportional,
``add(b) = add_pj(r) · b / r`` and ``mult(b_w, b_a) = mult_pj(r) · b_w · b_a / r²``; between
two table widths they are interpolated linearly (in ``b`` for adds, in ``b_w · b_a`` between
the ``r × r`` entries for multiplies), so costs never fall as a width grows when the table's
do not.

Operation energies of a layer (``op_energy``), with ``w`` the layer's ``weight_bits`` and
``a`` its ``act_bits`` (the precision of its input values; each defaults to the profile's
``weight_bits``):

* a layer with neither attribute: the profile's ``e_synop_pj`` and ``e_mac_pj``, unchanged;
* otherwise the layer computes in **integer** arithmetic when it has ``weight_bits``
  (quantised weights are integer levels times a scale), else in the profile's family:
  ``synop = add(w)`` (a spike adds one weight), ``MAC = mult(w, a) + add(max(w, a))``, and
  a **1-bit input makes a MAC an accumulate**: ``MAC = add(w)``;
* a profile without ``op_costs`` prices widths only through memory bytes; a 1-bit input
  still turns its MACs into accumulates (``e_synop_pj``).
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from neurosim.hardware.profile import HardwareProfile

__all__ = ["OpCost", "OpCosts", "add_pj", "check_bits", "mult_pj", "op_energy"]

Family = Literal["int", "float"]


class OpCost(BaseModel):
    """Energy of one add and one multiply at one operand width (pJ)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    add_pj: float = Field(ge=0, allow_inf_nan=False)
    mult_pj: float = Field(ge=0, allow_inf_nan=False)


class OpCosts(BaseModel):
    """Add/multiply energies by operand width, per arithmetic family, with their source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arithmetic: Family = Field(description="family of the profile's e_synop_pj / e_mac_pj")
    source: str = Field(min_length=3)
    grade: Literal["measured", "simulated", "derived", "convention"]
    note: str = ""
    int_table: dict[int, OpCost] | None = Field(default=None, alias="int")
    float_table: dict[int, OpCost] | None = Field(default=None, alias="float")

    @field_validator("int_table", "float_table")
    @classmethod
    def _widths(cls, table: dict[int, OpCost] | None) -> dict[int, OpCost] | None:
        if table is None:
            return None
        if not table:
            raise ValueError("the table is empty; give at least one width or leave it out")
        bad = [b for b in table if not 1 <= b <= 64]
        if bad:
            raise ValueError(f"operand widths {bad} are not valid; expected 1 to 64 bits")
        return dict(sorted(table.items()))

    def table(self, family: Family) -> dict[int, OpCost] | None:
        return self.int_table if family == "int" else self.float_table


def check_bits(value: object, what: str) -> int | None:
    """``None`` or an int in 1…64, else ``ValueError`` naming ``what``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ValueError(f"{what}={value!r} is not valid; expected an int from 1 to 64 (or None)")
    return value


def _scaled(points: list[tuple[int, float]], x: int) -> float:
    """Piecewise-linear in ``x`` through ``(size, pJ)`` points sorted by size; proportional
    to ``x`` below the first point and above the last."""
    lo_x, lo_e = points[0]
    if x <= lo_x:
        return lo_e * x / lo_x
    for (x0, e0), (x1, e1) in pairwise(points):
        if x <= x1:
            return e0 + (e1 - e0) * (x - x0) / (x1 - x0)
    hi_x, hi_e = points[-1]
    return hi_e * x / hi_x


def add_pj(table: dict[int, OpCost], bits: int) -> float:
    """Energy of a ``bits``-wide add: piecewise linear in bits through the table widths,
    proportional to bits below and above them."""
    return _scaled([(r, c.add_pj) for r, c in table.items()], bits)


def mult_pj(table: dict[int, OpCost], w_bits: int, a_bits: int) -> float:
    """Energy of a ``w_bits × a_bits`` multiply: piecewise linear in the product of the
    widths through the table's ``r × r`` entries, proportional to it below and above them
    (quadratic in bits for equal widths)."""
    return _scaled([(r * r, c.mult_pj) for r, c in table.items()], w_bits * a_bits)


def _table(profile: HardwareProfile, family: Family, who: str) -> dict[int, OpCost]:
    costs = profile.op_costs
    table = None if costs is None else costs.table(family)
    if table is None:
        raise ValueError(
            f"{who}: profile {profile.name!r} has no {family} op_costs table to price its "
            "bit widths; add one to the profile"
        )
    return table


def op_energy(
    profile: HardwareProfile,
    weight_bits: int | None,
    act_bits: int | None,
    who: str = "layer",
) -> tuple[float, float]:
    """``(pJ per synaptic event, pJ per MAC)`` of a layer with these bit widths on
    ``profile`` (rules in the module docstring). ``who`` names the layer in errors."""
    w_attr = check_bits(weight_bits, f"{who}: weight_bits")
    a_attr = check_bits(act_bits, f"{who}: act_bits")
    if w_attr is None and a_attr is None:
        return profile.e_synop_pj.value, profile.e_mac_pj.value
    w = w_attr or profile.weight_bits
    a = a_attr or profile.weight_bits
    if profile.op_costs is None:
        synop = profile.e_synop_pj.value
        return synop, (synop if a == 1 else profile.e_mac_pj.value)
    family: Family = "int" if w_attr is not None else profile.op_costs.arithmetic
    table = _table(profile, family, who)
    synop = add_pj(table, w)
    if a == 1:
        return synop, synop
    return synop, mult_pj(table, w, a) + add_pj(table, max(w, a))


def check_consistent(costs: OpCosts, weight_bits: int, e_synop_pj: float, e_mac_pj: float) -> None:
    """The table must price the profile's own operations as its constants do."""
    table = costs.table(costs.arithmetic)
    if table is None:
        raise ValueError(
            f"arithmetic is {costs.arithmetic!r} but there is no {costs.arithmetic} table"
        )
    add = add_pj(table, weight_bits)
    mac = mult_pj(table, weight_bits, weight_bits) + add
    fam = f"{costs.arithmetic} {weight_bits}-bit"
    if not math.isclose(add, e_synop_pj, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"e_synop_pj = {e_synop_pj:g} but op_costs gives a {fam} add of {add:g} pJ; "
            "the table must reproduce the profile's constants at its weight_bits"
        )
    if not math.isclose(mac, e_mac_pj, rel_tol=1e-9, abs_tol=1e-12):
        raise ValueError(
            f"e_mac_pj = {e_mac_pj:g} but op_costs gives a {fam} multiply + add of {mac:g} "
            "pJ; the table must reproduce the profile's constants at its weight_bits"
        )
