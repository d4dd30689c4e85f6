"""Persistence: atomic checkpoints and HDF5 recordings of runs."""

from neurosim.io.checkpoint import (
    CheckpointError,
    atomic_write_bytes,
    load_checkpoint,
    save_checkpoint,
)
from neurosim.io.recording import Recording, RecordingError, load_run, save_run

__all__ = [
    "CheckpointError",
    "Recording",
    "RecordingError",
    "atomic_write_bytes",
    "load_checkpoint",
    "load_run",
    "save_checkpoint",
    "save_run",
]
