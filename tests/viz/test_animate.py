"""Tests for neurosim.viz.animate: GIF frames read back with PIL, per-frame scatter offsets
against a brute-force loop over the spikes, and the MP4-without-ffmpeg error."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.animation import FFMpegWriter
from PIL import Image, ImageChops

import neurosim as ns
from neurosim.viz.animate import RasterAnimation, animate_raster


def _spikes(shape: tuple[int, ...], p: float = 0.3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _expected(spikes: torch.Tensor, sample: int, lo: int, hi: int, offset: int = 0) -> np.ndarray:
    """(t, offset + neuron) of every spike with lo <= t < hi, by a plain loop."""
    s = spikes[:, sample].reshape(spikes.shape[0], -1)
    pts = [(t, n + offset) for t in range(lo, hi) for n in range(s.shape[1]) if s[t, n] != 0]
    return np.array(pts, dtype=float).reshape(-1, 2)


def _gif_frames(path: Path) -> list[Image.Image]:
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(im.convert("RGB"))
        return frames


@pytest.mark.parametrize(("T", "step"), [(12, 1), (12, 5), (7, 7)])
def test_gif_has_one_frame_per_step_block(tmp_path: Path, T: int, step: int) -> None:
    spikes = _spikes((T, 2, 9))
    out = tmp_path / "sub" / "r.gif"
    anim = animate_raster(spikes, out, step=step, sample=1, fps=5, dpi=40)
    assert isinstance(anim, RasterAnimation)
    assert anim.path == out
    assert anim.n_frames == math.ceil(T / step)
    frames = _gif_frames(out)
    assert len(frames) == anim.n_frames
    if len(frames) > 1:  # the raster grows: the first and last frames differ
        assert ImageChops.difference(frames[0], frames[-1]).getbbox() is not None


def test_cumulative_frames_show_all_spikes_so_far(tmp_path: Path) -> None:
    spikes = _spikes((10, 3, 2, 4))  # 8 neurons per sample, flattened
    anim = animate_raster(spikes, tmp_path / "c.gif", sample=2, step=3, dpi=40)
    assert [anim.bounds(i) for i in range(anim.n_frames)] == [(0, 3), (0, 6), (0, 9), (0, 10)]
    for i in range(anim.n_frames):
        (coll,) = anim.show(i)
        np.testing.assert_array_equal(
            coll.get_offsets(), _expected(spikes, 2, 0, anim.bounds(i)[1])
        )
    assert anim.ax.get_xlim() == (-0.5, 9.5)
    assert anim.ax.get_ylabel() == "neuron"
    assert anim.ax.get_title() == "steps 0..9"


def test_sliding_window_two_layers_and_dt(tmp_path: Path) -> None:
    a, b = _spikes((9, 1, 5), seed=1), _spikes((9, 1, 3), seed=2)
    anim = animate_raster({"a": a, "b": b}, tmp_path / "w.gif", window=4, dt=1e-3, dpi=40)
    assert anim.n_frames == 9
    assert _gif_frames(tmp_path / "w.gif").__len__() == 9
    lo, hi = anim.bounds(6)
    assert (lo, hi) == (3, 7)
    ca, cb = anim.show(6)
    scale = np.array([1e-3, 1.0])
    np.testing.assert_allclose(ca.get_offsets(), _expected(a, 0, 3, 7) * scale)
    np.testing.assert_allclose(cb.get_offsets(), _expected(b, 0, 3, 7, offset=5) * scale)
    np.testing.assert_allclose(anim.ax.get_xlim(), (2.5e-3, 6.5e-3))
    assert anim.bounds(1) == (0, 2)  # the window is clipped at the start
    assert [t.get_text() for t in anim.ax.get_yticklabels()] == ["a", "b"]
    assert anim.ax.get_title() == "steps 3..6 (0.003..0.006 s)"


def test_recording_layer_by_index(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(6, 20), ns.LIF(v_th=0.2), ns.Linear(20, 4), ns.LIF(v_th=0.1))
    run = net.run(torch.rand(8, 3, 6))
    run.save(tmp_path / "run.h5")
    with ns.io.load_run(tmp_path / "run.h5") as rec:
        anim = animate_raster(rec, tmp_path / "rec.gif", layer=1, sample=2, step=2, dpi=40)
        with pytest.raises(ValueError, match="layer 5 is not a recorded layer"):
            animate_raster(rec, tmp_path / "x.gif", layer=5)
        with pytest.raises(ValueError, match="sample=3 out of range"):
            animate_raster(rec, tmp_path / "x.gif", sample=3)
    spikes = run.activity[1].output.detach()
    (coll,) = anim.show(anim.n_frames - 1)
    np.testing.assert_array_equal(coll.get_offsets(), _expected(spikes, 2, 0, 8))
    assert len(_gif_frames(tmp_path / "rec.gif")) == 4
    assert [t.get_text() for t in anim.ax.get_yticklabels()] == ["1.LIF"]


def test_mp4_without_ffmpeg_names_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    with pytest.raises(RuntimeError, match=r"FFMpegWriter.*ffmpeg.*write a \.gif"):
        animate_raster(_spikes((4, 1, 3)), tmp_path / "r.mp4")
    assert not (tmp_path / "r.mp4").exists()


def test_bad_arguments(tmp_path: Path) -> None:
    s = _spikes((4, 1, 3))
    with pytest.raises(ValueError, match=r"ending in \.gif or \.mp4"):
        animate_raster(s, tmp_path / "r.png")
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        animate_raster(s, tmp_path / "r.gif", step=0)
    with pytest.raises(ValueError, match="window must be an integer >= 1"):
        animate_raster(s, tmp_path / "r.gif", window=0)
    with pytest.raises(ValueError, match="fps must be an integer >= 1"):
        animate_raster(s, tmp_path / "r.gif", fps=0)
    with pytest.raises(ValueError, match="layer= selects layers of a Recording"):
        animate_raster(s, tmp_path / "r.gif", layer=1)
    with pytest.raises(ValueError, match="sample=1 out of range"):
        animate_raster(s, tmp_path / "r.gif", sample=1)
    with pytest.raises(ValueError, match="has 3 time steps, the first has 4"):
        animate_raster({"a": s, "b": s[:3]}, tmp_path / "r.gif")
    with pytest.raises(ValueError, match="at least one time step, got T=0"):
        animate_raster(s[:0], tmp_path / "r.gif")  # was numpy's "cannot reshape array"
    assert not (tmp_path / "r.gif").exists()


def test_cli_raster_writes_an_animation_for_gif(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from neurosim.cli import app

    torch.manual_seed(0)
    net = ns.Sequential(ns.Linear(6, 20), ns.LIF(v_th=0.2), ns.Linear(20, 4), ns.LIF(v_th=0.1))
    net.run(torch.rand(8, 2, 6)).save(tmp_path / "run.h5")
    runner = CliRunner()
    args = ["raster", str(tmp_path / "run.h5"), "--layer", "1", "--sample", "1", "-o"]
    ok = runner.invoke(app, [*args, str(tmp_path / "r.gif")])
    assert ok.exit_code == 0, ok.output
    assert "wrote 8 frames" in ok.output
    assert len(_gif_frames(tmp_path / "r.gif")) == 8
    monkeypatch.setattr(FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    bad = runner.invoke(app, [*args, str(tmp_path / "r.mp4")])
    assert bad.exit_code == 2
    assert "FFMpegWriter" in bad.output
