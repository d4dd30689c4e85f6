"""HDF5 recordings of a ``Sequential.run``: sparse spike events, membranes, metadata.

``save_run`` writes one HDF5 file atomically (temporary file in the target folder, fsync,
``os.replace``): a crash mid-write leaves any previous file at ``path`` intact. ``load_run``
opens it lazily and returns a ``Recording`` that reads only what is asked for.

File format (``format="neurosim.recording"``, ``version=1``)
------------------------------------------------------------

Root attributes:

- ``format`` (str): ``"neurosim.recording"``.
- ``version`` (int): ``1``.
- ``T`` (int): time steps of the run; ``B`` (int): batch size (samples).
- ``metadata`` (str): JSON object; the library versions (``neurosim_version``,
  ``torch_version``, ``h5py_version``, ``numpy_version``) plus whatever the caller gave
  (seed, profile, ...; caller keys win over the library ones).

Root datasets (scalar UTF-8 strings, optional; datasets rather than attributes so that they
are not bound by HDF5's 64 KiB attribute limit):

- ``network``: JSON ``{"class": str, "repr": repr(net), "layer_names": [str, ...]}``.
- ``energy_report``: JSON of ``report.to_dict()``.

Group ``layers/<index>.<ClassName>/`` (e.g. ``layers/1.LIF``), one per spiking layer of the
run (``run.spiking_layers()``), in layer order. Attributes:

- ``index`` (int): the layer's position in the network; ``name`` (str): its run name.
- ``kind`` (str): the layer class name, e.g. ``"LIF"``.
- ``shape`` (int array): the per-sample neuron shape (``[N]``, or ``[C, H, W]``, ...).

Datasets, one row per spike, sorted by ``(sample, t, unit)``, chunked and gzip-compressed:

- ``t`` (int32): time step index in ``[0, T)``.
- ``unit`` (int64): flat (C-order) neuron index within the per-sample ``shape``.
- ``sample`` (int32): sample index in ``[0, B)``.

Optional dataset ``membrane`` (float32 ``[T, B, *shape]``, chunked, gzip) when the run was
made with ``record_membrane=True``; units are those of the neuron model's membrane
potential (the same as its ``v_th``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import torch
from torch import Tensor

from neurosim.core.network import layer_kind
from neurosim.io.checkpoint import atomic_path

__all__ = ["FORMAT", "VERSION", "Recording", "RecordingError", "load_run", "save_run"]

FORMAT = "neurosim.recording"
VERSION = 1
_CHUNK_EVENTS = 1 << 16
_STR = h5py.string_dtype(encoding="utf-8")


class RecordingError(ValueError):
    """A file that cannot be read or is not a neurosim recording."""


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} is not JSON-serialisable: {err}") from None


def _layer_key(index: int, name: str) -> str:
    key = name if name.startswith(f"{index}.") else f"{index}.{name}"
    return key.replace("/", "_")


def _library_versions() -> dict[str, str]:
    from neurosim import __version__

    return {
        "neurosim_version": __version__,
        "torch_version": torch.__version__,
        "h5py_version": h5py.__version__,
        "numpy_version": np.__version__,
    }


def _events(spikes: Tensor, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``spikes [T, B, ...]`` of 0/1 → ``(t, unit, sample)`` sorted by (sample, t, unit)."""
    T, B = spikes.shape[:2]
    arr = spikes.detach().cpu().reshape(T, B, -1).transpose(0, 1).numpy()  # [B, T, N]
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        value = arr[bad][0]
        raise ValueError(f"{where}: output is not 0/1 spikes (found value {value!r})")
    sample, t, unit = np.nonzero(arr)  # row-major order: sorted by (sample, t, unit)
    return t.astype(np.int32), unit.astype(np.int64), sample.astype(np.int32)


def _events_dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    chunk = max(1, min(len(data), _CHUNK_EVENTS))
    group.create_dataset(
        name,
        data=data,
        maxshape=(None,),
        chunks=(chunk,),
        compression="gzip",
        shuffle=True,
    )


