"""Hardware profiles: validated, sourced energy/latency constants (``hardware_models/*.yaml``)."""

from neurosim.hardware.profile import (
    ENERGY_FIELDS,
    Constant,
    HardwareProfile,
    ProfileError,
    available,
    load,
    load_all,
)

__all__ = [
    "ENERGY_FIELDS",
    "Constant",
    "HardwareProfile",
    "ProfileError",
    "available",
    "load",
    "load_all",
]
