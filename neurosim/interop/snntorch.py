"""Import snnTorch ``nn.Sequential`` models into neurosim with the same weights and dynamics.

``snn.Leaky`` computes, per step, ``mem = β·mem + x − reset·threshold`` (subtract) with
``reset = H(mem_prev − threshold)``: the subtraction of the previous step's spike, applied
one step late and undecayed (``reset_delay=True``, the default). That is neurosim's
``LIF.from_beta(β, reset_timing="delayed", detach_reset=True)`` (the reset is detached in
snnTorch too). Reset to zero (``mem = β·(1 − reset)·mem + x``) and no reset map to
``reset="zero"`` / ``"none"``.

``snn.RLeaky`` adds ``recurrent(spk_prev)`` to the input: an ``nn.Linear(n, n)`` (with bias)
when ``all_to_all=True, linear_features=n``, or ``V·spk`` one-to-one (``all_to_all=False``).
Both become a ``RecurrentLIF`` (``W_rec = diag(V)`` for one-to-one; trained further in
neurosim, its off-diagonal weights learn too). ``learn_recurrent=False`` freezes ``W_rec``
(and its bias), as in snnTorch. RLeaky's reset to zero
is not Leaky's: it zeroes the whole new membrane, input included
(``mem = (1 − reset)·(β·mem + x + rec)``), which neurosim does not model, so it is refused,
as are recurrent convolutions.

Converters are registered by module type in ``CONVERTERS`` (``register`` rejects
duplicates); add one for a module of your own with
``CONVERTERS.register(MyModule, fn)`` with ``fn(module, index, layers_so_far) -> list of
neurosim layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from neurosim.core import surrogate as ns_surrogate
from neurosim.core.layers import (
    AvgPool2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    same_shape,
)
from neurosim.core.network import Sequential
from neurosim.core.neuron_layers import LIF, RecurrentLIF
from neurosim.interop.registry import ConverterRegistry, require

__all__ = ["CONVERTERS", "Converter", "from_snntorch"]

Converter = Callable[[Any, int, list[nn.Module]], list[nn.Module]]

# snnTorch surrogate factories (their closures are named "<factory>.<locals>.inner") and the
# neurosim surrogate + parameter name with the same gradient
_SURROGATES = {"atan": ("atan", "alpha"), "fast_sigmoid": ("fast_sigmoid", "slope")}
_SURROGATES["sigmoid"] = ("sigmoid", "slope")


def _snntorch() -> Any:
    return require("snntorch", "snntorch", "neurosim.interop.from_snntorch")


def _copy(src: nn.Module, dst: nn.Module) -> nn.Module:
    """``dst`` with ``src``'s parameters, dtype and device."""
    ref = next(src.parameters(), None)
    if ref is not None:
        dst = dst.to(device=ref.device, dtype=ref.dtype)
    dst.load_state_dict(src.state_dict())
    return dst


