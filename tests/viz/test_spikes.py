from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import neurosim as ns
from neurosim.viz.spikes import plot_membrane, plot_raster, plot_rasters, plot_rates


def _spikes(shape: tuple[int, ...], p: float = 0.2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _scatters(ax: Any) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _pairs(spikes: torch.Tensor, sample: int) -> np.ndarray:
    """Expected (t, neuron) pairs of one sample, by a loop (independent of nonzero)."""
    s = spikes[:, sample].reshape(spikes.shape[0], -1)
    return np.array(
        [(t, n) for t in range(s.shape[0]) for n in range(s.shape[1]) if s[t, n] != 0],
        dtype=float,
    ).reshape(-1, 2)


def test_raster_offsets_are_the_spikes_of_the_chosen_sample() -> None:
    spikes = _spikes((12, 3, 2, 5))  # [T, B, 2, 5]: 10 neurons per sample, flattened
    fig = Figure()
    for sample in range(3):
        ax = plot_raster(spikes, ax=fig.add_subplot(1, 3, sample + 1), sample=sample)
        assert ax.figure is fig
        (sc,) = _scatters(ax)
        np.testing.assert_array_equal(sc.get_offsets(), _pairs(spikes, sample))
        assert ax.get_xlabel() == "time step"
        assert ax.get_ylabel() == "neuron"
    # samples differ, so the rasters do too
    assert not np.array_equal(_pairs(spikes, 0), _pairs(spikes, 1))


def test_raster_accepts_numpy_and_scales_time_by_dt() -> None:
    spikes = _spikes((8, 2, 6))
    ax = plot_raster(spikes.numpy(), dt=1e-3, color="red", label="lif", marker_size=5.0)
    (sc,) = _scatters(ax)
    expected = _pairs(spikes, 0) * np.array([1e-3, 1.0])
    np.testing.assert_allclose(sc.get_offsets(), expected)
    assert ax.get_xlabel() == "time (s)"
    assert sc.get_label() == "lif"
    assert tuple(sc.get_facecolor()[0]) == to_rgba("red")
    np.testing.assert_allclose(sc.get_sizes(), [5.0])


def test_raster_of_a_real_run() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Flatten(), ns.Linear(16, 8), ns.LIF(v_th=0.3))
    x = torch.rand(10, 2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    run = net.run(x)
    out = run.activity[-1].output
    ax = plot_raster(out, sample=1)
    (sc,) = _scatters(ax)
    np.testing.assert_array_equal(sc.get_offsets(), _pairs(out, 1))


def test_large_raster_is_one_collection() -> None:
    t, n = 1000, 1000
    spikes = torch.zeros(t, 1, n)
    flat = torch.randperm(t * n, generator=torch.Generator().manual_seed(0))[:100_000]
    spikes.view(-1)[flat] = 1.0
    ax = plot_raster(spikes)
    assert len(ax.collections) == 1
    assert len(ax.lines) == 0
    offsets = np.asarray(ax.collections[0].get_offsets())
    assert offsets.shape == (100_000, 2)
    tt, nn = np.divmod(np.sort(flat.numpy()), n)
    np.testing.assert_array_equal(offsets, np.stack([tt, nn], axis=1))


def test_rasters_stack_layers_with_offsets_colours_and_boundaries() -> None:
    layers = {
        "in": _spikes((10, 2, 4), seed=1),
        "hidden": _spikes((10, 2, 2, 3), seed=2),  # 6 neurons
        "out": _spikes((10, 2, 3), seed=3),
    }
    ax = plot_rasters(layers, sample=1)
    scatters = _scatters(ax)
    assert [s.get_label() for s in scatters] == ["in", "hidden", "out"]
    offsets = [0, 4, 10]
    for sc, spikes, off in zip(scatters, layers.values(), offsets, strict=True):
        expected = _pairs(spikes, 1) + np.array([0.0, off])
        np.testing.assert_array_equal(sc.get_offsets(), expected)
    colours = [tuple(s.get_facecolor()[0]) for s in scatters]
    assert colours == [to_rgba(c) for c in ("C0", "C1", "C2")]
    # boundaries between layers, half a row below each upper layer's first neuron
    assert [tuple(line.get_ydata()) for line in ax.lines] == [(3.5, 3.5), (9.5, 9.5)]
    np.testing.assert_allclose(ax.get_yticks(), [1.5, 6.5, 11.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["in", "hidden", "out"]
    assert ax.get_ylim() == (-0.5, 12.5)


def test_rasters_dt_scales_every_layer() -> None:
    layers = {"a": _spikes((6, 1, 3), seed=4), "b": _spikes((6, 1, 2), seed=5)}
    ax = plot_rasters(layers, dt=0.5)
    for sc, spikes, off in zip(_scatters(ax), layers.values(), [0, 3], strict=True):
        expected = _pairs(spikes, 0) * np.array([0.5, 1.0]) + np.array([0.0, off])
        np.testing.assert_allclose(sc.get_offsets(), expected)


def test_membrane_traces_threshold_and_spike_markers() -> None:
    g = torch.Generator().manual_seed(2)
    mem = torch.rand(15, 2, 2, 4, generator=g)  # 8 neurons per sample
    spikes = (mem > 0.7).float()
    ax = plot_membrane(mem, sample=1, neurons=(2, 7), v_th=0.7, spikes=spikes)
    flat = mem[:, 1].reshape(15, -1).numpy()
    sflat = spikes[:, 1].reshape(15, -1).numpy()
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) == {"neuron 2", "neuron 7", "_spikes 2", "_spikes 7", "v_th"}
    for k in (2, 7):
        tr = lines[f"neuron {k}"]
        np.testing.assert_array_equal(tr.get_xdata(), np.arange(15))
        np.testing.assert_allclose(tr.get_ydata(), flat[:, k])
        mk = lines[f"_spikes {k}"]
        assert mk.get_linestyle() == "None"
        assert mk.get_marker() == "v"
        assert mk.get_color() == tr.get_color()
        hit = np.nonzero(sflat[:, k])[0]
        assert len(hit) > 0
        np.testing.assert_array_equal(mk.get_xdata(), hit)
        np.testing.assert_allclose(mk.get_ydata(), 0.7)
    th = lines["v_th"]
    assert th.get_linestyle() == "--"
    np.testing.assert_allclose(th.get_ydata(), [0.7, 0.7])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["neuron 2", "neuron 7", "v_th"]


def test_membrane_single_neuron_dt_and_markers_on_trace_without_threshold() -> None:
    mem = torch.linspace(0, 1, 10).reshape(10, 1, 1).repeat(1, 1, 3)
    spikes = torch.zeros_like(mem)
    spikes[[3, 8], 0, 1] = 1.0
    ax = plot_membrane(mem.numpy(), neurons=1, spikes=spikes, dt=0.01)
    trace, marks = ax.lines
    np.testing.assert_allclose(trace.get_xdata(), np.arange(10) * 0.01)
    np.testing.assert_allclose(marks.get_xdata(), [0.03, 0.08])
    np.testing.assert_allclose(marks.get_ydata(), mem[[3, 8], 0, 1].numpy())
    assert ax.get_xlabel() == "time (s)"


def test_membrane_of_a_real_run() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Flatten(), ns.Linear(16, 8), ns.LIF(v_th=0.3))
    x = torch.rand(10, 2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    run = net.run(x, record_membrane=True)
    mem = run.membranes[2]
    ax = plot_membrane(mem, neurons=[0, 5], v_th=0.3, spikes=run.activity[2].output)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mem[:, 0, 0].detach().numpy())


def test_rate_bars_carry_the_mapping() -> None:
    rates = {"lif1": 0.12, "lif2": 0.03, "out": 0.4}
    ax = plot_rates(rates)
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx(list(rates.values()))
    assert [t.get_text() for t in ax.get_xticklabels()] == list(rates)


def test_rate_bars_from_firing_rates() -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Flatten(), ns.Linear(16, 8), ns.LIF(v_th=0.3))
    x = torch.rand(10, 2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    rates = net.run(x).firing_rates()
    ax = plot_rates(rates, ax=Figure().add_subplot())
    assert [p.get_height() for p in ax.patches] == pytest.approx(list(rates.values()))


def test_rate_histogram_counts_every_neuron() -> None:
    spikes = _spikes((20, 4, 3, 5), p=0.3)  # 15 neurons
    ax = plot_rates(spikes, bins=7)
    assert len(ax.patches) == 7
    counts = [p.get_height() for p in ax.patches]
    assert sum(counts) == 15
    rates = spikes.double().mean(dim=(0, 1)).reshape(-1).numpy()
    expected, _ = np.histogram(rates, bins=7)
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_raster(torch.zeros(5)), r"spikes .*rank >= 2"),
        (lambda: plot_raster(torch.zeros(5, 2, 3), sample=2), r"sample=2 .*valid 0\.\.1"),
        (lambda: plot_raster(torch.zeros(5, 2, 3), sample=-1), r"sample=-1 .*valid 0\.\.1"),
        (lambda: plot_raster(torch.zeros(5, 2, 3), dt=0.0), r"dt must be > 0"),
        (lambda: plot_rasters({}), r"layers .*empty"),
        (lambda: plot_rasters({"a": torch.zeros(4)}), r"layers\['a'\] .*rank >= 2"),
        (lambda: plot_rasters({"a": torch.zeros(4, 1, 2)}, sample=1), r"sample=1 .*valid 0\.\.0"),
        (lambda: plot_membrane(torch.zeros(5)), r"membrane .*rank >= 2"),
        (lambda: plot_membrane(torch.zeros(5, 1, 3), neurons=3), r"neurons .*3 .*valid 0\.\.2"),
        (lambda: plot_membrane(torch.zeros(5, 1, 3), neurons=(-1,)), r"neurons .*valid 0\.\.2"),
        (lambda: plot_membrane(torch.zeros(5, 1, 3), sample=4), r"sample=4 .*valid 0\.\.0"),
        (lambda: plot_membrane(torch.zeros(5, 1, 3), neurons=()), r"neurons"),
        (
            lambda: plot_membrane(torch.zeros(5, 1, 3), spikes=torch.zeros(5, 1, 2)),
            r"spikes shape",
        ),
        (lambda: plot_rates(torch.zeros(5)), r"rates .*rank >= 2"),
        (lambda: plot_rates(torch.zeros(5, 1, 2), bins=0), r"bins must be >= 1"),
        (lambda: plot_rates({}), r"rates .*empty"),
    ],
)
def test_errors_name_the_argument_and_range(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="spikes must be"):
        plot_raster([[0, 1]])  # type: ignore[arg-type]
