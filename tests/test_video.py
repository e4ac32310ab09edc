"""Tests of neuroperception.stimuli.video.VideoSet (arrays, frame folders, video files read with PyAV)."""

from __future__ import annotations

import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from neuroperception.errors import AlignmentError, InputError, ShapeError
from neuroperception.stimuli.imageset import ImageSet
from neuroperception.stimuli.video import VideoSet, write_video


def _smooth_video(t=6, h=16, w=24, seed=0):
    """uint8 (T, H, W, 3): a smooth pattern that shifts by three pixels per frame (codec friendly)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, 3)
    frames = [np.stack([base[c] + 40 * np.sin((xs - 3 * k) / 4 + c) * np.cos(ys / 5) for c in range(3)], -1)
              for k in range(t)]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _write_with_av(path, frames, fps=10, codec="libx264", pix_fmt="yuv420p"):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())


# ---------------------------------------------------------------------------- arrays
def test_from_array_uint8_channels_last_round_trip():
    arr = np.random.default_rng(0).integers(0, 256, (3, 4, 8, 10, 3), dtype=np.uint8)
    v = VideoSet.from_array(arr, fps=25)
    assert v.ids == ["stim0000", "stim0001", "stim0002"] and v.n_frames == 4 and v.fps == 25.0
    x = v.videos
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 4, 3, 8, 10)
    assert torch.equal(x, torch.from_numpy(arr).permute(0, 1, 4, 2, 3).float() / 255)


def test_from_array_float_is_copied_and_resized():
    t = torch.rand(2, 3, 3, 20, 40)
    v = VideoSet.from_array(t, stimulus_id=["a", "b"])
    t.zero_()
    assert v.videos.max() > 0  # the set owns its pixels
    r = VideoSet.from_array(torch.rand(2, 3, 3, 20, 40), size=10)
    assert tuple(r.videos.shape) == (2, 3, 3, 10, 10)


def test_from_array_rejects_non_video_arrays():
    with pytest.raises(ShapeError, match=r"expected 5 dimensions \(N, T, 3, H, W\).*x\[None\]"):
        VideoSet.from_array(torch.rand(4, 3, 8, 8))
    with pytest.raises(InputError, match="NaN"):
        VideoSet.from_array(torch.full((1, 2, 3, 4, 4), float("nan")))
    with pytest.raises(ShapeError, match="2 ids; expected one per item"):
        VideoSet.from_array(torch.rand(3, 2, 3, 4, 4), stimulus_id=["a", "b"])


# ---------------------------------------------------------------------------- indexing
def test_indexing_ids_slices_masks_and_frames():
    x = torch.rand(4, 5, 3, 6, 6)
    v = VideoSet.from_array(x, stimulus_id=["a", "b", "c", "d"], fps=12)
    assert torch.equal(v[1], x[1]) and torch.equal(v["c"], x[2]) and torch.equal(v[-1], x[3])
    sub = v[["d", "a"]]
    assert isinstance(sub, VideoSet) and sub.ids == ["d", "a"] and sub.fps == 12.0
    assert torch.equal(sub.videos, x[[3, 0]])
    assert v[1:3].ids == ["b", "c"]
    assert v[[True, False, False, True]].ids == ["a", "d"]
    f = v.frames(4)
    assert isinstance(f, ImageSet) and f.ids == v.ids and torch.equal(f.images, x[:, 4])
    assert torch.equal(v.frames().images, x[:, 2])
    with pytest.raises(KeyError, match="no video with id 'z'"):
        v["z"]
    with pytest.raises(IndexError, match="out of range"):
        v[4]
    with pytest.raises(InputError, match="expected a frame index in"):
        v.frames(5)


def test_batches_cover_the_set_in_order():
    x = torch.rand(5, 2, 3, 4, 4)
    v = VideoSet.from_array(x)
    got = list(v.batches(2, start=1))
    assert [ids for ids, _ in got] == [["stim0001", "stim0002"], ["stim0003", "stim0004"]]
    assert torch.equal(torch.cat([b for _, b in got]), x[1:])
    with pytest.raises(InputError, match="batch_size"):
        list(v.batches(0))


def test_add_concatenates_and_checks():
    a = VideoSet.from_array(torch.rand(2, 3, 3, 4, 4), stimulus_id=["a", "b"], fps=8)
    b = VideoSet.from_array(torch.rand(1, 3, 3, 4, 4), stimulus_id=["c"], fps=8)
    ab = a + b
    assert ab.ids == ["a", "b", "c"] and torch.equal(ab.videos, torch.cat([a.videos, b.videos]))
    with pytest.raises(ShapeError, match="expected equal lengths and frame sizes"):
        a + VideoSet.from_array(torch.rand(1, 4, 3, 4, 4), stimulus_id=["x"])
    with pytest.raises(InputError, match="fps"):
        a + VideoSet.from_array(torch.rand(1, 3, 3, 4, 4), stimulus_id=["y"], fps=30)
    with pytest.raises(InputError, match="duplicate|unique"):
        a + a
    assert "VideoSet(n=2" in repr(a)


# ---------------------------------------------------------------------------- frame folders
def _write_frames(folder, frames):
    folder.mkdir(parents=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame{t:04d}.png")


def test_frame_folders_round_trip_lazily(tmp_path):
    clips = {"walk": _smooth_video(5, seed=1), "run": _smooth_video(5, seed=2)}
    for name, frames in clips.items():
        _write_frames(tmp_path / name, frames)
    (tmp_path / "notes.txt").write_text("not a video")
    v = VideoSet.from_frame_folders(tmp_path, fps=30)
    assert v._tensor is None  # lazy: only paths are kept
    assert v.ids == ["run", "walk"] and v.n_frames == 5 and v.fps == 30.0
    expected = torch.from_numpy(np.stack([clips["run"], clips["walk"]])).permute(0, 1, 4, 2, 3).float() / 255
    assert torch.equal(v.videos, expected)  # png is lossless
    assert torch.equal(v["walk"], expected[1])
    assert torch.equal(v.frames(0).images, expected[:, 0])
    assert tuple(v.resize(8).videos.shape) == (2, 5, 3, 8, 8)


def test_frame_folders_lengths_and_sizes(tmp_path):
    _write_frames(tmp_path / "a", _smooth_video(6))
    _write_frames(tmp_path / "b", _smooth_video(4))
    with pytest.raises(ShapeError, match="different numbers of frames.*n_frames"):
        VideoSet.from_frame_folders(tmp_path)
    v = VideoSet.from_frame_folders(tmp_path, n_frames=4)
    assert v.n_frames == 4 and tuple(v.videos.shape) == (2, 4, 3, 16, 24)
    with pytest.raises(ShapeError, match="fewer than n_frames=5"):
        VideoSet.from_frame_folders(tmp_path, n_frames=5)
    bad = tmp_path / "c"
    _write_frames(bad, _smooth_video(4))
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(bad / "frame0009.png")
    with pytest.raises(ShapeError, match=r"c: frames have 2 different sizes"):
        VideoSet.from_frame_folders(tmp_path, n_frames=4)


def test_frame_folders_of_different_sizes_need_size(tmp_path):
    _write_frames(tmp_path / "a", _smooth_video(3, 16, 24))
    _write_frames(tmp_path / "b", _smooth_video(3, 20, 20))
    with pytest.raises(ShapeError, match="frame sizes.*size="):
        VideoSet.from_frame_folders(tmp_path)
    assert tuple(VideoSet.from_frame_folders(tmp_path, size=12).videos.shape) == (2, 3, 3, 12, 12)


def test_frame_folders_missing(tmp_path):
    with pytest.raises(InputError, match="not an existing folder"):
        VideoSet.from_frame_folders(tmp_path / "nope")
    with pytest.raises(InputError, match="no sub-folders with frames"):
        VideoSet.from_frame_folders(tmp_path)


# ---------------------------------------------------------------------------- files (PyAV)
def test_mp4_written_with_av_reads_back_within_codec_error(tmp_path):
    frames = _smooth_video(8, 16, 24)
    _write_with_av(tmp_path / "clip.mp4", frames, fps=10)
    v = VideoSet.from_files(tmp_path / "clip.mp4")
    assert v.ids == ["clip"] and v.n_frames == 8 and v.fps == 10.0 and v._tensor is None
    x = v.videos
    expected = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    assert tuple(x.shape) == (1, 8, 3, 16, 24)
    err = (x[0] - expected).abs()
    assert err.mean() < 0.02 and err.max() < 0.25  # lossy H.264 + yuv420p chroma subsampling
    assert (x[0] - expected.roll(1, 0)).abs().mean() > 3 * err.mean()  # frames come back in order


def test_lossless_file_round_trip_and_folder(tmp_path):
    a, b = _smooth_video(5, seed=3), _smooth_video(5, seed=4)
    write_video(tmp_path / "b.avi", torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255, fps=6)
    _write_with_av(tmp_path / "a.mkv", a, fps=6, codec="ffv1", pix_fmt="bgr0")
    v = VideoSet.from_files(tmp_path)
    assert v.ids == ["a", "b"] and v.fps == 6.0
    expected = torch.from_numpy(np.stack([a, b])).permute(0, 1, 4, 2, 3).float() / 255
    assert torch.equal(v.videos, expected)
    assert torch.equal(v.frames(3).images, expected[:, 3])
    assert [ids for ids, _ in v.batches(1)] == [["a"], ["b"]]


def test_to_files_round_trip(tmp_path):
    x = torch.from_numpy(np.stack([_smooth_video(4, seed=5)])).permute(0, 1, 4, 2, 3).float() / 255
    v = VideoSet.from_array(x, stimulus_id=["clip"], fps=5)
    paths = v.to_files(tmp_path, extension=".avi")
    assert [p.name for p in paths] == ["clip.avi"]
    back = VideoSet.from_files(paths)
    assert back.fps == 5.0 and torch.equal(back.videos, x)
    with pytest.raises(ShapeError, match="even height and width"):
        write_video(tmp_path / "odd.mp4", torch.rand(2, 3, 7, 8))


def test_files_of_different_lengths_and_rates(tmp_path):
    _write_with_av(tmp_path / "long.avi", _smooth_video(6), fps=10, codec="ffv1", pix_fmt="bgr0")
    _write_with_av(tmp_path / "short.avi", _smooth_video(4), fps=10, codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(ShapeError, match="long.avi: 6, short.avi: 4.*n_frames"):
        VideoSet.from_files(tmp_path)
    v = VideoSet.from_files(tmp_path, n_frames=3)
    assert tuple(v.videos.shape) == (2, 3, 3, 16, 24)
    _write_with_av(tmp_path / "x.avi", _smooth_video(4), fps=25, codec="ffv1", pix_fmt="bgr0")
    with pytest.raises(InputError, match="different frame rates"):
        VideoSet.from_files(tmp_path, n_frames=3)
    assert VideoSet.from_files(tmp_path, n_frames=3, fps=10).fps == 10.0


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist; expected a video file"):
        VideoSet.from_files(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="found no video files"):
        VideoSet.from_files(tmp_path)
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video")
    with pytest.raises(InputError, match="junk.mp4: could not be opened as a video"):
        VideoSet.from_files(tmp_path / "junk.mp4")


def test_missing_av_names_the_extra(tmp_path, monkeypatch):
    _write_with_av(tmp_path / "a.avi", _smooth_video(2), codec="ffv1", pix_fmt="bgr0")
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    with pytest.raises(InputError, match=r"pip install 'neuroperception\[video\]'"):
        VideoSet.from_files(tmp_path / "a.avi")


# ---------------------------------------------------------------------------- the constructor checks
def test_constructor_checks_ids_pixels_and_lengths(tmp_path):
    x = torch.rand(3, 4, 3, 8, 8)
    with pytest.raises(ShapeError, match="received 2 ids; expected one per item \\(3\\)"):
        VideoSet(x, ["a", "b"])
    with pytest.raises(AlignmentError, match="duplicated"):
        VideoSet(x, ["a", "b", "a"])
    with pytest.raises(InputError, match="NaN"):
        VideoSet(torch.full((1, 2, 3, 4, 4), float("nan")), ["a"])
    with pytest.raises(ShapeError, match="5 dimensions"):
        VideoSet(torch.rand(2, 3, 8, 8), ["a", "b"])
    with pytest.raises(ShapeError, match="n_frames=5"):
        VideoSet(x, None, n_frames=5)
    with pytest.raises(InputError, match="fps"):
        VideoSet(x, None, fps=0)
    with pytest.raises(InputError, match="neither"):
        VideoSet(None, ["a"])
    with pytest.raises(InputError, match="without n_frames"):
        VideoSet(None, ["a"], paths=[tmp_path / "a.mp4"])
    with pytest.raises(ShapeError, match="shorter than n_frames=3"):
        VideoSet(None, ["a"], paths=[[tmp_path / "0.png", tmp_path / "1.png"]], n_frames=3)
    v = VideoSet(x, None, fps=10)
    assert v.ids == ["stim0000", "stim0001", "stim0002"] and v.n_frames == 4 and v.fps == 10.0
