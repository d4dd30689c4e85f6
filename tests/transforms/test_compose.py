"""compose: transforms applied left to right, input untouched, bad arguments named."""

from functools import partial

import pytest
import torch

import neurosim as ns
from neurosim.transforms import compose, magnitude_prune, spectral_norm, top_singular_values


def _net() -> ns.Sequential:
    torch.manual_seed(0)
    return ns.Sequential(ns.Linear(6, 8), ns.LIF.from_beta(0.9, backend="loop"), ns.Linear(8, 3))


def test_compose_applies_left_to_right_and_leaves_the_input_alone() -> None:
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calls: list[str] = []

    def tag(name: str) -> ns.transforms.Transform:
        def t(n: torch.nn.Module) -> torch.nn.Module:
            calls.append(name)
            return n

        return t

    assert compose(tag("a"), tag("b"), tag("c"))(net) is net
    assert calls == ["a", "b", "c"]

    both = compose(partial(magnitude_prune, layer=1, keep=5), spectral_norm)(net)
    x = torch.randn(4, 2, 6)
    want = spectral_norm(magnitude_prune(net, 1, keep=5))
    assert both[0].weight.shape == (5, 6)
    torch.testing.assert_close(both(x), want(x))
    assert all(abs(s - 1.0) < 1e-3 for s in top_singular_values(both).values())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_compose_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one transform"):
        compose()
    with pytest.raises(TypeError, match="argument 1 is not callable, got int"):
        compose(spectral_norm, 3)  # type: ignore[arg-type]
