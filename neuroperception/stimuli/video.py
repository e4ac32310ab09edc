"""``VideoSet``: an ordered, id-labelled set of videos, in memory or decoded lazily from disk.

Videos are float32 tensors ``(N, T, 3, H, W)`` in ``[0, 1]`` (``T`` frames of ``3 × H × W``), the
video counterpart of :class:`~neuroperception.stimuli.imageset.ImageSet`. Files (mp4, avi, mkv,
webm, mov) are read with PyAV, imported only when a file is opened; install it with
``pip install 'neuroperception[video]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validation import check_ids, check_videos
from ..errors import InputError, ShapeError
from ._indexing import _LabelledSet, check_set_size, check_set_sources, check_source
from ._transforms import _as_hw, resize_center_crop
from ._video_io import VIDEO_EXTENSIONS, _decode, _frame_size, _probe, write_video
from .imageset import IMAGE_EXTENSIONS, ImageSet, _read_image

__all__ = ["VideoSet", "VIDEO_EXTENSIONS", "write_video"]


def _check_held_videos(videos: Any) -> torch.Tensor:
    """The frames a :class:`VideoSet` holds: what :func:`check_videos` accepts, or an empty ``(0, T, 3, H, W)``."""
    if isinstance(videos, torch.Tensor) and videos.ndim == 5 and videos.shape[0] == 0 and videos.shape[2] == 3:
        return videos.to(torch.float32)  # an empty selection of a set
    return check_videos(videos, name="videos")


class VideoSet(_LabelledSet):
    """An ordered set of videos with unique string ids.

    Videos are float32 ``(N, T, 3, H, W)`` tensors in ``[0, 1]``, all with the same number of frames
    ``T`` and frame size. Sets built from files or frame folders keep only the paths and decode
    videos batch by batch. Indexing with an int or an id gives one video ``(T, 3, H, W)``; a slice,
    a list of ints/ids or a boolean mask gives a ``VideoSet``.

    Build one with :meth:`from_array`, :meth:`from_frame_folders`, :meth:`from_files` or the
    generators in :mod:`neuroperception.stimuli.moving`.

    Examples
    --------
    >>> import torch
    >>> v = VideoSet.from_array(torch.rand(2, 5, 3, 16, 16), stimulus_id=["a", "b"], fps=10)
    >>> len(v), v.ids, v.n_frames, tuple(v.videos.shape)
    (2, ['a', 'b'], 5, (2, 5, 3, 16, 16))
    >>> tuple(v["b"].shape), v[["b"]].ids
    ((5, 3, 16, 16), ['b'])
    """

    _noun, _article = "videos", "a"

    def __init__(self, videos: torch.Tensor | None, stimulus_id: Sequence[str] | None, *, fps: float | None = None,
                 paths=None, size: int | tuple[int, int] | None = None, n_frames: int | None = None,
                 source: str = "array"):
        """Hold ``videos`` (float32 ``(N, T, 3, H, W)`` in [0, 1] or uint8 ``(N, T, H, W, 3)``) or ``paths``.

        Exactly one of ``videos`` and ``paths`` (one video file, or one list of frame files, per
        video) is given, with one unique id per video (None gives ``stim0000, ...``). The inputs are
        checked as :meth:`from_array` checks them; a valid float32 tensor is kept without a copy.
        Lazy sets need ``n_frames``, the number of frames read from each video; for in-memory
        videos it is their ``T`` (a different ``n_frames`` is an error). ``fps`` is recorded, a
        positive number or None.

        Raises
        ------
        InputError
            Both or neither of ``videos`` and ``paths``; invalid pixels, ``fps``, ``size``,
            ``n_frames`` or ``source``.
        ShapeError
            Wrong video shape, a number of ids other than one per video, in-memory frames whose
            size is not ``size``, or an ``n_frames`` that is not the videos' length.
        AlignmentError
            Duplicated ids.

        Examples
        --------
        >>> import torch
        >>> VideoSet(torch.zeros(2, 3, 3, 8, 8), stimulus_id=["a", "a"])
        Traceback (most recent call last):
        ...
        neuroperception.errors.AlignmentError: stimulus_id: received 1 duplicated stimulus ids, e.g. ['a']; expected unique ids
        """
        paths = check_set_sources(videos, paths, "VideoSet", "videos")
        size = check_set_size(size, "VideoSet")
        if fps is not None and not (isinstance(fps, (int, float, np.integer, np.floating)) and not isinstance(fps, bool)
                                    and np.isfinite(fps) and fps > 0):
            raise InputError(f"VideoSet: received fps={fps!r}; expected None or a positive number of frames per second")
        if n_frames is not None and not (isinstance(n_frames, (int, np.integer)) and not isinstance(n_frames, bool)
                                         and n_frames >= 1):
            raise InputError(f"VideoSet: received n_frames={n_frames!r}; expected a positive int")
        if videos is not None:
            videos = _check_held_videos(videos)
            if n_frames is not None and int(n_frames) != videos.shape[1]:
                raise ShapeError(f"VideoSet: received videos of {videos.shape[1]} frames with n_frames={n_frames}; "
                                 "expected n_frames equal to the videos' length (or None)")
            if size is not None and tuple(videos.shape[-2:]) != _as_hw(size):
                raise ShapeError(f"VideoSet: received frames of size {tuple(videos.shape[-2:])} with size={size!r}; "
                                 "expected frames of that size (resize them, e.g. VideoSet.from_array(x, size=...))")
            n_frames = videos.shape[1]
        elif n_frames is None:
            raise InputError("VideoSet: received paths without n_frames; expected n_frames=..., the number of "
                             "frames read from every video (from_files and from_frame_folders find it)")
        else:
            paths = [[Path(f) for f in p] if isinstance(p, (list, tuple)) else Path(p) for p in paths]
            short = [k for k, p in enumerate(paths) if isinstance(p, list) and len(p) < n_frames]
            if short:
                raise ShapeError(f"VideoSet: received {len(short)} frame lists shorter than n_frames={n_frames} "
                                 f"(positions {short[:5]}); expected at least n_frames frame files per video")
        n = len(videos) if videos is not None else len(paths)
        self._tensor = videos
        self._paths = paths
        self._ids = check_ids(stimulus_id, n)
        self._index = {i: k for k, i in enumerate(self._ids)}
        self.fps = None if fps is None else float(fps)
        self.size = size
        self.source = check_source(source, "VideoSet")
        self._n_frames = int(n_frames)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_array(cls, array: Any, stimulus_id: Sequence[str] | None = None, *, fps: float | None = None,
                   size=None, value_range=(0.0, 1.0)) -> "VideoSet":
        """Build a set from float ``(N, T, 3, H, W)`` in ``value_range`` or uint8 ``(N, T, H, W, 3)``.

        Parameters
        ----------
        array : torch.Tensor or numpy.ndarray
            The videos.
        stimulus_id : sequence of str, optional
            One unique id per video (listed in :attr:`ids`); default ``stim0000, stim0001, ...``.
        fps : float, optional
            Frame rate (recorded, not used to resample).
        size : int or (int, int), optional
            Resize (covering) and centre-crop every frame to this size.
        value_range : tuple
            Range of float input, ``(0, 1)`` by default (never guessed).

        Examples
        --------
        >>> import numpy as np
        >>> VideoSet.from_array(np.zeros((1, 4, 20, 30, 3), np.uint8), size=8).videos.shape
        torch.Size([1, 4, 3, 8, 8])
        """
        x = check_videos(array, value_range=value_range, name="array")
        if isinstance(array, torch.Tensor) and x.data_ptr() == array.data_ptr():
            x = x.clone()  # the set owns its pixels
        if size is not None:
            x = _resize(x, size)
        return cls(x.contiguous(), check_ids(stimulus_id, x.shape[0]), fps=fps, size=size)

    @classmethod
    def from_frame_folders(cls, root, size=None, *, n_frames: int | None = None,
                           fps: float | None = None) -> "VideoSet":
        """One video per sub-folder of ``root``; its frames are the image files sorted by name.

        Ids are the sub-folder names, sorted. Frames are read lazily. All frames of one folder must
        have the same size; folders of different frame sizes need ``size``; folders of different
        lengths need ``n_frames`` (every video is cut to its first ``n_frames`` frames).

        Parameters
        ----------
        root : str or Path
            Folder of sub-folders of png/jpg/... frames.
        size : int or (int, int), optional
            Resize (covering) and centre-crop every frame.
        n_frames : int, optional
            Keep the first ``n_frames`` frames of each video.
        fps : float, optional
            Frame rate to record.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("clip1", "clip2"):
        ...     (d / name).mkdir()
        ...     for t in range(3):
        ...         Image.fromarray(np.full((8, 8, 3), 40 * t, np.uint8)).save(d / name / f"{t:03d}.png")
        >>> v = VideoSet.from_frame_folders(d)
        >>> v.ids, v.n_frames, round(float(v.videos[0, 2, 0, 0, 0]), 3)
        (['clip1', 'clip2'], 3, 0.314)
        """
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"root: received {str(root)!r}, which is not an existing folder; expected a folder "
                             "with one sub-folder of frames per video")
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        frame_lists, sizes = [], {}
        for folder in folders:
            files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                continue
            own = {_frame_size(p) for p in files}
            if len(own) > 1:
                raise ShapeError(f"{folder}: frames have {len(own)} different sizes {sorted(own)}; expected one "
                                 "frame size per video")
            sizes.setdefault(own.pop(), folder.name)
            frame_lists.append((folder.name, files))
        if not frame_lists:
            raise InputError(f"root: found no sub-folders with frames in {str(root)!r}; expected sub-folders of "
                             f"image files ending in {', '.join(IMAGE_EXTENSIONS)}")
        if size is None and len(sizes) > 1:
            examples = ", ".join(f"{n}: {hw[0]}x{hw[1]}" for hw, n in list(sizes.items())[:4])
            raise ShapeError(f"root: videos in {str(root)!r} have {len(sizes)} frame sizes ({examples}); expected "
                             "one, or pass size=... to resize and centre-crop them")
        lengths = {name: len(files) for name, files in frame_lists}
        t = _common_length(lengths, n_frames, str(root))
        ids = check_ids([name for name, _ in frame_lists], len(frame_lists))
        paths = [files[:t] for _, files in frame_lists]
        return cls(None, ids, fps=fps, paths=paths, size=size, n_frames=t, source=f"frames:{root}")

    @classmethod
    def from_files(cls, paths, size=None, *, n_frames: int | None = None, fps: float | None = None) -> "VideoSet":
        """Video files (mp4, avi, mkv, webm, mov) read with PyAV, decoded lazily when accessed.

        Ids are the file names without extension. Files of different lengths need ``n_frames``.

        Parameters
        ----------
        paths : str, Path or sequence of them
            A folder (its video files, sorted by name) or a list of files.
        size : int or (int, int), optional
            Resize (covering) and centre-crop every frame; needed when frame sizes differ.
        n_frames : int, optional
            Keep the first ``n_frames`` frames of each video.
        fps : float, optional
            Frame rate to record instead of the files' own (frames are not resampled).

        Raises
        ------
        InputError
            PyAV is missing (the message names ``pip install 'neuroperception[video]'``), a file is
            unreadable, or the files have different frame rates and ``fps`` is not given.

        Examples
        --------
        >>> import tempfile, torch
        >>> d = tempfile.mkdtemp()
        >>> _ = write_video(f"{d}/clip.avi", torch.rand(4, 3, 8, 8), fps=12)
        >>> v = VideoSet.from_files(d)
        >>> v.ids, v.n_frames, v.fps, tuple(v.videos.shape)
        (['clip'], 4, 12.0, (1, 4, 3, 8, 8))
        """
        if isinstance(paths, (str, Path)) and Path(paths).is_dir():
            root = Path(paths)
            files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not files:
                raise InputError(f"paths: found no video files in {str(root)!r}; expected files ending in "
                                 f"{', '.join(VIDEO_EXTENSIONS)}")
        else:
            files = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
            if not files:
                raise InputError("paths: received an empty list; expected video files or a folder of them")
            for p in files:
                if not p.is_file():
                    raise InputError(f"paths: {str(p)!r} does not exist; expected a video file "
                                     f"({', '.join(VIDEO_EXTENSIONS)})")
        info = {p: _probe(p) for p in files}
        if size is None and len({(h, w) for _, h, w, _ in info.values()}) > 1:
            examples = ", ".join(f"{p.name}: {h}x{w}" for p, (_, h, w, _) in list(info.items())[:4])
            raise ShapeError(f"paths: the videos have different frame sizes ({examples}); expected one, or pass "
                             "size=... to resize and centre-crop them")
        rates = {r for *_, r in info.values() if r is not None}
        if fps is None and len(rates) > 1:
            raise InputError(f"paths: the videos have different frame rates {sorted(rates)}; expected one rate "
                             "(resample the files), or pass fps=... to record one")
        t = _common_length({p.name: n for p, (n, *_) in info.items()}, n_frames, "paths")
        ids = check_ids([p.stem for p in files], len(files))
        rate = fps if fps is not None else (rates.pop() if rates else None)
        return cls(None, ids, fps=rate, paths=files, size=size, n_frames=t, source="files")

    # ------------------------------------------------------------------ access
    @property
    def n_frames(self) -> int:
        """Number of frames ``T`` of every video."""
        return self._n_frames

    def __repr__(self) -> str:
        shape = tuple(self._tensor.shape[1:]) if self._tensor is not None else f"lazy, T={self._n_frames}, size={self.size}"
        return f"VideoSet(n={len(self)}, {shape}, fps={self.fps}, source={self.source!r})"

    def _load_one(self, p: int, n: int) -> torch.Tensor:
        src = self._paths[p]
        if isinstance(src, list):
            x = torch.cat([_read_image(f) for f in src[:n]])
        else:
            x = _decode(src, n)
        return resize_center_crop(x, self.size) if self.size is not None else x

    def _load(self, positions: list[int], n: int | None = None) -> torch.Tensor:
        n = self._n_frames if n is None else n
        if self._tensor is not None:
            return self._tensor[positions, :n]
        if not positions:
            return torch.zeros(0, n, 3, 1, 1)
        return torch.stack([self._load_one(p, n) for p in positions])

    def __getitem__(self, key):
        """An int or id gives one video ``(T, 3, H, W)``; a slice, list or mask gives a ``VideoSet``."""
        pos = self._positions(key)
        if isinstance(pos, int):
            return self._load([pos])[0]
        ids = [self._ids[p] for p in pos]
        if self._tensor is not None:
            return VideoSet(self._tensor[pos], ids, fps=self.fps, size=self.size, source=self.source)
        return VideoSet(None, ids, fps=self.fps, paths=[self._paths[p] for p in pos], size=self.size,
                        n_frames=self._n_frames, source=self.source)

    @property
    def videos(self) -> torch.Tensor:
        """All videos as one float32 tensor ``(N, T, 3, H, W)`` in ``[0, 1]`` (decodes lazy sets)."""
        return self._load(list(range(len(self))))

    def batches(self, batch_size: int = 8, start: int = 0) -> Iterator[tuple[list[str], torch.Tensor]]:
        """Yield ``(ids, videos)`` batches ``(B, T, 3, H, W)`` in order, starting at position ``start``.

        Examples
        --------
        >>> import torch
        >>> v = VideoSet.from_array(torch.rand(5, 2, 3, 4, 4))
        >>> [len(ids) for ids, _ in v.batches(2)]
        [2, 2, 1]
        """
        return self._batches(batch_size, start)

    def frames(self, t: int | None = None) -> ImageSet:
        """Frame ``t`` of every video as an :class:`ImageSet` with the videos' ids (default: the middle frame).

        Examples
        --------
        >>> import torch
        >>> v = VideoSet.from_array(torch.rand(2, 5, 3, 4, 4), stimulus_id=["a", "b"])
        >>> s = v.frames()
        >>> s.ids, torch.equal(s.images, v.videos[:, 2])
        (['a', 'b'], True)
        """
        T = self._n_frames
        t = T // 2 if t is None else t
        if not isinstance(t, (int, np.integer)) or not -T <= t < T:
            raise InputError(f"t: received {t!r}; expected a frame index in [{-T}, {T - 1}]")
        t = int(t) % T
        x = self._tensor[:, t] if self._tensor is not None else self._load(list(range(len(self))), t + 1)[:, t]
        return ImageSet(x.contiguous(), self._ids, size=self.size, source=f"{self.source}:frame{t}")

    def resize(self, size: int | tuple[int, int]) -> "VideoSet":
        """A new set whose frames are resized (covering) and centre-cropped to ``size``.

        Examples
        --------
        >>> import torch
        >>> VideoSet.from_array(torch.rand(1, 2, 3, 20, 40)).resize(10).videos.shape
        torch.Size([1, 2, 3, 10, 10])
        """
        if self._tensor is None:
            return VideoSet(None, self._ids, fps=self.fps, paths=self._paths, size=size, n_frames=self._n_frames,
                            source=self.source)
        return VideoSet(_resize(self._tensor, size), self._ids, fps=self.fps, size=size, source=self.source)

    def __add__(self, other: "VideoSet") -> "VideoSet":
        """Concatenate two sets with the same frame size, length and frame rate (ids must stay unique)."""
        if not isinstance(other, VideoSet):
            return NotImplemented
        a, b = self.videos, other.videos
        if a.shape[1:] != b.shape[1:]:
            raise ShapeError(f"cannot concatenate video sets of shapes (T, 3, H, W) = {tuple(a.shape[1:])} and "
                             f"{tuple(b.shape[1:])}; expected equal lengths and frame sizes (resize or cut one)")
        if self.fps is not None and other.fps is not None and self.fps != other.fps:
            raise InputError(f"cannot concatenate video sets at {self.fps} and {other.fps} fps; expected one rate")
        ids = check_ids(self._ids + other._ids, len(self) + len(other))
        return VideoSet(torch.cat([a, b]), ids, fps=self.fps if self.fps is not None else other.fps,
                        size=self.size, source=f"{self.source}+{other.source}")

    def to_files(self, folder, *, extension: str = ".mp4") -> list[Path]:
        """Write every video to ``folder/<id><extension>`` with :func:`write_video`; returns the paths.

        Examples
        --------
        >>> import tempfile, torch
        >>> v = VideoSet.from_array(torch.rand(2, 3, 3, 8, 8), stimulus_id=["a", "b"], fps=5)
        >>> [p.name for p in v.to_files(tempfile.mkdtemp(), extension=".avi")]
        ['a.avi', 'b.avi']
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        fps = self.fps if self.fps is not None else 8.0
        out = []
        for ids, x in self.batches(8):
            for i, video in zip(ids, x):
                if "/" in i or "\\" in i:
                    raise InputError(f"ids: received {i!r}; expected ids usable as file names (no slashes)")
                out.append(write_video(folder / f"{i}{extension}", video, fps=fps))
        return out


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    n, t = x.shape[:2]
    y = resize_center_crop(x.reshape(n * t, *x.shape[2:]), size)
    return y.reshape(n, t, *y.shape[1:]).contiguous()


def _common_length(lengths: dict[str, int], n_frames: int | None, where: str) -> int:
    if n_frames is not None:
        if not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
            raise InputError(f"n_frames: received {n_frames!r}; expected a positive int")
        short = {k: v for k, v in lengths.items() if v < n_frames}
        if short:
            raise ShapeError(f"{where}: videos {dict(list(short.items())[:4])} have fewer than n_frames={n_frames} "
                             "frames; expected at least n_frames each")
        return int(n_frames)
    if len(set(lengths.values())) > 1:
        examples = ", ".join(f"{k}: {v}" for k, v in list(lengths.items())[:4])
        raise ShapeError(f"{where}: videos have different numbers of frames ({examples}); expected equal lengths, "
                         "or pass n_frames=... to keep the first n_frames of each")
    return int(next(iter(lengths.values())))
