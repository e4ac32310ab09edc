"""Reading and writing video files with PyAV (imported only when a file is opened).

Install it with ``pip install 'neuroperception[video]'``. :func:`write_video` picks the codec from
the extension; :class:`~neuroperception.stimuli.video.VideoSet` reads files through the private
helpers here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validation import check_videos, describe
from ..errors import InputError, ShapeError

__all__ = ["write_video", "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")
_CODECS = {".mp4": ("libx264", "yuv420p"), ".mov": ("libx264", "yuv420p"), ".avi": ("ffv1", "bgr0"),
           ".mkv": ("ffv1", "bgr0"), ".webm": ("libvpx-vp9", "yuv420p")}


def _import_av():
    try:
        import av
    except ImportError as err:
        raise InputError("reading or writing video files needs PyAV, which is not installed; expected it "
                         "installed with: pip install 'neuroperception[video]'") from err
    return av


def _probe(path: Path) -> tuple[int, int, int, float | None]:
    """Frame count, height, width and frame rate of a video file (demuxes, does not decode)."""
    av = _import_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: holds no video stream; expected a video file ({', '.join(VIDEO_EXTENSIONS)})")
            stream = container.streams.video[0]
            h, w = stream.codec_context.height, stream.codec_context.width
            fps = float(stream.average_rate) if stream.average_rate else None
            n = int(stream.frames or 0)
            if n == 0:  # containers such as webm/mkv do not store the count: count the packets
                n = sum(1 for p in container.demux(stream) if p.size > 0)
    except av.FFmpegError as err:
        raise InputError(f"{path}: could not be opened as a video ({err}); expected a readable "
                         f"{'/'.join(e[1:] for e in VIDEO_EXTENSIONS)} file") from err
    return n, h, w, fps


def _decode(path: Path, n_frames: int) -> torch.Tensor:
    """The first ``n_frames`` frames of a file as float32 ``(T, 3, H, W)`` in [0, 1]."""
    av = _import_av()
    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.video[0]):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == n_frames:
                    break
    except av.FFmpegError as err:
        raise InputError(f"{path}: could not be decoded ({err}); expected a readable video file") from err
    if len(frames) < n_frames:
        raise ShapeError(f"{path}: decoded {len(frames)} frames; expected {n_frames}")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def write_video(path, video: Any, *, fps: float = 8.0, codec: str | None = None) -> Path:
    """Write one video ``(T, 3, H, W)`` in [0, 1] (or uint8 ``(T, H, W, 3)``) to a file with PyAV.

    The codec follows the extension unless given: ``.mp4``/``.mov`` H.264 (yuv420p, lossy, even
    height and width), ``.avi``/``.mkv`` FFV1 (lossless RGB), ``.webm`` VP9.

    Parameters
    ----------
    path : str or Path
        Output file; its extension picks the container.
    video : torch.Tensor or numpy.ndarray
        One video, float ``(T, 3, H, W)`` in [0, 1] or uint8 ``(T, H, W, 3)``.
    fps : float
        Frame rate stored in the file.
    codec : str, optional
        An FFmpeg encoder name (e.g. ``"mpeg4"``) instead of the extension's default.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, torch
    >>> from neuroperception.stimuli.video import VideoSet
    >>> p = write_video(f"{tempfile.mkdtemp()}/a.avi", torch.rand(3, 3, 8, 8))
    >>> VideoSet.from_files(p).n_frames
    3
    """
    av = _import_av()
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _CODECS:
        raise InputError(f"path: received {str(path)!r}; expected a file ending in {', '.join(VIDEO_EXTENSIONS)}")
    v = video[None] if hasattr(video, "ndim") and video.ndim == 4 else video
    x = check_videos(v, name="video")
    if x.shape[0] != 1:
        raise ShapeError(f"video: received {describe(video)}; expected one video (T, 3, H, W)")
    name, pix_fmt = _CODECS[ext] if codec is None else (codec, "yuv420p")
    h, w = x.shape[-2:]
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ShapeError(f"video: received frames of {h}x{w}; expected an even height and width for {ext} "
                         "(yuv420p), or write a .avi/.mkv file")
    arr = (x[0].permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    from fractions import Fraction

    with av.open(str(path), "w") as container:
        stream = container.add_stream(name, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if name == "libx264":
            stream.options = {"crf": "12"}
        for frame in arr:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def _frame_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size[::-1]
    except OSError as err:
        raise InputError(f"{path}: could not be read as an image ({err}); expected a readable png/jpg file") from err