def _write(
    f: h5py.File,
    run: Any,
    network: Any,
    energy_report: Any,
    metadata: dict[str, Any] | None,
    membranes: bool,
) -> None:
    T, B = (int(n) for n in run.output.shape[:2])
    f.attrs["format"] = FORMAT
    f.attrs["version"] = VERSION
    f.attrs["T"] = T
    f.attrs["B"] = B
    meta = {**_library_versions(), **(metadata or {})}
    f.attrs["metadata"] = _json(meta, "metadata")
    if network is not None:
        names = (
            list(network.layer_names())
            if hasattr(network, "layer_names")
            else [a.name for a in run.activity]
        )
        doc = {"class": type(network).__name__, "repr": repr(network), "layer_names": names}
        f.create_dataset("network", data=_json(doc, "network"), dtype=_STR)
    if energy_report is not None:
        if not callable(getattr(energy_report, "to_dict", None)):
            raise TypeError(
                f"energy_report must have a to_dict() method, got {type(energy_report).__name__}"
            )
        doc = energy_report.to_dict()
        f.create_dataset("energy_report", data=_json(doc, "energy_report.to_dict()"), dtype=_STR)
    layers = f.create_group("layers")
    for act in run.spiking_layers():
        key = _layer_key(act.index, act.name)
        out = act.output
        if tuple(out.shape[:2]) != (T, B):
            raise ValueError(
                f"layer {key}: output shape {list(out.shape)} does not start with [T, B] = "
                f"[{T}, {B}]"
            )
        t, unit, sample = _events(out, f"layer {key}")
        g = layers.create_group(key)
        g.attrs["index"] = int(act.index)
        g.attrs["name"] = str(act.name)
        g.attrs["kind"] = layer_kind(act.layer)
        g.attrs["shape"] = np.asarray(out.shape[2:], dtype=np.int64)
        _events_dataset(g, "t", t)
        _events_dataset(g, "unit", unit)
        _events_dataset(g, "sample", sample)
        mem = run.membranes.get(act.index) if membranes else None
        if mem is not None:
            data = mem.detach().cpu().to(torch.float32).numpy()
            g.create_dataset(
                "membrane", data=data, chunks=True if data.size else None, compression="gzip"
            )


