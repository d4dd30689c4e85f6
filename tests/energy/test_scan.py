"""The compiled scan of the network input (neurosim.energy.scan) against torch, and counts
taken with it against counts taken without it."""

from __future__ import annotations

import pytest
import torch

import neurosim as ns
import neurosim.energy.counts as counts_module
from neurosim.energy import count, make_plan
from neurosim.energy.counts import is_binary
from neurosim.energy.scan import scan_events


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rows", [1, 255, 256, 257, 1000])
def test_counts_and_binarity_match_torch(dtype: torch.dtype, rows: int) -> None:
    g = torch.Generator().manual_seed(rows)
    x = (torch.rand(rows, 37, generator=g) < 0.3).to(dtype)
    x[0, 0] = -0.0  # a zero for == 0, as for torch
    res = scan_events(x, 37)
    assert res is not None
    assert res[0] is True
    assert res[1] is not None
    assert torch.equal(res[1], x.sum(0).to(torch.int64))


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0, float("nan"), float("inf"), 1e-30])
def test_any_other_value_is_not_binary(value: float) -> None:
    x = (torch.rand(600, 9, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    x[517, 4] = value  # in the third block of rows
    assert scan_events(x, 9) == (False, None)
    assert not is_binary(x)
    assert not bool(((x == 0) | (x == 1)).all())


def test_cases_left_to_torch() -> None:
    x = (torch.rand(8, 6) < 0.5).float()
    assert scan_events(x.t(), 8) is None  # not contiguous
    assert scan_events(x.half(), 6) is None
    assert scan_events(x.clone().requires_grad_(True), 6) is None
    assert scan_events(x[:0], 6) is None
    assert is_binary(x.t())
    assert is_binary(x.half())


def test_counts_equal_with_and_without_the_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    net = ns.Sequential(
        ns.Conv2d(2, 3, 3, padding=1),
        ns.LIF.from_beta(0.9, v_th=0.4),
        ns.Flatten(),
        ns.Linear(3 * 6 * 6, 4),
        ns.LIF.from_beta(0.8, v_th=0.4),
    )
    profile = ns.hardware.load("loihi")
    for x in ((torch.rand(5, 3, 2, 6, 6) < 0.3).float(), torch.rand(5, 3, 2, 6, 6)):
        with torch.no_grad():
            run = net.run(x)
        plan = make_plan(run, profile)
        fast = count(run, plan)
        monkeypatch.setattr(counts_module, "scan_events", lambda x, n: None)
        slow = count(run, plan)
        monkeypatch.undo()
        assert fast[0].analog == slow[0].analog == (not is_binary(x))
        for a, b in zip(fast, slow, strict=True):
            assert a.as_floats() == b.as_floats()


def test_weighted_sums_are_exact_in_half_precision_too() -> None:
    """Event sums of float16 spikes above 2048 per unit (float16 counts exactly only up to
    2048) are summed in float64."""
    from neurosim.energy.counts import _weighted

    events = torch.ones(5000, 3, dtype=torch.float16)
    (total,) = _weighted(events, [torch.tensor([1.0, 2.0, 3.0])])
    assert total.item() == 5000 * 6
