"""Tests for neurosim.core.surrogate: gradients, strict Heaviside forward, registry."""

from __future__ import annotations

import math

import pytest
import snntorch.surrogate as snn_surrogate
import torch

from neurosim.core import surrogate as sg
from neurosim.core.surrogate import S2NN, ATan, FastSigmoid, Sigmoid, spike

# One non-default parameter set per registered surrogate. A newly registered surrogate must
# be added here (test_every_surrogate_has_a_non_default_case fails otherwise).
NON_DEFAULT: dict[str, dict[str, float]] = {
    "atan": {"alpha": 3.5},
    "fast_sigmoid": {"slope": 4.0},
    "sigmoid": {"slope": 3.0},
    "triangle": {"width": 0.4},
    "s2nn": {"alpha": 2.0, "beta": 0.5},
    "straight_through": {"clip": 0.7},
}

CASES = [pytest.param(name, {}, id=f"{name}-default") for name in sg.available()] + [
    pytest.param(name, params, id=f"{name}-{params}") for name, params in NON_DEFAULT.items()
]


def _kinks(s: sg.Surrogate) -> list[float]:
    """Points where ``smooth`` is not twice differentiable (finite differences are off)."""
    points = [0.0]
    for field in ("width", "clip"):
        value = getattr(s, field, None)
        if value is not None:
            points += [value, -value]
    return points


def _points_away_from_kinks(s: sg.Surrogate, g: torch.Generator, n: int = 48) -> torch.Tensor:
    x = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 6.0
    for k in _kinks(s):
        near = (x - k).abs() < 1e-3
        x = torch.where(near, x + 0.01, x)
    for k in _kinks(s):
        assert ((x - k).abs() >= 1e-3).all()
    return x


def test_every_surrogate_has_a_non_default_case() -> None:
    assert set(NON_DEFAULT) == set(sg.available())
    for name, params in NON_DEFAULT.items():
        assert sg.get(name, **params) != sg.get(name), name


@pytest.mark.parametrize(("name", "params"), CASES)
def test_grad_is_true_derivative_of_smooth(name: str, params: dict[str, float]) -> None:
    s = sg.get(name, **params)
    g = torch.Generator().manual_seed(1234)
    x = _points_away_from_kinks(s, g).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: spike(t, s, smooth_forward=True), (x,))


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_strict_heaviside(
    name: str, params: dict[str, float], dtype: torch.dtype
) -> None:
    s = sg.get(name, **params)
    g = torch.Generator().manual_seed(7)
    special = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, 1e6, -1e6], dtype=dtype)
    x = torch.cat([special, torch.randn(100, generator=g, dtype=dtype)])
    out = spike(x, s)
    assert out.dtype == dtype
    assert torch.equal(out, (x > 0).to(dtype))
    # x = 0 (either sign) does not spike; the smallest positive does
    assert out[0].item() == 0.0
    assert out[1].item() == 0.0
    assert out[2].item() == 1.0
    # calling the surrogate itself is the same spike function
    assert torch.equal(s(x), out)