def save_run(
    run: Any,
    path: str | os.PathLike[str],
    *,
    network: Any = None,
    energy_report: Any = None,
    metadata: dict[str, Any] | None = None,
    membranes: bool = True,
) -> None:
    """Write ``run`` (a ``neurosim.Run``) to the HDF5 file ``path`` atomically.

    network: the ``Sequential`` that made the run; stored as its ``repr`` and layer names.
    energy_report: anything with ``to_dict()`` (e.g. an ``EnergyReport``); stored as JSON.
    metadata: JSON-serialisable dict (seed, profile, ...); library versions are added.
    membranes: store ``run.membranes`` (``[T, B, ...]`` float32) when the run recorded them.
    The format is described in this module's docstring.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write(f, run, network, energy_report, metadata, membranes)


@dataclass(frozen=True)
class _Layer:
    key: str
    index: int
    kind: str
    shape: tuple[int, ...]


class Recording:
    """A lazily read recording (see ``load_run``); close it, or use it as a context manager."""

    def __init__(self, path: Path, file: h5py.File) -> None:
        self.path = path
        self._file: h5py.File | None = file
        self._sample_cache: dict[str, np.ndarray] = {}
        try:
            attrs = file.attrs
            self.T = int(attrs["T"])
            self.B = int(attrs["B"])
            self.metadata: dict[str, Any] = json.loads(attrs["metadata"])
            self._layers: dict[str, _Layer] = {}
            for key in file["layers"]:
                g = file["layers"][key]
                self._layers[key] = _Layer(
                    key=key,
                    index=int(g.attrs["index"]),
                    kind=str(g.attrs["kind"]),
                    shape=tuple(int(n) for n in g.attrs["shape"]),
                )
            self.network: dict[str, Any] | None = self._json_dataset("network")
            self.energy_report: dict[str, Any] | None = self._json_dataset("energy_report")
        except (KeyError, OSError, ValueError) as err:
            raise RecordingError(
                f"recording {path} is truncated, incomplete or corrupt ({type(err).__name__}: "
                f"{str(err)[:200]})"
            ) from None

    def _json_dataset(self, name: str) -> dict[str, Any] | None:
        f = self._h5()
        if name not in f:
            return None
        raw = f[name][()]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        data: dict[str, Any] = json.loads(text)
        return data

    def _h5(self) -> h5py.File:
        if self._file is None:
            raise ValueError(f"recording {self.path} is closed")
        return self._file

    @property
    def layers(self) -> list[str]:
        """Names of the recorded spiking layers, in layer order (e.g. ``["1.LIF", "3.LIF"]``)."""
        return sorted(self._layers, key=lambda k: self._layers[k].index)

    def _layer(self, layer: str | int) -> _Layer:
        if isinstance(layer, int):
            for info in self._layers.values():
                if info.index == layer:
                    return info
        elif layer in self._layers:
            return self._layers[layer]
        raise ValueError(
            f"recording {self.path} has no layer {layer!r}; recorded layers: "
            f"{', '.join(self.layers) or '(none)'}"
        )

    def shape(self, layer: str | int) -> tuple[int, ...]:
        """Per-sample neuron shape of ``layer``."""
        return self._layer(layer).shape

    def kind(self, layer: str | int) -> str:
        """Class name of ``layer`` (e.g. ``"LIF"``)."""
        return self._layer(layer).kind

    def events(self, layer: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All spikes of ``layer`` as ``(t int32, unit int64, sample int32)``, each ``[n]``."""
        g = self._h5()["layers"][self._layer(layer).key]
        return g["t"][:], g["unit"][:], g["sample"][:]

    def _samples(self, samples: slice | None) -> np.ndarray:
        if samples is None:
            samples = slice(None)
        if not isinstance(samples, slice):
            raise TypeError(f"samples must be a slice or None, got {type(samples).__name__}")
        return np.arange(self.B)[samples]

    def spikes(self, layer: str | int, samples: slice | None = None) -> Tensor:
        """Dense 0/1 spikes ``[T, b, *shape]`` (float32) for the requested samples.

        Only the event rows of those samples are read (the ``sample`` column is sorted).
        """
        info = self._layer(layer)
        ids = self._samples(samples)
        n_units = int(np.prod(info.shape, dtype=np.int64))
        dense = np.zeros((len(ids), self.T, n_units), dtype=np.float32)
        if len(ids):
            g = self._h5()["layers"][info.key]
            col = self._sample_cache.get(info.key)
            if col is None:
                col = self._sample_cache.setdefault(info.key, g["sample"][:])
            lo = int(np.searchsorted(col, ids.min(), side="left"))
            hi = int(np.searchsorted(col, ids.max(), side="right"))
            if hi > lo:
                t = g["t"][lo:hi]
                unit = g["unit"][lo:hi]
                sample = col[lo:hi]
                pos = np.full(int(ids.max()) - int(ids.min()) + 1, -1, dtype=np.int64)
                pos[ids - ids.min()] = np.arange(len(ids))
                row = pos[sample - ids.min()]
                keep = row >= 0
                dense[row[keep], t[keep], unit[keep]] = 1.0
        out = torch.from_numpy(dense).reshape(len(ids), self.T, *info.shape)
        return out.transpose(0, 1).contiguous()

    def membrane(self, layer: str | int, samples: slice | None = None) -> Tensor:
        """Membrane trace ``[T, b, *shape]`` (float32) of ``layer`` for the requested samples."""
        info = self._layer(layer)
        g = self._h5()["layers"][info.key]
        if "membrane" not in g:
            raise ValueError(
                f"recording {self.path}: layer {info.key} has no membrane trace; save a run made "
                "with record_membrane=True (and save_run(..., membranes=True))"
            )
        ids = self._samples(samples)
        if len(ids) == 0:
            return torch.zeros(self.T, 0, *info.shape)
        lo, hi = int(ids.min()), int(ids.max()) + 1
        block = np.asarray(g["membrane"][:, lo:hi], dtype=np.float32)  # only the needed rows
        return torch.from_numpy(np.ascontiguousarray(block[:, ids - lo]))

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recording:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else "open"
        return (
            f"Recording({str(self.path)!r}, T={self.T}, B={self.B}, layers={self.layers}, {state})"
        )


def load_run(path: str | os.PathLike[str]) -> Recording:
    """Open the recording at ``path`` lazily (see ``Recording``)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"recording {p} does not exist")
    try:
        f = h5py.File(p, "r")
    except OSError as err:
        raise RecordingError(
            f"recording {p} cannot be opened as HDF5 ({str(err)[:200]}); the file is truncated, "
            "corrupt or not an HDF5 file"
        ) from None
    try:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            raise RecordingError(
                f"{p} is not a neurosim recording (attribute 'format' is {fmt!r}, expected "
                f"{FORMAT!r})"
            )
        version = f.attrs.get("version")
        if version is None or int(version) != VERSION:
            raise RecordingError(
                f"{p}: recording version {version!r} (attribute 'version') is not supported; "
                f"expected {VERSION}"
            )
        return Recording(p, f)
    except BaseException:
        f.close()
        raise
