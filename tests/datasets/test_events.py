"""Tests for neurosim.datasets.events: Events validation, bin_events against hand counts and a
brute-force loop, EventDataset items and its time-first loader."""

import numpy as np
import pytest
import torch

from neurosim.datasets import EventDataset, Events, bin_events, collate_time_first


def units(times: list[float], unit: list[int], n: int = 700) -> Events:
    return Events(
        np.array(times, dtype=float), np.array(unit, dtype=np.int64).reshape(-1, 1), (n,), ("unit",)
    )


def test_hand_counts_with_a_duration() -> None:
    # w = 0.25 s: 0.0, 0.1, 0.1 -> bin 0; 0.55 -> bin 2; 0.99 -> bin 3; 1.2 and -0.1 dropped
    a = units([0.0, 0.1, 0.1, 0.55, 0.99, 1.2, 0.3, -0.1], [3, 3, 3, 0, 699, 5, 5, 7])
    b = units([0.3], [1])
    x = bin_events([a, b], n_bins=4, duration_s=1.0)
    assert x.shape == (4, 2, 700)
    assert x.dtype == torch.float32
    expected = torch.zeros(4, 2, 700)
    expected[0, 0, 3] = 3
    expected[2, 0, 0] = 1
    expected[3, 0, 699] = 1
    expected[1, 0, 5] = 1  # t = 0.3
    expected[1, 1, 1] = 1
    torch.testing.assert_close(x, expected)
    xb = bin_events([a, b], n_bins=4, duration_s=1.0, binary=True)
    torch.testing.assert_close(xb, expected.clamp(max=1))
    assert xb[0, 0, 3] == 1


def test_span_mode_stretches_each_sample() -> None:
    # span [0.2, 0.6], w = 0.2: 0.2 -> 0, 0.45 -> 1, 0.6 (last event) -> 1
    a = units([0.2, 0.45, 0.6], [0, 0, 1], n=2)
    # span [5, 9], w = 2: 5 -> 0, 6.9 -> 0, 9 -> 1
    b = units([9.0, 5.0, 6.9], [1, 1, 1], n=2)
    empty = units([], [], n=2)
    same = units([3.0, 3.0], [0, 1], n=2)
    x = bin_events([a, b, empty, same], n_bins=2)
    expected = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [1.0, 1.0]],
            [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]],
        ]
    )
    torch.testing.assert_close(x, expected)


def test_multi_axis_coords_match_a_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    shape = (2, 3, 4)
    n_bins, duration = 7, 0.7
    samples = []
    for _ in range(3):
        e = 200
        # times at bin centres plus jitter well inside the bin: no edge ambiguity
        k = rng.integers(0, n_bins + 2, e)  # bins 7, 8 are beyond the window
        t = (k + rng.uniform(0.1, 0.9, e)) * (duration / n_bins)
        c = np.stack([rng.integers(0, s, e) for s in shape], axis=1)
        samples.append(Events(t, c, shape, ("p", "y", "x")))
    x = bin_events(samples, n_bins, duration)
    expected = np.zeros((n_bins, 3, *shape), dtype=np.float32)
    w = duration / n_bins
    for b, ev in enumerate(samples):
        for t, (p, y, xx) in zip(ev.times_s, ev.coords, strict=True):
            for j in range(n_bins):
                if j * w <= t < (j + 1) * w:
                    expected[j, b, p, y, xx] += 1
    np.testing.assert_array_equal(x.numpy(), expected)
    assert x.sum() < 600  # some events fell outside the window and were dropped


def test_events_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"coords\[:, 0\] \(unit\) must be in 0..699"):
        units([0.0], [700])
    with pytest.raises(ValueError, match=r"shape \[2, 1\]"):
        Events(np.zeros(2), np.zeros((3, 1), dtype=int), (5,), ("unit",))
    with pytest.raises(ValueError, match="finite"):
        units([float("nan")], [0])
    with pytest.raises(TypeError, match="integers"):
        Events(np.zeros(1), np.zeros((1, 1)), (5,), ("unit",))
    with pytest.raises(ValueError, match="name each axis"):
        Events(np.zeros(1), np.zeros((1, 1), dtype=int), (5,), ("a", "b"))
    ev = Events(np.zeros(1), np.array([[1, 2]]), (2, 3), ("y", "x"))
    assert ev.coord("x").tolist() == [2]
    with pytest.raises(ValueError, match="no axis 'p'"):
        ev.coord("p")


