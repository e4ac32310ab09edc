"""Reading one NSD session file along its storage layout (private helpers of :mod:`.nsd`).

NSD's volume betas ``betas_sessionSS.hdf5`` were written from MATLAB with the chunk size
``[1 1 1 750]``: h5py sees the dataset ``betas`` as ``(trial, z, y, x)`` with chunks
``(750, 1, 1, 1)``, i.e. one chunk per voxel holding all of its trials. Reading blocks of trials
across the whole volume touches every chunk once per block; here the selected voxels are grouped
into runs of chunks along z (the fastest axis of the NIfTI voxel order ``i, j, k``, so the columns
come out in that order without a gather) and each run is read once with all trials: every needed
chunk is read exactly once and chunks without a selected voxel are never read. The same routine
serves any chunking (and the per-hemisphere ``(trial, vertex)`` HDF5 files of the ``nativesurface``
space).

Stored values: integer files hold percent signal change x 300 (NSD's int16 volume and
native-surface betas) and are divided by 300; floating-point files (the ``fsaverage`` ``.mgh``
betas) already hold percent signal change and are returned as stored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ShapeError
from .surface import _mgh_frames, _mgh_header

_SCALE = 300.0  # integer betas are stored as percent signal change x 300


def _divisor(dtype: np.dtype, path: Path) -> tuple[float | None, str]:
    """300 for integer betas, None for floating-point ones, and a note of how they were stored."""
    if dtype.kind in "iu":
        return _SCALE, f"{dtype.name} percent signal change x 300 (divided by 300)"
    if dtype.kind == "f":
        return None, f"{dtype.name} percent signal change (as stored)"
    raise InputError(f"{path}: betas of dtype {dtype}; expected int16 (x 300) or float percent signal change")


def to_percent(raw: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """Percent signal change as float32 and a note of how it was stored."""
    divisor, note = _divisor(raw.dtype, path)
    out = raw.astype(np.float32)  # a native float32 copy, whatever the stored dtype and byte order
    if divisor is not None:
        out /= np.float32(divisor)
    return out, note


def _boxes(sel: np.ndarray, chunks: tuple[int, ...]) -> Iterator[tuple[tuple[slice, ...], Any, np.ndarray]]:
    """Chunk-aligned boxes covering every selected element: runs of needed chunks along the last axis.

    Yields ``(box, picks, flat)``: the box's slices, the selected elements' positions in the
    flattened box (None when all are selected) and their flat indices in ``sel``.
    """
    grid = tuple(-(-n // c) for n, c in zip(sel.shape, chunks))
    padded = np.zeros(tuple(g * c for g, c in zip(grid, chunks)), bool)
    padded[tuple(slice(0, n) for n in sel.shape)] = sel
    split = [d for g, c in zip(grid, chunks) for d in (g, c)]
    need = padded.reshape(split).any(axis=tuple(range(1, 2 * sel.ndim, 2)))
    rows = need.reshape(-1, grid[-1])
    edges = np.diff(np.pad(rows, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    row, start = np.nonzero(edges == 1)
    stop = np.nonzero(edges == -1)[1]
    lead = np.unravel_index(row, grid[:-1]) if sel.ndim > 1 else ()
    for r in range(row.size):
        box = tuple(slice(int(g[r]) * c, min((int(g[r]) + 1) * c, n)) for g, c, n in zip(lead, chunks, sel.shape))
        box += (slice(int(start[r]) * chunks[-1], min(int(stop[r]) * chunks[-1], sel.shape[-1])),)
        sub = sel[box]
        if sub.all():
            picks, local = None, np.indices(sub.shape).reshape(sel.ndim, -1)
        else:
            picks = np.flatnonzero(sub)
            local = np.array(np.unravel_index(picks, sub.shape))
        offset = np.array([b.start for b in box])[:, None]
        yield box, picks, np.ravel_multi_index(tuple(local + offset), sel.shape)


def read_hdf5(ds, sel: np.ndarray, block_size: int, axes: tuple[int, ...] | None = None) -> tuple[np.ndarray, str]:
    """Percent signal change ``(trial, n_selected)`` float32 of an h5py dataset ``(trial, *space)``, and a note.

    ``sel`` is given in the caller's axis order: its axis ``o`` is the dataset's spatial axis
    ``axes[o]`` (default: the dataset's own order); columns come in C order of ``sel``. With chunks of
    one voxel (NSD's), the runs follow the caller's fastest axis, so the columns need no reordering.
    Chunks holding all trials are read along the chunks (each needed chunk once, all trials); files
    whose chunks split the trial axis, or that are contiguous (trial-major on disk), are read in
    blocks of about ``block_size`` trials (whole chunks along the trial axis), each block over the
    same chunk-aligned boxes. Each block is converted (and divided by 300 for integer files) as it
    is read, into the one output array.
    """
    n_trials, space = ds.shape[0], ds.shape[1:]
    divisor, note = _divisor(ds.dtype, ds.file.filename)
    axes = tuple(range(len(space))) if axes is None else tuple(axes)
    if ds.chunks is None:
        step, chunks = block_size, space
    else:
        t_chunk, chunks = ds.chunks[0], ds.chunks[1:]
        step = n_trials if t_chunk >= n_trials else max(1, block_size // t_chunk) * t_chunk
    boxes = list(_boxes(sel, tuple(chunks[a] for a in axes)))
    to_caller = (0,) + tuple(1 + a for a in axes)  # a block's dataset axes -> the caller's order
    flat = np.concatenate([b[2] for b in boxes]) if boxes else np.zeros(0, np.int64)
    out = np.empty((n_trials, flat.size), np.float32)
    for t0 in range(0, n_trials, step):
        t1, col = min(n_trials, t0 + step), 0
        for box, picks, idx in boxes:
            block = ds[(slice(t0, t1),) + tuple(box[axes.index(d)] for d in range(len(axes)))]
            block = block.transpose(to_caller).reshape(t1 - t0, -1)
            block = block if picks is None else block[:, picks]
            dest = out[t0:t1, col:col + idx.size]
            if divisor is None:
                dest[...] = block
            else:
                np.divide(block, np.float32(divisor), out=dest)  # int -> float32, then / 300 in float32
            col += idx.size
    if flat.size > 1 and not (np.diff(flat) > 0).all():  # boxes of several rows: back to C order
        out = out[:, np.argsort(flat, kind="stable")]
    return out, note


def read_volume(path: Path, kind: str, sel: np.ndarray | None, block_size: int, n_trials: int):
    """``(percent signal change trials x voxels, note, volume shape (x, y, z), affine or None)`` of a session.

    Voxels in C order of the NIfTI indices ``(i, j, k)``; ``sel`` is a boolean ``(x, y, z)`` volume
    (None: every voxel).
    """
    if kind == "hdf5":
        import h5py

        with h5py.File(path, "r") as f:
            if "betas" not in f:
                raise InputError(f"{path}: holds {list(f.keys())}; expected a dataset 'betas'")
            ds = f["betas"]
            if ds.ndim != 4:
                raise ShapeError(f"{path}: dataset 'betas' has shape {ds.shape}; expected (trial, z, y, x)")
            shape = tuple(int(n) for n in ds.shape[1:][::-1])
            check_trials(path, ds.shape[0], n_trials)
            sel = _mask_for(sel, shape, path)
            values, note = read_hdf5(ds, sel, block_size, axes=(2, 1, 0))  # (x, y, z) = dataset axes 2, 1, 0
        return values, note, shape, None
    import nibabel as nib

    img = nib.load(os.fspath(path))
    if len(img.shape) != 4:
        raise ShapeError(f"{path}: image of shape {img.shape}; expected (x, y, z, trial)")
    shape = tuple(int(n) for n in img.shape[:3])
    check_trials(path, img.shape[3], n_trials)
    sel = _mask_for(sel, shape, path)
    data = np.asanyarray(img.dataobj)  # a .nii.gz must be decompressed whole; mask before converting
    return *to_percent(data[sel].T, path), shape, img.affine


def surface_size(path: Path, kind: str, n_trials: int) -> int:
    """Vertex count of one hemisphere's session file (checks its trial count)."""
    if kind == "mgh":
        _, n_vertices, frames = _mgh_header(path, "betas")
        check_trials(path, frames, n_trials)
        return n_vertices
    import h5py

    with h5py.File(path, "r") as f:
        ds = _surface_dataset(f, path)
        check_trials(path, ds.shape[0], n_trials)
        return int(ds.shape[1])


def read_surface(path: Path, kind: str, keep: np.ndarray, block_size: int) -> tuple[np.ndarray, str]:
    """Percent signal change ``(trial, len(keep))`` of the vertices ``keep`` (sorted) of one hemisphere file."""
    if kind == "mgh":
        return to_percent(_mgh_frames(path, "betas", keep), path)
    import h5py

    with h5py.File(path, "r") as f:
        ds = _surface_dataset(f, path)
        sel = np.zeros(ds.shape[1], bool)
        sel[keep] = True
        return read_hdf5(ds, sel, block_size)


def _surface_dataset(f, path: Path):
    if "betas" not in f:
        raise InputError(f"{path}: holds {list(f.keys())}; expected a dataset 'betas'")
    ds = f["betas"]
    if ds.ndim != 2:
        raise ShapeError(f"{path}: dataset 'betas' has shape {ds.shape}; expected (trial, vertex)")
    return ds


def check_trials(path: Path, n: int, expected: int) -> None:
    if n != expected:
        raise ShapeError(f"{path}: holds {n} trials; expected {expected} per NSD session")


def _mask_for(mask: np.ndarray | None, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if mask is None:
        return np.ones(shape, bool)
    if mask.shape != shape:
        raise ShapeError(f"mask/roi: received a volume of shape {mask.shape}; expected {shape}, the grid of {path}")
    return mask
