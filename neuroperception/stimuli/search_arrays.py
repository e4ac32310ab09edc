"""Visual-search arrays: one target among distractors, with the target's location and every item's box.

The shapes are those of the classic search-asymmetry pairs (Treisman & Gormican 1988; Wolfe 2001;
Gupta et al. 2021):

``"O"`` / ``"Q"``
    a ring, and the same ring with a short oblique tail (a feature *added*).
``"vertical"`` / ``"tilted"``
    a vertical bar, and the same bar tilted 20 degrees clockwise.
``"straight"`` / ``"curved"``
    a vertical bar, and a bar bent into a shallow arc of the same height.
``"red"``, ``"green"``, ``"blue"``, ``"white"``
    filled discs of one colour (colour singletons).
``"large"`` / ``"small"``
    white discs of two sizes.

Items are drawn (anti-aliased by supersampling) in white, or their colour, on a black background,
inside square cells of a grid centred in the image; each item may be jittered within its cell.
Items never overlap, so the pixels inside an item's box are exactly that item.

Coordinates are pixels with the origin at the top-left; a box is ``(x0, y0, x1, y1)`` with ``x1``
and ``y1`` exclusive; an item's centre is ``((x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2)``.

Examples
--------
>>> arr = search_array("Q", "O", set_size=4, size=96, n=1, random_state=0)
>>> arr.ids[0], tuple(arr.images.images.shape), len(arr.item_boxes[0])
('search/Q-among-O/n=4/seed=0/0', (1, 3, 96, 96), 4)
>>> x0, y0, x1, y1 = arr.target_boxes[0].astype(int)
>>> bool(arr.images.images[0, :, y0:y1, x0:x1].sum() > 0)  # the target is drawn inside its box
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import seed_from
from ..errors import InputError, ShapeError
from .imageset import ImageSet

__all__ = ["SearchArray", "search_array", "search_arrays", "SHAPES", "draw_item"]

_COLOURS = {"white": (1.0, 1.0, 1.0), "red": (1.0, 0.0, 0.0), "green": (0.0, 0.8, 0.0), "blue": (0.2, 0.4, 1.0)}
SHAPES = ("O", "Q", "vertical", "tilted", "straight", "curved", "red", "green", "blue", "white", "large", "small")
_SUPERSAMPLE = 4
_TILT_DEG = 20.0


def _segment_distance(u: np.ndarray, v: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = np.clip(((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(u - (ax + t * dx), v - (ay + t * dy))


def _coverage(shape: str, n: int, half_thickness: float) -> np.ndarray:
    """Supersampled coverage in ``[0, 1]`` of one shape on an ``n x n`` patch (``half_thickness`` in units)."""
    m = n * _SUPERSAMPLE
    c = (np.arange(m) + 0.5) / m * 2.0 - 1.0  # -1 .. 1 across the patch
    u, v = np.meshgrid(c, -c)  # u to the right, v up
    r = np.hypot(u, v)
    ht = half_thickness
    if shape in ("O", "Q"):
        inside = np.abs(r - 0.7) <= ht
        if shape == "Q":
            inside |= _segment_distance(u, v, (0.3, -0.3), (0.9, -0.9)) <= ht
    elif shape in ("vertical", "straight"):
        inside = _segment_distance(u, v, (0.0, -0.85), (0.0, 0.85)) <= ht
    elif shape == "tilted":
        s, co = np.sin(np.deg2rad(_TILT_DEG)) * 0.85, np.cos(np.deg2rad(_TILT_DEG)) * 0.85
        inside = _segment_distance(u, v, (-s, -co), (s, co)) <= ht
    elif shape == "curved":
        radius = 1.4
        sagitta = radius - np.sqrt(radius ** 2 - 0.85 ** 2)
        cx = radius - sagitta / 2.0  # centre of the circle; the arc spans x in [-sagitta/2, sagitta/2]
        inside = (np.abs(np.hypot(u - cx, v) - radius) <= ht) & (np.abs(v) <= 0.85)
    elif shape in _COLOURS:
        inside = r <= 0.7
    elif shape == "large":
        inside = r <= 0.9
    elif shape == "small":
        inside = r <= 0.45
    else:
        raise InputError(f"shape: received {shape!r}; expected one of {list(SHAPES)}")
    return inside.reshape(n, _SUPERSAMPLE, n, _SUPERSAMPLE).mean(axis=(1, 3))


def _colour(shape: str) -> np.ndarray:
    return np.asarray(_COLOURS.get(shape, _COLOURS["white"]), dtype=np.float64)


def draw_item(shape: str, item_size: int = 20, thickness: float | None = None) -> np.ndarray:
    """One search item on a black square patch, as a float ``(3, item_size, item_size)`` array in [0, 1].

    Parameters
    ----------
    shape : str
        One of :data:`SHAPES`.
    item_size : int
        Side of the patch in pixels.
    thickness : float, optional
        Stroke width of lines and rings in pixels (default ``max(1.5, item_size / 10)``).

    Examples
    --------
    >>> o, q = draw_item("O", 20), draw_item("Q", 20)
    >>> o.shape, bool(q.sum() > o.sum())
    ((3, 20, 20), True)
    """
    if not isinstance(item_size, (int, np.integer)) or item_size < 4:
        raise InputError(f"item_size: received {item_size!r}; expected an int >= 4 pixels")
    thickness = max(1.5, item_size / 10.0) if thickness is None else float(thickness)
    if not np.isfinite(thickness) or thickness <= 0:
        raise InputError(f"thickness: received {thickness!r}; expected a positive stroke width in pixels")
    cover = _coverage(shape, int(item_size), thickness / item_size)
    return _colour(shape)[:, None, None] * cover[None]


@dataclass
class SearchArray:
    """Search displays with their targets and the layout of every item.

    Attributes
    ----------
    images : ImageSet
        The displays, float ``(N, 3, size, size)``.
    targets : ImageSet
        One target template per display (the target item alone, centred on a black cell-sized
        patch), ids ``"<display id>/target"``.
    trials : pandas.DataFrame
        One row per display: ``stimulus_id, target, distractor, set_size, condition, target_x,
        target_y, x0, y0, x1, y1`` (the target's centre and box).
    items : pandas.DataFrame
        One row per item: ``stimulus_id, item, shape, is_target, x, y, x0, y0, x1, y1``.

    Examples
    --------
    >>> arr = search_array("Q", "O", set_size=5, size=96, n=2)
    >>> len(arr), arr.target_boxes.shape, [len(b) for b in arr.item_boxes]
    (2, (2, 4), [5, 5])
    """

    images: ImageSet
    targets: ImageSet
    trials: pd.DataFrame
    items: pd.DataFrame

    def __len__(self) -> int:
        return len(self.images)

    @property
    def ids(self) -> list[str]:
        """Display ids, in order."""
        return self.images.ids

    @property
    def target_boxes(self) -> np.ndarray:
        """``(N, 4)`` target boxes ``(x0, y0, x1, y1)``, exclusive upper edges."""
        return self.trials[["x0", "y0", "x1", "y1"]].to_numpy(dtype=float)

    @property
    def target_xy(self) -> np.ndarray:
        """``(N, 2)`` target centres ``(x, y)`` in pixels."""
        return self.trials[["target_x", "target_y"]].to_numpy(dtype=float)

    @property
    def item_boxes(self) -> list[np.ndarray]:
        """One ``(set_size, 4)`` array of item boxes per display, in display order."""
        groups = dict(tuple(self.items.groupby("stimulus_id", sort=False)))
        return [groups[i][["x0", "y0", "x1", "y1"]].to_numpy(dtype=float) for i in self.ids]

    def __add__(self, other: "SearchArray") -> "SearchArray":
        """Concatenate two designs of the same image size (ids must stay unique)."""
        if not isinstance(other, SearchArray):
            return NotImplemented
        return SearchArray(self.images + other.images, self.targets + other.targets,
                           pd.concat([self.trials, other.trials], ignore_index=True),
                           pd.concat([self.items, other.items], ignore_index=True))


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name}: received {value!r}; expected an int >= {low}")
    return int(value)


def _layout(size: int, item_size: int, spacing: float) -> tuple[int, int, int]:
    cell = int(round(item_size * spacing))
    if cell < item_size:
        raise InputError(f"spacing: received {spacing!r}; expected >= 1 (cells at least as large as items)")
    grid = size // cell
    offset = (size - grid * cell) // 2
    return cell, grid, offset


def _make(target: str, distractor: str, set_size: int, n: int, size: int, item_size: int, spacing: float,
          jitter: bool, thickness: float | None, rng: np.random.Generator, id_prefix: str) -> SearchArray:
    for name, shape in (("target", target), ("distractor", distractor)):
        if shape not in SHAPES:
            raise InputError(f"{name}: received {shape!r}; expected one of {list(SHAPES)}")
    cell, grid, offset = _layout(size, item_size, spacing)
    if set_size > grid * grid:
        raise InputError(f"set_size: received {set_size}; at most {grid * grid} items fit a {size}-pixel image "
                         f"with item_size={item_size} and spacing={spacing} ({grid}x{grid} cells); expected a "
                         "smaller set size, a larger image or smaller items")
    patches = {s: draw_item(s, item_size, thickness) for s in {target, distractor}}
    canvas_t = np.zeros((3, cell, cell))
    lo = (cell - item_size) // 2
    canvas_t[:, lo:lo + item_size, lo:lo + item_size] = patches[target]
    images, targets, trials, items, ids = [], [], [], [], []
    for k in range(n):
        stimulus_id = f"{id_prefix}/{k}"
        cells = rng.choice(grid * grid, size=set_size, replace=False)
        target_item = int(rng.integers(set_size))
        canvas = np.zeros((3, size, size))
        for j, c in enumerate(cells):
            gy, gx = divmod(int(c), grid)
            free = cell - item_size
            dx, dy = (rng.integers(0, free + 1, size=2) if jitter and free > 0 else (free // 2, free // 2))
            x0, y0 = offset + gx * cell + int(dx), offset + gy * cell + int(dy)
            shape = target if j == target_item else distractor
            canvas[:, y0:y0 + item_size, x0:x0 + item_size] = patches[shape]
            row = {"stimulus_id": stimulus_id, "item": j, "shape": shape, "is_target": j == target_item,
                   "x": x0 + (item_size - 1) / 2.0, "y": y0 + (item_size - 1) / 2.0,
                   "x0": x0, "y0": y0, "x1": x0 + item_size, "y1": y0 + item_size}
            items.append(row)
            if j == target_item:
                trials.append({"stimulus_id": stimulus_id, "target": target, "distractor": distractor,
                               "set_size": set_size, "condition": f"{target} among {distractor}",
                               "target_x": row["x"], "target_y": row["y"],
                               "x0": x0, "y0": y0, "x1": x0 + item_size, "y1": y0 + item_size})
        images.append(canvas)
        targets.append(canvas_t)
        ids.append(stimulus_id)
    as_tensor = lambda arrays: torch.from_numpy(np.stack(arrays).astype(np.float32)).clamp_(0, 1)  # noqa: E731
    return SearchArray(ImageSet(as_tensor(images), ids, size=size, source="procedural:search_array"),
                       ImageSet(as_tensor(targets), [f"{i}/target" for i in ids], size=cell,
                                source="procedural:search_target"),
                       pd.DataFrame(trials), pd.DataFrame(items))


@fill_doc
def search_array(target: str, distractor: str, set_size: int, size: int = 160, n: int = 1,
                 item_size: int | None = None, spacing: float = 1.5, jitter: bool = True,
                 thickness: float | None = None, random_state: int | np.random.Generator | None = 0) -> SearchArray:
    """Displays with one ``target`` among ``set_size - 1`` copies of ``distractor``.

    Items sit in randomly chosen cells of a square grid (cell side ``spacing * item_size``) centred
    in the image, jittered within their cell; the target is a random one of them.

    Parameters
    ----------
    target, distractor : str
        Shapes from :data:`SHAPES` (see the module docstring).
    set_size : int
        Number of items, target included (>= 1).
    size : int
        Image width and height in pixels.
    n : int
        Number of displays.
    item_size : int, optional
        Item side in pixels (default ``size // 8``).
    spacing : float
        Cell side as a multiple of ``item_size`` (>= 1).
    jitter : bool
        Place each item at a random position within its cell (else at the cell's centre).
    thickness : float, optional
        Stroke width in pixels (default ``max(1.5, item_size / 10)``).
    %(random_state)s
        The ids record the seed (for a Generator or None, the seed drawn from it).

    Returns
    -------
    SearchArray
        Displays, target templates, per-display trial table and per-item table. Ids look like
        ``search/Q-among-O/n=5/seed=0/0``.

    Raises
    ------
    InputError
        Unknown shape, non-positive sizes, or more items than grid cells.

    Examples
    --------
    >>> arr = search_array("tilted", "vertical", set_size=6, size=128, n=3, random_state=1)
    >>> arr.ids[0], tuple(arr.images.images.shape)
    ('search/tilted-among-vertical/n=6/seed=1/0', (3, 3, 128, 128))
    >>> int(arr.items["is_target"].sum())
    3
    """
    size = _check_int("size", size, 16)
    n = _check_int("n", n, 1)
    set_size = _check_int("set_size", set_size, 1)
    item_size = size // 8 if item_size is None else _check_int("item_size", item_size, 4)
    if not np.isfinite(spacing) or spacing < 1:
        raise InputError(f"spacing: received {spacing!r}; expected a number >= 1")
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    prefix = f"search/{target}-among-{distractor}/n={set_size}/seed={seed}"
    return _make(target, distractor, set_size, n, size, item_size, float(spacing), bool(jitter), thickness,
                 rng, prefix)


@fill_doc
def search_arrays(pairs: Sequence[tuple[str, str]] = (("Q", "O"), ("O", "Q")), set_sizes: Sequence[int] = (4, 8, 16),
                  n_per: int = 10, size: int = 160, item_size: int | None = None, spacing: float = 1.5,
                  jitter: bool = True, thickness: float | None = None,
                  random_state: int | np.random.Generator | None = 0) -> SearchArray:
    """The full design: ``n_per`` displays for every ``(target, distractor)`` pair and set size.

    Parameters
    ----------
    pairs : sequence of (str, str)
        ``(target, distractor)`` shapes; list both orders to measure an asymmetry.
    set_sizes : sequence of int
        Numbers of items per display.
    n_per : int
        Displays per pair and set size.
    size, item_size, spacing, jitter, thickness
        As in :func:`search_array`.
    %(random_state)s
        It seeds the whole design; each cell of the design gets its own stream derived from it.

    Returns
    -------
    SearchArray
        Displays ordered by pair, then set size; ids ``search/<t>-among-<d>/n=<k>/seed=<s>.<cell>/<i>``.

    Examples
    --------
    >>> design = search_arrays([("Q", "O"), ("O", "Q")], set_sizes=(2, 4), n_per=2, size=96)
    >>> len(design), sorted(design.trials["set_size"].unique().tolist())
    (8, [2, 4])
    """
    pairs = list(pairs)
    set_sizes = list(set_sizes)
    if not pairs or not set_sizes:
        raise InputError(f"pairs/set_sizes: received {len(pairs)} pairs and {len(set_sizes)} set sizes; "
                         "expected at least one of each")
    for p in pairs:
        if not (isinstance(p, (tuple, list)) and len(p) == 2):
            raise ShapeError(f"pairs: received {p!r}; expected (target, distractor) tuples of shape names")
    size = _check_int("size", size, 16)
    n_per = _check_int("n_per", n_per, 1)
    item_size = size // 8 if item_size is None else _check_int("item_size", item_size, 4)
    if not np.isfinite(spacing) or spacing < 1:
        raise InputError(f"spacing: received {spacing!r}; expected a number >= 1")
    seed = seed_from(random_state)
    streams = np.random.SeedSequence(seed).spawn(len(pairs) * len(set_sizes))
    out = None
    for c, ((target, distractor), k) in enumerate((p, k) for p in pairs for k in set_sizes):
        k = _check_int("set_sizes", k, 1)
        prefix = f"search/{target}-among-{distractor}/n={k}/seed={seed}.{c}"
        part = _make(target, distractor, k, n_per, size, item_size, float(spacing), bool(jitter), thickness,
                     np.random.default_rng(streams[c]), prefix)
        out = part if out is None else out + part
    return out