def test_bin_events_rejects_bad_arguments() -> None:
    a = units([0.1], [0], n=3)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
            bin_events([a], bad)  # type: ignore[arg-type]
    for dur in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="duration_s must be a finite number > 0"):
            bin_events([a], 2, dur)
    with pytest.raises(ValueError, match="empty"):
        bin_events([], 2)
    with pytest.raises(ValueError, match=r"samples\[1\] has shape \(4,\)"):
        bin_events([a, units([0.1], [0], n=4)], 2)
    with pytest.raises(TypeError, match=r"samples\[0\] must be Events"):
        bin_events([np.zeros(3)], 2)  # type: ignore[list-item]


def test_event_dataset_items_and_time_first_loader() -> None:
    samples = [units([0.1 * i, 0.5], [i, 0], n=5) for i in range(5)]
    labels = np.array([0, 1, 2, 1, 0])
    ds = EventDataset(samples.__getitem__, labels, (5,), 3, n_bins=4, duration_s=1.0)
    assert len(ds) == 5
    x, y = ds[3]  # times 0.3 (unit 3) -> bin 1, 0.5 (unit 0) -> bin 2
    assert x.shape == (4, 5)
    expected = torch.zeros(4, 5)
    expected[1, 3] = 1
    expected[2, 0] = 1
    torch.testing.assert_close(x, expected)
    assert y.dtype == torch.int64
    assert int(y) == 1
    assert ds.events(-1) is samples[4]
    with pytest.raises(IndexError, match="index 5 out of range for 5 samples"):
        ds[5]

    batches = list(ds.loader(batch_size=2))
    assert [tuple(b[0].shape) for b in batches] == [(4, 2, 5), (4, 2, 5), (4, 1, 5)]
    torch.testing.assert_close(batches[1][0][:, 1], expected)  # sample 3 = batch 1, column 1
    assert torch.cat([b[1] for b in batches]).tolist() == labels.tolist()

    order1 = torch.cat([b[1] for b in ds.loader(batch_size=5, shuffle=True, seed=3)])
    order2 = torch.cat([b[1] for b in ds.loader(batch_size=5, shuffle=True, seed=3)])
    assert order1.tolist() == order2.tolist()
    assert sorted(order1.tolist()) == sorted(labels.tolist())
    with pytest.raises(ValueError, match="batch_size"):
        ds.loader(batch_size=0)


def test_collate_time_first_stacks_on_dim_1() -> None:
    a, b = torch.arange(6.0).reshape(3, 2), -torch.arange(6.0).reshape(3, 2)
    x, y = collate_time_first([(a, torch.tensor(1)), (b, torch.tensor(2))])
    assert x.shape == (3, 2, 2)
    torch.testing.assert_close(x[:, 0], a)
    torch.testing.assert_close(x[:, 1], b)
    assert y.tolist() == [1, 2]


def test_event_dataset_trains_through_fit_with_the_sequence_encoder() -> None:
    import neurosim as ns
    from neurosim.training import ce_count, evaluate, fit

    # class c fires unit c early (bin 0) and unit 3 - c late: learnable from the bins
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=24)
    samples = [units([0.05, 0.8], [int(c), 3 - int(c)], n=4) for c in labels]
    ds = EventDataset(samples.__getitem__, labels, (4,), 2, n_bins=5, duration_s=1.0)
    data = ds.to_tensor_dataset()
    x, y = data.tensors
    assert x.shape == (24, 5, 4)  # batch-first for fit, time-first after the encoder
    torch.testing.assert_close(x[7], ds[7][0])
    assert y.tolist() == labels.tolist()
    sub = ds.to_tensor_dataset([3, 1])
    torch.testing.assert_close(sub.tensors[0][1], ds[1][0])

    enc = ns.encoding.Sequence(T=5)
    torch.testing.assert_close(enc(x[:3]), x[:3].transpose(0, 1))
    with pytest.raises(ValueError, match=r"Sequence\(T=6\) expects input \[B, 6, \.\.\.\]"):
        ns.encoding.Sequence(T=6)(x)
    with pytest.raises(ValueError, match="no samples selected"):
        ds.to_tensor_dataset([])

    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(4, 16), ns.LIF.from_beta(0.9), ns.Linear(16, 2))
    fit(net, data, encoder=enc, loss=ce_count, epochs=20, lr=0.05, progress=False)
    result = evaluate(net, data, encoder=enc, loss=ce_count)
    assert result.accuracy == 1.0
