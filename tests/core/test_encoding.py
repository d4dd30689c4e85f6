"""Tests for neurosim.core.encoding: encoders and readouts."""

from __future__ import annotations

import math

import pytest
import torch

from neurosim.core.encoding import Direct, Latency, Poisson, count, membrane, rate


def test_poisson_mean_close_to_intensity() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[0.0, 0.05, 0.3, 0.5, 0.9, 1.0]])
    T = 20000
    spikes = Poisson(T)(x, generator=g)
    assert spikes.shape == (T, 1, 6)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    mean = spikes.mean(0)
    se = torch.sqrt(x * (1 - x) / T)
    assert ((mean - x).abs() <= 4 * se).all(), (mean, x)
    # the endpoints are deterministic
    assert mean[0, 0].item() == 0.0
    assert mean[0, -1].item() == 1.0


def test_poisson_gain_scales_probability() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.full((4,), 0.8)
    T, gain = 20000, 0.25
    mean = Poisson(T, gain=gain)(x, generator=g).mean(0)
    p = gain * 0.8
    assert ((mean - p).abs() <= 4 * math.sqrt(p * (1 - p) / T)).all()


def test_poisson_seeded_generator_is_reproducible() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 10, generator=g)
    enc = Poisson(50)
    a = enc(x, generator=torch.Generator().manual_seed(11))
    b = enc(x, generator=torch.Generator().manual_seed(11))
    c = enc(x, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.dtype == x.dtype


@pytest.mark.parametrize("bad", [[-0.1, 0.5], [0.5, 1.01], [float("nan"), 0.5]])
def test_poisson_rejects_values_outside_unit_range(bad: list[float]) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]|NaN"):
        Poisson(5)(torch.tensor(bad))


@pytest.mark.parametrize("gain", [0.0, -0.5, 1.5])
def test_poisson_rejects_bad_gain(gain: float) -> None:
    with pytest.raises(ValueError, match="gain"):
        Poisson(5, gain=gain)


def test_direct_repeats_input() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 4, generator=g) * 5  # any real values, negative included
    y = Direct(6)(x)
    assert y.shape == (6, 2, 3, 4)
    for t in range(6):
        assert torch.equal(y[t], x)


def test_latency_linear_by_hand() -> None:
    enc = Latency(5)
    x = torch.tensor([1.0, 0.5, 0.0])
    # round((1 − x)·(T − 1)): 0, 2, and x = 0 is below the threshold: no spike (T)
    assert enc.spike_times(x).tolist() == [0, 2, 5]
    y = enc(x)
    assert y.shape == (5, 3)
    assert y[:, 0].tolist() == [1, 0, 0, 0, 0]
    assert y[:, 1].tolist() == [0, 0, 1, 0, 0]
    assert y[:, 2].tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("mode", ["linear", "log"])
def test_latency_one_spike_per_input_above_threshold(mode: str) -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.rand(8, 30, generator=g)
    x[0, :5] = torch.tensor([0.0, 0.01, 0.0100001, 1.0, 0.005])
    enc = Latency(10, threshold=0.01, mode=mode)  # type: ignore[arg-type]
    y = enc(x)
    assert y.shape == (10, 8, 30)
    assert torch.equal(count(y), (x > 0.01).float())
    times = enc.spike_times(x)
    assert ((times >= 0) & (times <= 10)).all()
    assert torch.equal(times == 10, x <= 0.01)


def test_latency_log_mode_is_monotone() -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.sort(torch.rand(200, generator=g) * 0.98 + 0.02).values
    times = Latency(20, threshold=0.01, mode="log").spike_times(x)
    assert (times[1:] <= times[:-1]).all()  # larger x spikes no later
    assert times[-1] < times[0]  # and the range is actually used
    # RC time by hand for x = 0.5, threshold 0.01, T = 20: round(20·ln(0.5/0.49)) = 0
    # and for x = 0.02: round(20·ln 2) = 14
    enc = Latency(20, threshold=0.01, mode="log")
    assert enc.spike_times(torch.tensor([0.5, 0.02])).tolist() == [0, 14]


@pytest.mark.parametrize("T", [0, -1, True, 2.0, "3"])
@pytest.mark.parametrize("cls", [Direct, Poisson, Latency])
def test_bad_T_raises(cls: type, T: object) -> None:
    with pytest.raises(ValueError, match="T="):
        cls(T)


def test_latency_bad_params_raise() -> None:
    with pytest.raises(ValueError, match="mode"):
        Latency(5, mode="exp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        Latency(5, threshold=1.0)


def test_encoders_reject_non_float_input() -> None:
    with pytest.raises(ValueError, match="floating"):
        Direct(3)(torch.tensor([1, 2]))
    with pytest.raises(TypeError):
        Direct(3)([0.5])  # type: ignore[arg-type]


def test_readouts_by_hand() -> None:
    spikes = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]], [[1.0, 0.0]]])  # [4, 1, 2]
    assert count(spikes).tolist() == [[3.0, 1.0]]
    assert rate(spikes).tolist() == [[0.75, 0.25]]
    trace = torch.tensor([[[0.5, -1.0]], [[2.0, -0.5]], [[0.5, -1.5]]])  # [3, 1, 2]
    assert membrane(trace).tolist() == [[1.0, -1.0]]  # (0.5 + 2 + 0.5)/3, (−1 − .5 − 1.5)/3
    assert membrane(trace, "mean").tolist() == membrane(trace).tolist()
    assert membrane(trace, "max").tolist() == [[2.0, -0.5]]
    assert membrane(trace, "last").tolist() == [[0.5, -1.5]]


def test_membrane_bad_reduce_raises() -> None:
    with pytest.raises(ValueError, match="median"):
        membrane(torch.zeros(3, 1, 2), "median")  # type: ignore[arg-type]
