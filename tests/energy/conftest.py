from collections.abc import Callable

import pytest

from neurosim.hardware import HardwareProfile

FIELDS = [n for n in HardwareProfile.model_fields if n.startswith(("e_", "p_", "t_"))]


def _make(**values: float | int | bool) -> HardwareProfile:
    """A profile with every constant 0 unless given (constants by field name)."""
    data: dict[str, object] = {
        "name": "test",
        "description": "synthetic profile for tests",
        "kind": "neuromorphic",
        "per_op_numbers": "derived",
        "skips_zero_inputs": True,
        "event_driven": True,
        "weight_bits": 8,
        "state_bits": 16,
        "neurons_per_core": 1024,
        "cores_per_tile": 1,
        "mesh_width": 4,
    }
    for f in FIELDS:
        data[f] = {"value": 0.0, "source": "test", "grade": "convention"}
    for k, v in values.items():
        if k in FIELDS:
            data[k] = {"value": float(v), "source": "test", "grade": "convention"}
        else:
            data[k] = v
    return HardwareProfile.model_validate(data)


@pytest.fixture(scope="session")  # a pure factory: nothing to reset
def make_profile() -> Callable[..., HardwareProfile]:
    return _make
