"""IRNN: closed form, torch.nn.RNN on the same weights, Sequential, continuation, errors."""

import pytest
import torch
from torch import nn

import neurosim as ns


def test_identity_init_sums_nonnegative_input() -> None:
    # W_h = I, b = 0 and x >= 0: relu never clips, so h[t] = Σ_{s<=t} x[s]
    torch.manual_seed(0)
    rnn = ns.IRNN(5)
    assert torch.equal(rnn.recurrent.weight, torch.eye(5))
    assert torch.equal(rnn.recurrent.bias, torch.zeros(5))
    x = torch.rand(7, 3, 5)
    torch.testing.assert_close(rnn(x), x.cumsum(0))


def test_matches_torch_relu_rnn() -> None:
    torch.manual_seed(1)
    rnn = ns.IRNN(6)
    with torch.no_grad():
        rnn.recurrent.weight.copy_(0.4 * torch.randn(6, 6))
        rnn.recurrent.bias.copy_(0.1 * torch.randn(6))
    peer = nn.RNN(6, 6, nonlinearity="relu")  # time-first by default
    with torch.no_grad():
        peer.weight_ih_l0.copy_(torch.eye(6))
        peer.bias_ih_l0.zero_()
        peer.weight_hh_l0.copy_(rnn.recurrent.weight)
        peer.bias_hh_l0.copy_(rnn.recurrent.bias)
    x = torch.randn(9, 4, 6)
    h0 = torch.rand(4, 6)
    expected, _ = peer(x, h0.unsqueeze(0))
    torch.testing.assert_close(rnn(x, h0), expected)


def test_in_sequential_and_continuation() -> None:
    torch.manual_seed(2)
    net = ns.Sequential(ns.Linear(3, 8), ns.IRNN(8, scale=0.5), ns.Linear(8, 2))
    x = torch.randn(10, 4, 3)
    run = net.run(x)
    assert run.output.shape == (10, 4, 2)
    assert run.activity[1].output.shape == (10, 4, 8)
    assert not run.activity[1].spiking
    torch.testing.assert_close(run.output, net(x))
    rnn = net[1]
    u = net[0](x)
    first = rnn(u[:4])
    torch.testing.assert_close(torch.cat([first, rnn(u[4:], first[-1])]), rnn(u))


def test_bad_input() -> None:
    rnn = ns.IRNN(4)
    with pytest.raises(ns.ShapeError, match=r"\[T, B, 4\]"):
        rnn(torch.zeros(3, 2, 5))
    with pytest.raises(ns.ShapeError, match="h0"):
        rnn(torch.zeros(3, 2, 4), torch.zeros(3, 4))
    with pytest.raises(TypeError, match="tensor"):
        rnn([1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n=0"):
        ns.IRNN(0)
    with pytest.raises(TypeError, match="scale"):
        ns.IRNN(3, scale="big")  # type: ignore[arg-type]


def test_sequential_run_continues_an_irnn_from_its_last_state() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(3, 6), ns.IRNN(6, scale=0.9), ns.Linear(6, 2))
    with torch.no_grad():
        net[1].recurrent.weight.add_(0.1 * torch.randn(6, 6))
    x = torch.randn(8, 4, 3)
    whole = net.run(x)
    first = net.run(x[:5])
    rest = net.run(x[5:], state=first.states)
    torch.testing.assert_close(first.states[1], first.activity[1].output[-1])
    torch.testing.assert_close(torch.cat([first.output, rest.output]), whole.output)
    torch.testing.assert_close(net(x[5:], first.states), rest.output)
    fresh = net.run(x[5:])  # without the state: from zeros, a different answer
    assert not torch.allclose(fresh.output, rest.output)
