"""Rich tables of hardware profiles, for ``neurosim profiles [NAME]``."""

from __future__ import annotations

from rich.table import Table

from neurosim.hardware.profile import Constant, HardwareProfile

__all__ = ["profile_detail", "profiles_table", "unit_of"]

# Longest suffix first, so that "_pj_per_byte" is matched before "_pj".
_UNITS = (("_pj_per_byte", "pJ/byte"), ("_pj", "pJ"), ("_mw", "mW"), ("_s", "s"))


def unit_of(field: str) -> str:
    """The unit a constant's field name carries (``e_synop_pj`` → ``pJ``)."""
    for suffix, unit in _UNITS:
        if field.endswith(suffix):
            return unit
    return ""


def _num(value: float) -> str:
    return f"{value:g}"


def _main_source(profile: HardwareProfile) -> str:
    """The source of the synaptic-event energy, the figure a profile is chiefly built on."""
    return profile.e_synop_pj.source


def profiles_table(profiles: list[HardwareProfile]) -> Table:
    """One row per profile: kind, whether per-op numbers are published, the main energies."""
    table = Table(title="Hardware profiles", show_lines=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("kind")
    table.add_column("per-op numbers")
    table.add_column("e_synop_pj", justify="right")
    table.add_column("e_mac_pj", justify="right")
    table.add_column("neuron driven/idle pJ", justify="right")
    table.add_column("static mW", justify="right")
    table.add_column("main source")
    for p in profiles:
        table.add_row(
            p.name,
            p.kind,
            p.per_op_numbers,
            _num(p.e_synop_pj.value),
            _num(p.e_mac_pj.value),
            f"{_num(p.e_neuron_driven_pj.value)} / {_num(p.e_neuron_idle_pj.value)}",
            _num(p.p_static_mw.value),
            _main_source(p),
        )
    return table


def profile_detail(profile: HardwareProfile) -> Table:
    """Every constant of one profile with its value, unit, grade, source and note."""
    p = profile
    caption = (
        f"{p.kind}; per-op numbers {p.per_op_numbers}; "
        f"skips zero inputs: {'yes' if p.skips_zero_inputs else 'no'}; "
        f"weights {p.weight_bits} bit, state {p.state_bits} bit; "
        f"{p.neurons_per_core} neurons/core, {p.cores_per_tile} cores/tile, "
        f"mesh {p.mesh_width} tiles wide"
    )
    table = Table(title=f"{p.name}: {p.description}", caption=caption, show_lines=True)
    table.add_column("constant", style="bold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("grade", no_wrap=True)
    table.add_column("source")
    table.add_column("note")
    constants: dict[str, Constant] = p.constants()
    for field, c in constants.items():
        table.add_row(field, _num(c.value), unit_of(field), c.grade, c.source, c.note)
    if p.op_costs is not None:
        oc = p.op_costs
        for family in ("int", "float"):
            for bits, cost in (oc.table(family) or {}).items():
                own = family == oc.arithmetic and bits == p.weight_bits
                note = "e_synop_pj / e_mac_pj are priced at this width" if own else oc.note
                for op, value in (("add", cost.add_pj), ("mult", cost.mult_pj)):
                    name = f"op_costs {family}{bits} {op}"
                    table.add_row(name, _num(value), "pJ", oc.grade, oc.source, note)
    return table
