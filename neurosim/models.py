"""Ready-made classifiers built from a validated ``ModelConfig``.

* ``snn``: multi-step LIF network; hidden and output layers spike, read out by spike count.
* ``s2nn``: single-step spiking network (T = 1): real-valued input to the first layer,
  S2NN spikes between hidden layers, real-valued output (Suetake et al.).
* ``ann``: the same architecture with ReLU, T = 1 — the baseline.
* ``bnn``: the same architecture with batch norm and sign activations (±1, hard-tanh
  straight-through gradient), T = 1; ``binary_weights=True`` also binarises the weights of
  every synaptic layer to ``±α`` (``neurosim.core.binary``). Real-valued input and output.

``arch="mlp"`` is ``Flatten → [Linear → neuron] × len(hidden) → Linear (→ LIF)``;
``arch="cnn"`` puts ``[Conv2d(3×3, pad 1) → neuron → AvgPool2d(2)] × len(channels)`` first
(``pool="max"``: ``MaxPool2d(2)``, which keeps spikes binary after pooling).
The BNN puts ``BatchNorm`` before each sign and always pools with ``MaxPool2d(2)`` (the max of
±1 values is ±1; averaging would make the next layer's input graded, no longer binary).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from neurosim.core import (
    IF,
    LIF,
    S2NN,
    AvgPool2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Sequential,
)
from neurosim.core.binary import BatchNorm, BinarySign, BNNConv2d, BNNLinear
from neurosim.core.encoding import Direct, Encoder, Latency, Poisson, Sequence
from neurosim.core.surrogate import available

__all__ = ["ModelConfig", "build_encoder", "build_model"]


class ModelConfig(BaseModel):
    """Everything needed to rebuild a model (stored in checkpoints)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["snn", "s2nn", "ann", "bnn"] = "snn"
    arch: Literal["mlp", "cnn"] = "mlp"
    input_shape: tuple[int, ...] = Field(min_length=1)
    n_classes: int = Field(ge=2)
    hidden: tuple[int, ...] = (128,)
    channels: tuple[int, ...] = (16, 32)
    T: int | None = Field(default=None, ge=1, description="time steps; 1 for s2nn/ann/bnn")
    neuron: Literal["lif", "if"] = "lif"
    tau_mem: float = Field(default=20e-3, gt=0, description="seconds")
    dt: float = Field(default=1e-3, gt=0, description="seconds")
    v_th: float = 1.0
    surrogate: str | None = None
    encoder: Literal["direct", "poisson", "latency", "sequence"] = Field(
        default="direct",
        description="sequence: input already binned [B, T, ...] (event data; snn only)",
    )
    binary_weights: bool = Field(default=False, description="bnn: weights ±α as well")
    pool: Literal["avg", "max"] | None = Field(
        default=None, description="cnn pooling; default avg (max for bnn, which needs it)"
    )

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.kind != "snn" and self.T not in (None, 1):
            raise ValueError(f"model {self.kind!r} is single-step: T must be 1, got {self.T}")
        if self.encoder == "sequence" and self.kind != "snn":
            raise ValueError(
                f"encoder 'sequence' (binned event input over T steps) needs kind 'snn', "
                f"got kind {self.kind!r}"
            )
        if self.binary_weights and self.kind != "bnn":
            raise ValueError(f"binary_weights=True needs kind 'bnn', got kind {self.kind!r}")
        if self.kind == "bnn" and self.pool == "avg":
            raise ValueError("pool='avg' is not valid for kind 'bnn'; expected 'max' (or None)")
        if self.surrogate is not None and self.surrogate not in available():
            raise ValueError(
                f"surrogate={self.surrogate!r} is not valid; expected one of "
                + ", ".join(available())
            )
        if self.arch == "cnn" and len(self.input_shape) != 3:
            raise ValueError(f"arch 'cnn' needs input_shape (C, H, W), got {self.input_shape}")
        if any(h < 1 for h in self.hidden + self.channels):
            raise ValueError("hidden sizes and channels must be >= 1")
        return self

    @property
    def steps(self) -> int:
        """Time steps the model runs for (8 for ``snn`` unless set, else 1)."""
        return self.T if self.T is not None else (8 if self.kind == "snn" else 1)


def _activation(cfg: ModelConfig) -> nn.Module:
    if cfg.kind == "ann":
        return nn.ReLU()
    if cfg.kind == "bnn":
        return BinarySign()
    if cfg.kind == "s2nn":
        return S2NN(v_th=0.0, surrogate=cfg.surrogate or "s2nn")
    surrogate = cfg.surrogate or "atan"
    if cfg.neuron == "if":
        return IF(v_th=cfg.v_th, surrogate=surrogate)
    return LIF(tau_mem=cfg.tau_mem, dt=cfg.dt, v_th=cfg.v_th, surrogate=surrogate)


def _synaptic(cfg: ModelConfig, conv: bool, n_in: int, n_out: int, first: bool) -> nn.Module:
    """Linear or 3×3 conv; in a BNN it records its weight and input precision (±1 inputs
    everywhere but the first layer) for the energy model."""
    if cfg.kind != "bnn":
        return Conv2d(n_in, n_out, 3, padding=1) if conv else Linear(n_in, n_out)
    bw, act = cfg.binary_weights, None if first else 1
    if conv:
        return BNNConv2d(n_in, n_out, 3, padding=1, binary_weights=bw, act_bits=act)
    return BNNLinear(n_in, n_out, binary_weights=bw, act_bits=act)


def build_model(cfg: ModelConfig) -> Sequential:
    """Build the network described by ``cfg`` (fresh, randomly initialised weights)."""
    layers: list[nn.Module] = []
    shape = cfg.input_shape
    bnn = cfg.kind == "bnn"
    max_pool = bnn or cfg.pool == "max"
    if cfg.arch == "cnn":
        c, h, w = shape
        for out in cfg.channels:
            layers.append(_synaptic(cfg, True, c, out, first=not layers))
            layers += [BatchNorm(out, image=True)] if bnn else []
            layers += [_activation(cfg), MaxPool2d(2) if max_pool else AvgPool2d(2)]
            c, h, w = out, h // 2, w // 2
            if h == 0 or w == 0:
                raise ValueError(f"input {cfg.input_shape} is too small for {cfg.channels}")
        shape = (c, h, w)
    layers.append(Flatten())
    width = math.prod(shape)
    for size in cfg.hidden:
        layers.append(_synaptic(cfg, False, width, size, first=len(layers) == 1))
        layers += [BatchNorm(size)] if bnn else []
        layers.append(_activation(cfg))
        width = size
    layers.append(_synaptic(cfg, False, width, cfg.n_classes, first=len(layers) == 1))
    if cfg.kind == "snn":
        layers.append(_activation(cfg))
    return Sequential(*layers)


def build_encoder(cfg: ModelConfig) -> Encoder:
    """The input encoder of ``cfg`` (single-step models always use direct input);
    ``"sequence"`` is :class:`~neurosim.core.encoding.Sequence` with ``T = cfg.steps``."""
    if cfg.encoder == "sequence":
        return Sequence(cfg.steps)
    if cfg.kind != "snn" or cfg.encoder == "direct":
        return Direct(cfg.steps)
    if cfg.encoder == "poisson":
        return Poisson(cfg.steps)
    return Latency(cfg.steps)
