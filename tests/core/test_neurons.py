"""Tests for the neuron models (neurosim.core.neurons and neurosim.core.neuron_layers)."""

from __future__ import annotations

import math

import pytest
import torch

from neurosim.core import IF, LIF, S2NN, LIFState, RecurrentLIF, ShapeError
from neurosim.core.neurons import LIFParams

HUGE = 1e9  # a threshold no membrane reaches: sub-threshold dynamics only


def _seq(values: list[float]) -> torch.Tensor:
    """A single neuron's input sequence as ``[T, B=1, N=1]``."""
    return torch.tensor(values).view(-1, 1, 1)


def _flat(t: torch.Tensor) -> list[float]:
    return t.flatten().tolist()


# ----------------------------------------------------------------- closed-form dynamics


@pytest.mark.parametrize(("tau", "dt"), [(20e-3, 1e-3), (5e-3, 0.5e-3), (1.0, 0.25)])
def test_free_decay_matches_exponential(tau: float, dt: float) -> None:
    g = torch.Generator().manual_seed(0)
    T, B, N = 40, 3, 5
    v0 = torch.randn(B, N, generator=g, dtype=torch.float64) * 3.0
    lif = LIF(tau_mem=tau, dt=dt, v_th=HUGE).double()
    x = torch.zeros(T, B, N, dtype=torch.float64)
    spikes, state, mem = lif.trace(x, LIFState(v0, torch.zeros_like(v0)))
    assert not spikes.any()
    for t in range(1, T + 1):
        expected = v0 * math.exp(-t * dt / tau)
        torch.testing.assert_close(mem[t - 1], expected, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(state.v, mem[-1], rtol=0, atol=0)


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_constant_input_from_rest_matches_geometric_sum(beta: float) -> None:
    g = torch.Generator().manual_seed(1)
    T, B, N = 30, 2, 4
    x_const = torch.rand(B, N, generator=g, dtype=torch.float64)
    lif = LIF.from_beta(beta, v_th=HUGE).double()
    b = float(lif.beta)  # β as stored (float32-rounded), so the closed form is exact
    x = x_const.expand(T, B, N)
    _, _, mem = lif.trace(x)
    for t in range(T):
        expected = x_const * (1 - b ** (t + 1)) / (1 - b)
        torch.testing.assert_close(mem[t], expected, rtol=1e-10, atol=1e-12)


def test_constant_input_closed_form_with_tau() -> None:
    tau, dt, T = 10e-3, 1e-3, 25
    beta = math.exp(-dt / tau)
    lif = LIF(tau_mem=tau, dt=dt, v_th=HUGE)
    _, _, mem = lif.trace(torch.full((T, 1, 1), 0.3))
    expected = torch.tensor([0.3 * (1 - beta ** (t + 1)) / (1 - beta) for t in range(T)])
    torch.testing.assert_close(mem.flatten(), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- reset rules by hand

# Input used for all reset cases (β = 1/2, v_th = 1; all values exact in binary).
X = [1.5, 0.25, 1.0, 0.0, 0.9375]


@pytest.mark.parametrize(
    ("kwargs", "membrane", "spikes"),
    [
        pytest.param(
            {"reset": "subtract"},
            # h0 = 1.5 (spike); h1 = ½(1.5 − 1) + .25 = .5; h2 = ½·.5 + 1 = 1.25 (spike);
            # h3 = ½(1.25 − 1) + 0 = .125; h4 = ½·.125 + .9375 = 1.0 (= v_th: no spike)
            [1.5, 0.5, 1.25, 0.125, 1.0],
            [1, 0, 1, 0, 0],
            id="subtract-immediate",
        ),
        pytest.param(
            {"reset": "zero"},
            # h0 = 1.5 (spike); h1 = ½·0 + .25 = .25; h2 = ½·.25 + 1 = 1.125 (spike);
            # h3 = ½·0 + 0 = 0; h4 = 0 + .9375 = .9375
            [1.5, 0.25, 1.125, 0.0, 0.9375],
            [1, 0, 1, 0, 0],
            id="zero-immediate",
        ),
        pytest.param(
            {"reset": "none"},
            # h0 = 1.5 (spike); h1 = .75 + .25 = 1.0 (no spike); h2 = .5 + 1 = 1.5 (spike);
            # h3 = .75; h4 = .375 + .9375 = 1.3125 (spike)
            [1.5, 1.0, 1.5, 0.75, 1.3125],
            [1, 0, 1, 0, 1],
            id="none",
        ),
        pytest.param(
            {"reset": "subtract", "reset_timing": "delayed"},
            # h = β·v + x − s_prev·v_th:
            # h0 = 1.5 (spike); h1 = .75 + .25 − 1 = 0; h2 = 0 + 1 − 0 = 1.0 (no spike);
            # h3 = .5; h4 = .25 + .9375 = 1.1875 (spike)
            [1.5, 0.0, 1.0, 0.5, 1.1875],
            [1, 0, 0, 0, 1],
            id="subtract-delayed",
        ),
        pytest.param(
            {"reset": "zero", "v_reset": 0.5},
            # reset to .5, then decay: h0 = 1.5 (spike); h1 = ½·.5 + .25 = .5;
            # h2 = ½·.5 + 1 = 1.25 (spike); h3 = ½·.5 + 0 = .25; h4 = .125 + .9375 = 1.0625
            [1.5, 0.5, 1.25, 0.25, 1.0625],
            [1, 0, 1, 0, 1],
            id="zero-v_reset-0.5",
        ),
    ],
)
def test_reset_rules_by_hand(
    kwargs: dict[str, object], membrane: list[float], spikes: list[float]
) -> None:
    lif = LIF.from_beta(0.5, v_th=1.0, **kwargs)  # type: ignore[arg-type]
    s, state, mem = lif.trace(_seq(X))
    assert _flat(mem) == membrane
    assert _flat(s) == spikes
    assert _flat(state.v) == membrane[-1:]
    assert _flat(state.s) == spikes[-1:]
    # forward() gives the same spikes and state as trace()
    s2, state2 = lif(_seq(X))
    assert torch.equal(s2, s)
    assert torch.equal(state2.v, state.v)


def test_reset_zero_timings_coincide() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(20, 3, 6, generator=g) * 1.5
    a = LIF.from_beta(0.8, reset="zero", reset_timing="immediate").trace(x)
    b = LIF.from_beta(0.8, reset="zero", reset_timing="delayed").trace(x)
    assert a[0].any()
    assert torch.equal(a[0], b[0])
    assert torch.equal(a[2], b[2])


def test_if_never_leaks() -> None:
    neuron = IF(v_th=HUGE)
    # held state: no input, the membrane stays at v0 forever
    v0 = torch.tensor([[0.7, -0.3, 2.5]])
    _, _, mem = neuron.trace(torch.zeros(10, 1, 3), LIFState(v0, torch.zeros_like(v0)))
    assert torch.equal(mem, v0.expand(10, 1, 3))
    # constant input 0.25 accumulates linearly: v[t] = 0.25 (t + 1)
    _, _, mem = neuron.trace(torch.full((8, 1, 1), 0.25))
    assert _flat(mem) == [0.25 * (t + 1) for t in range(8)]
    assert neuron.beta.item() == 1.0


def test_if_subtract_by_hand() -> None:
    # v_th = 1, input .75 each step: h = .75, 1.5 (spike), .5 + .75 = 1.25 (spike), 1.0, 1.75
    s, _, mem = IF(v_th=1.0).trace(torch.full((5, 1, 1), 0.75))
    assert _flat(mem) == [0.75, 1.5, 1.25, 1.0, 1.75]
    assert _flat(s) == [0, 1, 1, 0, 1]


# ----------------------------------------------------------------- recurrent, S2NN


def test_recurrent_drive_arrives_one_step_after_spike() -> None:
    neuron = RecurrentLIF.from_beta(0.5, n=2, v_th=1.0)
    with torch.no_grad():
        neuron.recurrent.weight.copy_(torch.tensor([[0.0, 0.0], [0.5, 0.0]]))  # 0 → 1
    x = torch.zeros(4, 1, 2)
    x[0, 0, 0] = 2.0  # neuron 0 spikes at t = 0 only; neuron 1 gets no external input
    s, _, mem = neuron.trace(x)
    # neuron 0: h = 2 (spike), ½(2 − 1) = .5, .25, .125
    assert _flat(mem[:, 0, 0]) == [2.0, 0.5, 0.25, 0.125]
    assert _flat(s[:, 0, 0]) == [1, 0, 0, 0]
    # neuron 1: nothing at t = 0, then the drive .5·s0[0] at t = 1, then it decays
    assert _flat(mem[:, 0, 1]) == [0.0, 0.5, 0.25, 0.125]
    assert _flat(s[:, 0, 1]) == [0, 0, 0, 0]


def test_recurrent_continuation_carries_last_spikes() -> None:
    neuron = RecurrentLIF.from_beta(0.5, n=2, v_th=1.0)
    with torch.no_grad():
        neuron.recurrent.weight.copy_(torch.tensor([[0.0, 0.0], [0.5, 0.0]]))
    x = torch.zeros(4, 1, 2)
    x[0, 0, 0] = 2.0
    whole = neuron.trace(x)[2]
    _, st = neuron(x[:1])
    rest = neuron.trace(x[1:], st)[2]
    assert torch.equal(torch.cat([neuron.trace(x[:1])[2], rest]), whole)


def test_recurrent_rejects_wrong_feature_size() -> None:
    with pytest.raises(ShapeError, match="3"):
        RecurrentLIF(n=3)(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="n=0"):
        RecurrentLIF(n=0)


def test_s2nn_is_stateless_and_spikes_iff_above_threshold() -> None:
    g = torch.Generator().manual_seed(4)
    neuron = S2NN(v_th=0.25)
    x = torch.cat([torch.tensor([0.25, 0.2500001, 0.2499999]), torch.randn(50, generator=g)])
    x = x.view(-1, 1, 1).expand(-1, 2, 3).contiguous()
    s, state = neuron(x)
    assert state is None
    assert torch.equal(s, (x > 0.25).to(x.dtype))
    assert s[0].sum() == 0
    # no memory: permuting time permutes the output
    perm = torch.randperm(x.shape[0], generator=g)
    assert torch.equal(neuron(x[perm])[0], s[perm])
    with pytest.raises(TypeError, match="stateless"):
        neuron(x, state=LIFState(x[0], x[0]))


def test_s2nn_uses_s2nn_surrogate_by_default() -> None:
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1).requires_grad_(True)
    S2NN()(x)[0].sum().backward()
    assert x.grad is not None
    # S2NN surrogate at x = 1: β/(1 + 1) = 1/2
    assert x.grad[1].item() == pytest.approx(0.5)
    assert x.grad[0].item() == pytest.approx(4 * math.exp(-4) / (1 + math.exp(-4)) ** 2)


# ----------------------------------------------------------------- learnable parameters


def test_learnable_beta_and_threshold_receive_gradients() -> None:
    g = torch.Generator().manual_seed(6)
    lif = LIF(learn_beta=True, learn_threshold=True)
    assert isinstance(lif.beta, torch.nn.Parameter)
    assert isinstance(lif.v_th, torch.nn.Parameter)
    x = torch.rand(15, 4, 8, generator=g) * 0.6
    s, _, mem = lif.trace(x)
    assert s.any()
    (s.sum() + mem.sum()).backward()
    assert lif.beta.grad is not None
    assert lif.beta.grad.abs().item() > 0
    assert lif.v_th.grad is not None
    assert lif.v_th.grad.abs().item() > 0


def test_learnable_from_beta_keeps_parameter() -> None:
    lif = LIF.from_beta(0.9, learn_beta=True)
    assert isinstance(lif.beta, torch.nn.Parameter)
    assert torch.equal(lif.beta.data, torch.tensor(0.9))
    _, _, mem = lif.trace(torch.ones(3, 1, 1) * 0.1)
    mem.sum().backward()
    assert lif.beta.grad is not None
    assert lif.beta.grad.item() > 0


def test_fixed_params_are_buffers() -> None:
    lif = LIF()
    assert not list(lif.parameters())
    assert {name for name, _ in lif.named_buffers()} == {"beta", "v_th"}


def test_from_beta_is_exact() -> None:
    assert torch.equal(LIF.from_beta(0.9).beta, torch.tensor(0.9))
    assert torch.equal(LIF.from_beta(1.0).beta, torch.tensor(1.0))


def test_tau_constructor_gives_exponential_beta() -> None:
    lif = LIF(tau_mem=20e-3, dt=1e-3)
    assert lif.beta.item() == pytest.approx(math.exp(-1 / 20), rel=1e-7)
    assert lif.tau_mem.item() == pytest.approx(20e-3, rel=1e-5)


def test_per_neuron_tau_broadcasts() -> None:
    taus = torch.tensor([1e-3, 1e-2, 1e-1])
    lif = LIF(tau_mem=taus, dt=1e-3, v_th=HUGE)
    _, _, mem = lif.trace(torch.zeros(1, 2, 3), LIFState(torch.ones(2, 3), torch.zeros(2, 3)))
    torch.testing.assert_close(mem[0], torch.exp(-1e-3 / taus).expand(2, 3))


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"reset": "soft"}, "soft"),
        ({"reset_timing": "late"}, "late"),
        ({"surrogate": "not_a_surrogate"}, "not_a_surrogate"),
    ],
)
@pytest.mark.parametrize("cls", [LIF, IF])
def test_bad_choices_raise_naming_value(cls: type, kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        cls(**kwargs)


def test_bad_choices_in_params_raise() -> None:
    with pytest.raises(ValueError, match="soft"):
        LIFParams(0.9, 1.0, reset="soft")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="late"):
        LIFParams(0.9, 1.0, reset_timing="late")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tau_mem": 0.0},
        {"tau_mem": -1e-3},
        {"tau_mem": torch.tensor([1e-3, 0.0])},
        {"tau_mem": float("nan")},
        {"dt": 0.0},
        {"dt": -1e-3},
        {"dt": float("inf")},
        {"v_th": float("nan")},
    ],
)
def test_bad_numbers_raise(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LIF(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("beta", [0.0, -0.1, 1.0001, 2.0, float("nan")])
def test_bad_beta_raises(beta: float) -> None:
    with pytest.raises(ValueError, match="beta"):
        LIF.from_beta(beta)


@pytest.mark.parametrize("cls", [LIF, IF])
def test_state_of_wrong_shape_raises_shape_error(cls: type) -> None:
    neuron = cls()
    bad = LIFState(torch.zeros(2, 5), torch.zeros(2, 5))
    with pytest.raises(ShapeError, match=r"\[2, 5\]") as info:
        neuron(torch.zeros(3, 2, 4), bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):
        neuron(torch.zeros(3, 2, 4), (torch.zeros(2, 4), torch.zeros(2, 4), 1))


def test_input_rank_below_two_raises() -> None:
    with pytest.raises(ShapeError):
        LIF()(torch.zeros(5))
    with pytest.raises(ShapeError):
        S2NN()(torch.zeros(5))


def test_tau_mem_round_trips_and_no_leak_is_infinite() -> None:
    assert LIF(tau_mem=5e-3, dt=1e-4).tau_mem.item() == pytest.approx(5e-3, rel=1e-5)
    assert LIF.from_beta(1.0).tau_mem.item() == math.inf


@pytest.mark.parametrize("cls", [LIF, IF, S2NN])
def test_zero_time_steps_raise_shape_error(cls: type) -> None:
    with pytest.raises(ShapeError, match=r"T >= 1, got shape \[0, 2, 3\]"):
        cls()(torch.zeros(0, 2, 3))
