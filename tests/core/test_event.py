"""Event-driven inference path (neurosim.core.event): same outputs as the dense path, taken
only for binary input without gradients, chosen by density as documented."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosim.core import IF, LIF, Conv2d, Flatten, Linear, Sequential, event

DENSITIES = [0.0, 0.005, 0.05, 0.3, 0.9, 1.0]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the calls of the event kernels (which path ran, not how fast)."""
    counter: Counter[str] = Counter()

    def spy(name: str, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
            counter[name] += 1
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(event, "linear_events", spy("linear", event.linear_events))
    monkeypatch.setattr(event, "conv2d_events", spy("conv2d", event.conv2d_events))
    return counter


def _spikes(g: torch.Generator, shape: tuple[int, ...], p: float) -> torch.Tensor:
    return (torch.rand(shape, generator=g) < p).float()


def _eighths(module: torch.nn.Module, g: torch.Generator) -> None:
    """Weights and biases that are multiples of 1/8: every partial sum is exact."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randint(-32, 33, p.shape, generator=g).float() / 8)


def _both(layer: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        with event.mode("dense"):
            dense = layer(x)
        with event.mode("event"):
            ev = layer(x)
    return dense, ev


# --- event == dense ------------------------------------------------------------------------


@pytest.mark.parametrize("p", DENSITIES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_event_equals_dense(p: float, bias: bool, calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(0)
    layer = Linear(50, 30, bias=bias)
    x = _spikes(g, (7, 5, 50), p)
    dense, ev = _both(layer, x)
    assert calls["linear"] == 1
    assert ev.shape == dense.shape
    assert ev.dtype == dense.dtype
    assert ev.is_contiguous()
    torch.testing.assert_close(ev, dense, rtol=1e-5, atol=1e-6)
    _eighths(layer, g)
    dense, ev = _both(layer, x)
    assert torch.equal(ev, dense)


@pytest.mark.parametrize("p", [0.0, 0.1, 1.0])
def test_linear_event_float64_and_extra_dims(p: float, calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(1)
    layer = Linear(17, 9).double()
    x = _spikes(g, (3, 2, 4, 17), p).double()
    dense, ev = _both(layer, x)
    assert calls["linear"] == 1
    assert ev.dtype == torch.float64
    assert ev.shape == (3, 2, 4, 9)
    torch.testing.assert_close(ev, dense, rtol=1e-12, atol=1e-12)


def test_conv_event_float64(calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(7)
    layer = Conv2d(3, 5, 3, padding=1, groups=1).double()
    x = _spikes(g, (2, 3, 3, 6, 7), 0.1).double()
    dense, ev = _both(layer, x)
    assert calls["conv2d"] == 1
    assert ev.dtype == torch.float64
    torch.testing.assert_close(ev, dense, rtol=1e-12, atol=1e-12)


def test_linear_event_on_non_contiguous_input(calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(2)
    layer = Linear(12, 6)
    _eighths(layer, g)
    x = _spikes(g, (5, 4, 12), 0.2).transpose(0, 1)  # [4, 5, 12], strided
    assert not x.is_contiguous()
    dense, ev = _both(layer, x)
    assert calls["linear"] == 1
    assert torch.equal(ev, dense)


CONVS: list[dict[str, Any]] = [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, bias=False),
    dict(in_channels=6, out_channels=6, kernel_size=3, padding=2, dilation=2, groups=3),
    dict(in_channels=4, out_channels=8, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2)),
    dict(in_channels=3, out_channels=3, kernel_size=1, groups=3),  # depthwise 1×1
    dict(in_channels=2, out_channels=4, kernel_size=5, stride=3),  # taps that fall off
    dict(in_channels=4, out_channels=4, kernel_size=2, stride=2, groups=2, bias=False),
]


@pytest.mark.parametrize("p", DENSITIES)
@pytest.mark.parametrize("cfg", CONVS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv_event_equals_dense(cfg: dict[str, Any], p: float, calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(3)
    layer = Conv2d(**cfg)
    x = _spikes(g, (3, 2, cfg["in_channels"], 9, 11), p)
    dense, ev = _both(layer, x)
    assert calls["conv2d"] == 1
    assert ev.shape == dense.shape
    assert ev.dtype == dense.dtype
    assert ev.is_contiguous()
    torch.testing.assert_close(ev, dense, rtol=1e-5, atol=1e-6)
    _eighths(layer, g)
    dense, ev = _both(layer, x)
    assert torch.equal(ev, dense)


@settings(max_examples=40, deadline=None)
@given(
    c_in_g=st.integers(1, 3),
    c_out_g=st.integers(1, 3),
    groups=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    bias=st.booleans(),
    p=st.sampled_from([0.0, 0.02, 0.2, 0.7, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_conv_event_equals_dense_any_geometry(
    c_in_g: int,
    c_out_g: int,
    groups: int,
    kh: int,
    kw: int,
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    bias: bool,
    p: float,
    seed: int,
) -> None:
    g = torch.Generator().manual_seed(seed)
    layer = Conv2d(
        c_in_g * groups,
        c_out_g * groups,
        (kh, kw),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
    )
    _eighths(layer, g)
    x = _spikes(g, (2, 2, c_in_g * groups, 8, 7), p)
    dense, ev = _both(layer, x)
    assert torch.equal(ev, dense)


@settings(max_examples=30, deadline=None)
@given(
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 40),
    t=st.integers(1, 4),
    b=st.integers(1, 4),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_linear_event_equals_dense_any_shape(
    n_in: int, n_out: int, t: int, b: int, p: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    layer = Linear(n_in, n_out)
    _eighths(layer, g)
    dense, ev = _both(layer, _spikes(g, (t, b, n_in), p))
    assert torch.equal(ev, dense)


def test_snn_inference_is_the_same_on_both_paths(calls: Counter[str]) -> None:
    g = torch.Generator().manual_seed(4)
    net = Sequential(
        Conv2d(2, 4, 3, padding=1),
        LIF.from_beta(0.9),
        Flatten(),
        Linear(4 * 6 * 6, 20),
        LIF.from_beta(0.8),
        Linear(20, 5),
        IF(),
    )
    _eighths(net, g)
    x = _spikes(g, (6, 3, 2, 6, 6), 0.3)
    dense, ev = _both(net, x)
    assert calls["conv2d"] == 1
    assert calls["linear"] == 2
    assert dense.any()
    assert torch.equal(ev, dense)


# --- when the dense path must run ----------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0.5, 2.0, -1.0, -0.0, float("nan"), float("inf")], ids=lambda v: repr(v)
)
@pytest.mark.parametrize("m", ["auto", "event"])
def test_non_binary_input_takes_dense_path(
    value: float, m: event.Mode, calls: Counter[str]
) -> None:
    g = torch.Generator().manual_seed(5)
    lin, conv = Linear(10, 100), Conv2d(3, 64, 3, padding=1)
    lin.event_threshold = conv.event_threshold = 1.1  # density alone would pick events
    x_lin = _spikes(g, (4, 2, 10), 0.05)
    x_lin[1, 1, 3] = value
    x_conv = _spikes(g, (2, 2, 3, 5, 5), 0.05)
    x_conv[0, 1, 2, 4, 4] = value
    with torch.no_grad(), event.mode(m):
        y_lin, y_conv = lin(x_lin), conv(x_conv)
    assert calls == Counter()
    with torch.no_grad():
        ref_lin = F.linear(x_lin, lin.weight, lin.bias)
        ref_conv = F.conv2d(x_conv.flatten(0, 1), conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(y_lin, ref_lin, equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(y_conv, ref_conv.unflatten(0, (2, 2)), equal_nan=True)


@pytest.mark.parametrize("m", ["auto", "event"])
def test_training_takes_dense_path_with_unchanged_gradients(
    m: event.Mode, calls: Counter[str]
) -> None:
    g = torch.Generator().manual_seed(6)
    lin, conv = Linear(8, 100), Conv2d(3, 64, 3, padding=1)
    lin.event_threshold = conv.event_threshold = 1.1
    x_lin = _spikes(g, (4, 2, 8), 0.1)
    x_conv = _spikes(g, (2, 2, 3, 5, 5), 0.1)
    with event.mode(m):
        loss = lin(x_lin).square().sum() + conv(x_conv).square().sum()
    loss.backward()
    assert calls == Counter()
    ref = F.linear(x_lin, lin.weight, lin.bias).square().sum()
    ref = ref + F.conv2d(x_conv.flatten(0, 1), conv.weight, conv.bias, padding=1).square().sum()
    grads = torch.autograd.grad(ref, [lin.weight, lin.bias, conv.weight, conv.bias])
    assert torch.equal(loss, ref)
    for p, ref_grad in zip([lin.weight, lin.bias, conv.weight, conv.bias], grads, strict=True):
        assert torch.equal(p.grad, ref_grad)


def test_input_requiring_grad_takes_dense_path(calls: Counter[str]) -> None:
    layer = Linear(8, 100).requires_grad_(False)
    layer.event_threshold = 1.1
    x = torch.zeros(3, 2, 8, requires_grad=True)
    y = layer(x)
    assert calls == Counter()
    y.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(3, 2, 8))


def test_no_gradient_needed_takes_event_path(calls: Counter[str]) -> None:
    layer = Linear(8, 100)
    layer.event_threshold = 1.1
    x = torch.zeros(3, 2, 8)
    x[0, 0, 1] = 1.0
    with torch.no_grad():
        layer(x)
    with torch.inference_mode():
        layer(x)
    layer.requires_grad_(False)
    layer(x)  # grad mode on, but nothing requires grad
    assert calls["linear"] == 3


def test_other_dense_only_cases(calls: Counter[str]) -> None:
    x = torch.zeros(2, 1, 3, 6, 6)
    x[0, 0, 0, 2, 2] = 1.0
    with torch.no_grad(), event.mode("event"):
        Conv2d(3, 4, 3, padding=1, padding_mode="reflect")(x)
        Conv2d(3, 4, 3, padding="same")(x)
        Linear(6, 4)(torch.zeros(0, 1, 6))  # empty input
        with pytest.raises(RuntimeError):  # kernel larger than the input: torch's error
            Conv2d(3, 4, 7)(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # dense computes in bfloat16
            assert Linear(6, 4)(x[:, :, 0, 0]).dtype == torch.bfloat16
        # vmap cannot batch a data-dependent shape: the layer runs dense under transforms
        lin = Linear(6, 4)
        xs = torch.zeros(3, 2, 1, 6)
        xs[0, 1, 0, 2] = 1.0
        y = torch.func.vmap(lin)(xs)
        torch.testing.assert_close(y, F.linear(xs, lin.weight, lin.bias))
    assert calls == Counter()


# --- which path the threshold picks ----------------------------------------------------------


def test_threshold_picks_path_by_density(calls: Counter[str]) -> None:
    layer = Linear(10, 100)
    x = torch.zeros(4, 5, 10)  # 200 elements
    x.view(-1)[:20] = 1.0  # density 0.1
    layer.event_threshold = 0.2
    with torch.no_grad():
        layer(x)
        assert calls["linear"] == 1  # 0.1 < 0.2: event
        layer.event_threshold = 0.1
        layer(x)
        assert calls["linear"] == 1  # 0.1 is not below 0.1: dense
        layer.event_threshold = 0.0
        layer(torch.zeros_like(x))
        assert calls["linear"] == 1  # 0 disables the event path, even for silent input
        layer.event_threshold = 1.01
        layer(torch.ones_like(x))
        assert calls["linear"] == 2  # above 1: every binary input, all ones included
        layer.event_threshold = None
        assert event.threshold(layer) == event.default_threshold(layer)


def test_mode_overrides_the_threshold(calls: Counter[str]) -> None:
    layer = Linear(10, 100)
    x = torch.ones(2, 3, 10)
    with torch.no_grad():
        layer.event_threshold = 0.0
        with event.mode("event"):
            layer(x)
        assert calls["linear"] == 1
        layer.event_threshold = 1.01
        with event.mode("dense"):
            layer(x)
        assert calls["linear"] == 1
        layer(x)
        assert calls["linear"] == 2


def test_conv_threshold_picks_path_by_density(calls: Counter[str]) -> None:
    layer = Conv2d(2, 3, 3, padding=1)
    x = torch.zeros(2, 2, 2, 5, 5)  # 200 elements
    x.view(-1)[::10] = 1.0  # density 0.1
    with torch.no_grad():
        layer.event_threshold = 0.11
        layer(x)
        layer.event_threshold = 0.1
        layer(x)
    assert calls["conv2d"] == 1


def test_default_thresholds() -> None:
    assert event.default_threshold(Linear(784, 1000)) == pytest.approx(
        event.LINEAR_THRESHOLD * 1000 / (1000 + event.LINEAR_HALF_OUT)
    )
    narrow = event.default_threshold(Linear(784, 10))
    assert 0 < narrow < 0.02  # narrow: only very sparse input
    assert narrow < event.default_threshold(Linear(10, 100)) < event.LINEAR_THRESHOLD
    assert event.default_threshold(Conv2d(32, 64, 3, padding=1)) == event.CONV2D_THRESHOLD
    assert event.default_threshold(Conv2d(32, 32, 3, padding=1)) == 0.0  # few outputs
    assert event.default_threshold(Conv2d(16, 64, 3, padding=1)) == 0.0  # small fan-in
    assert event.default_threshold(Conv2d(32, 64, 3, stride=2)) == 0.0
    assert event.default_threshold(Conv2d(2, 64, 3)) == 0.0
    assert event.default_threshold(torch.nn.ReLU()) == 0.0
    layer = Linear(784, 1000)
    assert event.threshold(layer) == event.default_threshold(layer)
    layer.event_threshold = 0.05
    assert event.threshold(layer) == 0.05


def test_default_threshold_in_auto_mode(calls: Counter[str]) -> None:
    wide, narrow = Linear(20, 1000), Linear(20, 10)
    x = torch.zeros(5, 4, 20)
    x[:, :, 0] = 1.0  # density 0.05
    with torch.no_grad():
        wide(x)
        narrow(x)
    assert calls["linear"] == 1  # only the wide layer


def test_mode_context() -> None:
    assert event.current_mode() == "auto"
    with event.mode("dense"):
        assert event.current_mode() == "dense"
        with event.mode("event"):
            assert event.current_mode() == "event"
        assert event.current_mode() == "dense"
    assert event.current_mode() == "auto"
    with pytest.raises(ValueError, match="event mode"), event.mode("sparse"):  # type: ignore[arg-type]
        pass


@pytest.mark.parametrize("p", DENSITIES)
def test_compiled_scan_equals_torch_scan(p: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The numba scan (event_scan) and the torch scan (nonzero, searchsorted) make the same
    bags, so the event path's outputs are bitwise equal either way."""
    from neurosim.core import jit

    g = torch.Generator().manual_seed(int(p * 1000))
    layer = Linear(37, 300)
    x = _spikes(g, (6, 9, 37), p)
    with torch.no_grad(), event.mode("event"):
        compiled = layer(x)
        monkeypatch.setattr(jit, "numba", None)
        fallback = layer(x)
    assert torch.equal(compiled, fallback)


def test_tables_are_reused_only_while_the_weight_is_unchanged() -> None:
    layer = Linear(20, 30)
    x = _spikes(torch.Generator().manual_seed(1), (3, 4, 20), 0.2)
    with torch.no_grad(), event.mode("event"), event.reuse_tables():
        first = layer(x)
        layer.weight.mul_(2.0)  # in place through torch: a new version, a new table
        second = layer(x)
        layer.weight = torch.nn.Parameter(layer.weight * 0.5)  # a new tensor
        third = layer(x)
    torch.testing.assert_close(second, 2 * first - layer.bias)
    torch.testing.assert_close(third, first)