@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("smooth_forward", [False, True])
def test_backward_is_grad_out_times_surrogate_grad(
    name: str, params: dict[str, float], smooth_forward: bool
) -> None:
    s = sg.get(name, **params)
    g = torch.Generator().manual_seed(99)
    x = (torch.randn(5, 7, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    grad_out = torch.randn(5, 7, generator=g, dtype=torch.float64)
    spike(x, s, smooth_forward=smooth_forward).backward(grad_out)
    assert x.grad is not None
    assert torch.equal(x.grad, grad_out * s.grad(x.detach()))


def test_s2nn_branches_meet_at_zero() -> None:
    s = S2NN(alpha=4.0, beta=1.0)
    assert s == sg.get("s2nn")
    zero = torch.tensor([0.0], dtype=torch.float64)
    eps = torch.tensor([1e-9], dtype=torch.float64)
    # value: σ(0) = 1/2 on the left, ln(1) + 1/2 on the right
    assert s.smooth(zero).item() == 0.5
    assert s.smooth(-eps).item() == pytest.approx(0.5, abs=1e-8)
    assert s.smooth(eps).item() == pytest.approx(0.5, abs=1e-8)
    # slope: 4·σ(0)·(1 − σ(0)) = 1 on the left, 1/(0 + 1) = 1 on the right
    assert s.grad(zero).item() == 1.0
    assert s.grad(-eps).item() == pytest.approx(1.0, abs=1e-8)
    assert s.grad(eps).item() == pytest.approx(1.0, abs=1e-8)


def test_s2nn_grad_by_hand() -> None:
    s = S2NN()

    def sig(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    x = torch.tensor([-1.0, -0.5, 0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    expected = [
        4 * sig(-4) * (1 - sig(-4)),  # x = -1: α σ(αx)(1 − σ(αx))
        4 * sig(-2) * (1 - sig(-2)),  # x = -0.5
        1.0,  # x = 0: right branch, β/(0 + 1)
        0.5,  # x = 1: 1/2
        1.0 / 3.0,  # x = 2
        0.25,  # x = 3
    ]
    torch.testing.assert_close(s.grad(x), torch.tensor(expected, dtype=torch.float64))
    # the smooth step: σ(−4) at −1 and ln 2 + 1/2 at 1
    torch.testing.assert_close(
        s.smooth(torch.tensor([-1.0, 1.0], dtype=torch.float64)),
        torch.tensor([sig(-4), math.log(2) + 0.5], dtype=torch.float64),
    )


@pytest.mark.interop
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        pytest.param(ATan(), snn_surrogate.atan(), id="atan-default"),
        pytest.param(ATan(alpha=3.0), snn_surrogate.atan(alpha=3.0), id="atan-3"),
        pytest.param(FastSigmoid(), snn_surrogate.fast_sigmoid(), id="fast_sigmoid-default"),
        pytest.param(FastSigmoid(slope=5.0), snn_surrogate.fast_sigmoid(slope=5.0), id="fs-5"),
        pytest.param(Sigmoid(), snn_surrogate.sigmoid(), id="sigmoid-default"),
        pytest.param(Sigmoid(slope=4.0), snn_surrogate.sigmoid(slope=4.0), id="sigmoid-4"),
    ],
)
def test_grad_matches_snntorch(ours: sg.Surrogate, theirs: object) -> None:
    g = torch.Generator().manual_seed(5)
    x = torch.cat([torch.randn(200, generator=g) * 0.5, torch.tensor([0.0, 0.04, -0.04])])
    x_theirs = x.clone().requires_grad_(True)
    out = theirs(x_theirs)  # type: ignore[operator]
    assert torch.equal(out, (x > 0).float())
    out.sum().backward()
    assert x_theirs.grad is not None
    torch.testing.assert_close(ours.grad(x), x_theirs.grad)
    x_ours = x.clone().requires_grad_(True)
    spike(x_ours, ours).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)


def test_get_unknown_name_lists_available() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        sg.get("nope")
    for name in sg.available():
        assert name in str(info.value)


def test_register_existing_name_raises() -> None:
    before = sg.available()
    with pytest.raises(ValueError, match="atan"):
        sg.register("atan", ATan)
    assert sg.available() == before
    assert type(sg.get("atan")) is ATan


def test_get_instance_with_params_raises() -> None:
    with pytest.raises(TypeError):
        sg.get(FastSigmoid(), slope=1)


def test_get_passes_instance_through_and_applies_params() -> None:
    s = FastSigmoid(slope=3.0)
    assert sg.get(s) is s
    a = sg.get("atan", alpha=3)
    assert isinstance(a, ATan)
    assert a.alpha == 3


def test_get_bad_param_or_spec_type_raises() -> None:
    with pytest.raises(TypeError, match="atan"):
        sg.get("atan", slope=2.0)
    with pytest.raises(TypeError):
        sg.get(3)  # type: ignore[arg-type]
