"""The benchmark cases: which network, which input sizes, forward or training step.

Every case names its ``group`` (what kind of workload), its ``params`` (sizes) and whether
a step is a training step (forward + loss + backward) or a forward pass without autograd.
``full_suite()`` is the suite the README reports; ``quick_suite()`` has the same groups at
tiny sizes (the test runs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GROUPS",
    "PEER_ORDER",
    "Case",
    "full_suite",
    "quick_suite",
]

PEER_ORDER: tuple[str, ...] = ("neurosim", "snntorch", "spikingjelly", "norse", "sinabs")
"""Libraries in the order of the table's columns; ``neurosim`` first."""

GROUPS: dict[str, str] = {
    "fc_forward": "FC 784-H-10, forward without autograd",
    "fc_train": "FC 784-H-10, forward + cross-entropy on spike counts + backward",
    "neuron_train": "LIF layer alone on currents [T, B, N], forward + backward",
    "conv_train": "conv 1-32-64 (3x3, pad 1, avgpool 2 after each conv) + FC 10, train",
    "sparse_infer": "FC 784-1000-10 on Bernoulli input of the given rate, no autograd",
    "energy_overhead": "neurosim training step with energy counting vs without",
}

FC_RATE = 0.2
"""Spike probability of the binary input of the FC and conv cases."""


@dataclass(frozen=True)
class Case:
    """One workload. ``peers``: the libraries that run it (``None``: all of them)."""

    group: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    train: bool = False
    peers: tuple[str, ...] | None = None
    check_spikes: bool = False  # also compare neurosim's output spikes with snnTorch's

    def runs(self, lib: str) -> bool:
        return self.peers is None or lib in self.peers

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "params": dict(self.params),
            "train": self.train,
            "peers": list(self.peers) if self.peers is not None else None,
            "check_spikes": self.check_spikes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Case:
        peers = d.get("peers")
        return cls(
            d["group"],
            d["name"],
            dict(d["params"]),
            bool(d["train"]),
            tuple(peers) if peers is not None else None,
            bool(d.get("check_spikes", False)),
        )


def _fc(group: str, t: int, h: int, b: int, train: bool) -> Case:
    return Case(
        group,
        f"{group} T={t} H={h} B={b}",
        {"T": t, "H": h, "B": b, "rate": FC_RATE},
        train=train,
        check_spikes=not train,
    )


def _suite(
    fc_sizes: list[tuple[int, int]],
    batch: int,
    neuron: tuple[int, int, int],
    conv: dict[str, Any],
    sparse: dict[str, Any],
    rates: tuple[float, ...],
) -> list[Case]:
    cases = [_fc("fc_forward", t, h, batch, train=False) for t, h in fc_sizes]
    cases += [_fc("fc_train", t, h, batch, train=True) for t, h in fc_sizes]
    t, b, n = neuron
    cases.append(
        Case("neuron_train", f"neuron_train T={t} B={b} N={n}", {"T": t, "B": b, "N": n}, True)
    )
    ch = "-".join(str(c) for c in conv["channels"])
    cases.append(
        Case(
            "conv_train",
            f"conv_train {ch} {conv['image']}x{conv['image']} T={conv['T']} B={conv['B']}",
            {**conv, "channels": list(conv["channels"]), "rate": FC_RATE},
            True,
        )
    )
    for rate in rates:
        cases.append(
            Case(
                "sparse_infer",
                f"sparse_infer rate={rate:g} T={sparse['T']} H={sparse['H']} B={sparse['B']}",
                {**sparse, "rate": rate},
            )
        )
    e = dict(sparse)
    cases.append(
        Case(
            "energy_overhead",
            f"energy_overhead T={e['T']} H={e['H']} B={e['B']}",
            {**e, "rate": FC_RATE, "profile": "loihi"},
            True,
            peers=("neurosim",),
        )
    )
    return cases


def full_suite() -> list[Case]:
    """The suite of the issue: FC T∈{10,25,100}×H∈{1000,4000}, B=128, and the rest."""
    return _suite(
        fc_sizes=[(t, h) for t in (10, 25, 100) for h in (1000, 4000)],
        batch=128,
        neuron=(25, 128, 1000),
        conv={"T": 10, "B": 32, "channels": (1, 32, 64), "image": 28},
        sparse={"T": 25, "H": 1000, "B": 128},
        rates=(0.5, 0.1, 0.02),
    )


def quick_suite() -> list[Case]:
    """Every group at tiny sizes (seconds in all); timings mean nothing."""
    return _suite(
        fc_sizes=[(4, 32)],
        batch=8,
        neuron=(4, 8, 32),
        conv={"T": 4, "B": 2, "channels": (1, 4, 8), "image": 8},
        sparse={"T": 4, "H": 32, "B": 8},
        rates=(0.5, 0.1, 0.02),
    )