def _linear(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    return [_copy(m, same_shape(m, Linear))]


def _conv2d(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    return [_copy(m, same_shape(m, Conv2d))]


def _flatten(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    if m.start_dim != 1 or m.end_dim != -1:
        raise ValueError(
            f"module {i} (Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})): only "
            "Flatten(start_dim=1, end_dim=-1) is supported (all dims after the batch)"
        )
    return [Flatten()]


def _maxpool(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    if m.return_indices:
        raise ValueError(f"module {i} (MaxPool2d): return_indices=True is not supported")
    return [MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)]


def _avgpool(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    return [
        AvgPool2d(
            m.kernel_size,
            m.stride,
            m.padding,
            ceil_mode=m.ceil_mode,
            count_include_pad=m.count_include_pad,
            divisor_override=m.divisor_override,
        )
    ]


def _dropout(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    return [Dropout(m.p)]  # one mask per sequence in training; identical in eval mode


def _surrogate(m: Any, i: int) -> ns_surrogate.Surrogate:
    fn = m.spike_grad
    factory = getattr(fn, "__qualname__", "").split(".<locals>")[0]
    cells: tuple[Any, ...] = getattr(fn, "__closure__", None) or ()
    if factory in _SURROGATES and len(cells) == 1:
        name, param = _SURROGATES[factory]
        return ns_surrogate.get(name, **{param: float(cells[0].cell_contents)})
    raise ValueError(
        f"module {i} ({type(m).__name__}): surrogate {fn!r} has no neurosim equivalent known "
        f"to from_snntorch (known: snntorch.surrogate.{', '.join(sorted(_SURROGATES))}); "
        "pass surrogate= to from_snntorch to choose one"
    )


def _neuron_kwargs(m: Any, i: int) -> dict[str, Any]:
    """LIF keywords shared by Leaky and RLeaky; ``ValueError`` for options without a map."""
    name = type(m).__name__
    if m.inhibition:
        raise ValueError(f"module {i} ({name}): inhibition=True is not supported")
    if m.state_quant:
        raise ValueError(f"module {i} ({name}): state_quant is not supported")
    if not getattr(m, "reset_delay", True):
        raise ValueError(
            f"module {i} ({name}): reset_delay=False is not supported; neurosim reproduces "
            "snnTorch's default reset_delay=True (reset_timing='delayed')"
        )
    graded = m.graded_spikes_factor
    if not torch.all(torch.as_tensor(graded) == 1):
        raise ValueError(f"module {i} ({name}): graded_spikes_factor must be 1, got {graded}")
    learn_beta = isinstance(m.beta, nn.Parameter)
    learn_th = isinstance(m.threshold, nn.Parameter)
    return {
        "v_th": m.threshold.detach().clone(),
        "reset": m.reset_mechanism,
        "reset_timing": "delayed",
        "detach_reset": True,
        "learn_beta": learn_beta,
        "learn_threshold": learn_th,
    }


def _beta(m: Any, i: int) -> Tensor:
    beta = m.beta.detach().clamp(0.0, 1.0)  # snnTorch clamps β in the forward pass
    if not (beta > 0).all():
        raise ValueError(f"module {i} ({type(m).__name__}): beta must be > 0, got {beta}")
    return beta.clone()


def _leaky(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    return [LIF.from_beta(_beta(m, i), **_neuron_kwargs(m, i))]


def _rleaky(m: Any, i: int, prev: list[nn.Module]) -> list[nn.Module]:
    kw = _neuron_kwargs(m, i)
    rec: Any = m.recurrent
    if kw["reset"] == "zero":
        raise ValueError(
            f"module {i} (RLeaky): reset_mechanism='zero' zeroes the whole new membrane "
            "(input included), which neurosim does not model; use 'subtract' or 'none'"
        )
    if isinstance(rec, nn.Linear):
        weight, bias = rec.weight.detach(), rec.bias
    elif isinstance(rec, nn.Conv2d):
        raise ValueError(f"module {i} (RLeaky): recurrent convolutions are not supported")
    else:  # one-to-one: V·spk
        v = torch.as_tensor(m.V).detach().reshape(-1)
        if v.numel() == 1:  # one V for all: the neuron count comes from the layer before
            if not (prev and isinstance(prev[-1], nn.Linear)):
                raise ValueError(
                    f"module {i} (RLeaky): all_to_all=False with a scalar V needs a Linear "
                    "before it (to know the number of neurons), or V with one value per neuron"
                )
            v = v.expand(prev[-1].out_features)
        weight, bias = torch.diag(v), None
    out = RecurrentLIF.from_beta(_beta(m, i), n=weight.shape[0], bias=bias is not None, **kw)
    out = out.to(dtype=weight.dtype)
    with torch.no_grad():
        out.recurrent.weight.copy_(weight)
        if bias is not None:
            out.recurrent.bias.copy_(bias.detach())
    out.recurrent.requires_grad_(bool(getattr(m, "learn_recurrent", True)))
    return [out]


def _builtins(reg: ConverterRegistry[Converter]) -> None:
    snn = _snntorch()
    for key, fn in (
        (nn.Linear, _linear),
        (nn.Conv2d, _conv2d),
        (nn.Flatten, _flatten),
        (nn.MaxPool2d, _maxpool),
        (nn.AvgPool2d, _avgpool),
        (nn.Dropout, _dropout),
        (nn.Identity, lambda m, i, prev: []),
        (snn.Leaky, _leaky),
        (snn.RLeaky, _rleaky),
    ):
        reg.register(key, fn)


CONVERTERS: ConverterRegistry[Converter] = ConverterRegistry("snnTorch module", _builtins)


def from_snntorch(model: nn.Module, surrogate: str | None = None) -> Sequential:
    """A neurosim ``Sequential`` equivalent to the snnTorch ``nn.Sequential`` ``model``.

    The result runs ``[T, B, ...] → [T, B, ...]`` and reproduces the spikes and membranes of
    stepping ``model`` over T steps from reset state. Weights are copied (not shared).
    surrogate: neurosim surrogate name for every neuron (default: the one matching each
    neuron's snnTorch ``spike_grad``; snnTorch's default is atan with alpha = 2).
    """
    _snntorch()
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"from_snntorch expects a torch.nn.Sequential, got {type(model).__name__}; "
            "write the model as nn.Sequential(layers..., snn.Leaky(..., init_hidden=True))"
        )
    layers: list[nn.Module] = []
    for i, module in enumerate(model):
        convert = CONVERTERS.lookup(type(module))
        if convert is None:
            raise ValueError(
                f"module {i} ({type(module).__module__}.{type(module).__qualname__}) is not "
                f"supported by from_snntorch; supported: {', '.join(CONVERTERS.supported())}"
            )
        new = convert(module, i, layers)
        for layer in new:
            if isinstance(layer, LIF):  # the spike_grad of an snnTorch neuron
                layer.surrogate = (
                    _surrogate(module, i) if surrogate is None else ns_surrogate.get(surrogate)
                )
        layers += new
    if not layers:
        raise ValueError("from_snntorch: the model has no layers neurosim can run")
    return Sequential(*layers)
