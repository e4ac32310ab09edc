"""Procedural scenes of the miniature world, with exact per-object ground truth.

A scene is a background (a smooth muted gradient with low-contrast waves, or plain grey) and one to a
few objects drawn in order, later ones on top. Each object's category, colour, texture, size class
and position are drawn independently and uniformly (positions from the same range whatever the size),
so no attribute predicts another unless the caller restricts them. Centres are kept apart enough
that no object hides another's centre (every object keeps at least :data:`MIN_VISIBLE` of its pixels).

Pixels are hard-edged (no antialiasing), so the ground truth is exact: every pixel's colour comes from
exactly one source, the background or the object whose visible mask holds it, and an object's pixels
are its colour or, on the dark part of a stripe or dot texture, that colour times
:data:`~neuroperception.world.vocabulary.SHADE`.

Coordinates are pixels, ``x`` to the right and ``y`` down, a pixel's centre at its integer index. An
object's ``x, y`` is the centre of the ``size_px`` x ``size_px`` square its shape is drawn in; its box
``x0, y0, x1, y1`` is the tight box of its visible pixels (``x1``, ``y1`` exclusive).

Examples
--------
>>> scenes = render_scenes(4, size=64, random_state=0)
>>> len(scenes), tuple(scenes.images.images.shape), scenes.ids[0]
(4, (4, 3, 64, 64), 'world00000')
>>> sorted(scenes.objects.columns)[:4]
['category', 'colour', 'object', 'size_name']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import check_random_state
from ..errors import InputError
from ..stimuli import ImageSet
from ..stimuli._indexing import resolve_positions
from . import _layout
from ._render import (Drawn, Objects, draw_background_params, draw_backgrounds, masks_and_boxes, render,
                      visible_pixels)
from .captions import _captions
from .vocabulary import CATEGORIES, COLOURS, SIZES, TEXTURES

__all__ = ["WorldScenes", "render_scenes", "MIN_VISIBLE", "OBJECT_COLUMNS"]

#: Every object keeps at least this fraction of its pixels visible (scenes that miss it are redrawn).
MIN_VISIBLE = 0.35
#: The columns of :attr:`WorldScenes.objects`, in order.
OBJECT_COLUMNS = ("stimulus_id", "object", "category", "colour", "texture", "size_name", "size_px", "x", "y",
                  "x0", "y0", "x1", "y1", "visible_fraction")
_REDRAWS = 50


@dataclass(frozen=True)
class WorldScenes:
    """Rendered scenes and their annotations, keyed by ``stimulus_id``.

    Attributes
    ----------
    images : ImageSet
        float32 ``(N, 3, H, W)`` in ``[0, 1]``; ids ``f"{id_prefix}{i:05d}"``.
    objects : pandas.DataFrame
        One row per object (columns :data:`OBJECT_COLUMNS`): ``object`` is the drawing order within
        the scene (later objects occlude earlier ones); ``size_px`` the diameter in pixels; ``x, y``
        the centre; ``x0, y0, x1, y1`` the tight box of the visible pixels (ints, ``x1``/``y1``
        exclusive); ``visible_fraction`` the visible pixels over the whole shape's pixels.
    masks : numpy.ndarray
        bool ``(N, max_objects, H, W)``: each object's visible pixels (all False past a scene's objects).
    captions : pandas.DataFrame
        ``stimulus_id``, ``caption``, ``kind`` (see :mod:`neuroperception.world.captions`); one or more
        rows per scene.
    background : pandas.DataFrame
        One row per scene: ``stimulus_id``, ``background`` (``"varied"`` or ``"plain"``) and the
        parameters that draw it (``colour_from``, ``colour_to``, ``angle``, ``noise``, ``waves``).

    Examples
    --------
    >>> scenes = render_scenes(3, n_objects=2, random_state=1)
    >>> sub = scenes[["world00002", "world00000"]]
    >>> sub.ids, sorted(set(sub.objects.stimulus_id)), sub.masks.shape
    (['world00002', 'world00000'], ['world00000', 'world00002'], (2, 2, 64, 64))
    >>> list(scenes.table().columns)
    ['stimulus_id', 'n_objects', 'categories', 'background', 'caption']
    """

    images: ImageSet
    objects: pd.DataFrame
    masks: np.ndarray
    captions: pd.DataFrame
    background: pd.DataFrame

    @property
    def ids(self) -> list[str]:
        """The scene ids, in order."""
        return self.images.ids

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        h, w = self.masks.shape[-2:]
        return f"WorldScenes(n={len(self)}, size=({h}, {w}), objects={len(self.objects)})"

    def __getitem__(self, key) -> "WorldScenes":
        """A subset (an int, id, slice, list of ints/ids or boolean mask), always a ``WorldScenes``."""
        ids = self.images.ids
        pos = resolve_positions(key, ids, {k: i for i, k in enumerate(ids)}, "scenes")
        pos = [pos] if isinstance(pos, int) else pos
        keep = [ids[p] for p in pos]
        return WorldScenes(self.images[pos], _rows(self.objects, keep), self.masks[pos],
                           _rows(self.captions, keep), _rows(self.background, keep))

    def table(self) -> pd.DataFrame:
        """One row per scene: ``stimulus_id``, ``n_objects``, ``categories`` (in drawing order, joined by
        ``", "``), ``background`` and ``caption`` (the scene's first caption).

        Examples
        --------
        >>> render_scenes(2, n_objects=1, random_state=0).table().n_objects.tolist()
        [1, 1]
        """
        ids = pd.Index(self.ids, name="stimulus_id")
        groups = self.objects.groupby("stimulus_id", sort=False)
        out = pd.DataFrame({"n_objects": groups.size().reindex(ids).fillna(0).astype(int),
                            "categories": groups.category.agg(", ".join).reindex(ids)})
        out["background"] = self.background.set_index("stimulus_id").background.reindex(ids)
        out["caption"] = self.captions.groupby("stimulus_id", sort=False).caption.first().reindex(ids)
        return out.reset_index()

    def background_images(self) -> ImageSet:
        """The scenes' backgrounds without their objects, as an ``ImageSet`` with the same ids.

        Examples
        --------
        >>> s = render_scenes(2, random_state=0)
        >>> empty = s.background_images().images
        >>> bool((empty == s.images.images).all(dim=1)[~torch.from_numpy(s.masks.any(axis=1))].all())
        True
        """
        h, w = self.masks.shape[-2:]
        bg = draw_backgrounds(_background_params(self.background), h, w)
        return ImageSet(torch.from_numpy(bg), self.ids,
                        source="world:backgrounds")


def _rows(table: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The rows of ``table`` whose ``stimulus_id`` is in ``ids``, in the order of ``ids``."""
    order = {k: i for i, k in enumerate(ids)}
    rows = table[table.stimulus_id.isin(order)]
    rank = rows.stimulus_id.map(order)
    return rows.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)


def _background_params(table: pd.DataFrame) -> dict[str, np.ndarray]:
    return dict(colour_from=np.stack(table.colour_from.map(np.asarray).to_list()),
                colour_to=np.stack(table.colour_to.map(np.asarray).to_list()),
                angle=table.angle.to_numpy(float), noise=table.noise.to_numpy(float),
                waves=np.stack(table.waves.map(np.asarray).to_list()))


def _background_table(ids: list[str], kind: str, params: dict[str, np.ndarray]) -> pd.DataFrame:
    def tuples(a):
        return [tuple(float(v) for v in row) for row in a]

    return pd.DataFrame({"stimulus_id": ids, "background": kind, "colour_from": tuples(params["colour_from"]),
                         "colour_to": tuples(params["colour_to"]), "angle": params["angle"],
                         "noise": params["noise"],
                         "waves": [tuple(tuple(float(v) for v in w) for w in ws) for ws in params["waves"]]})


def _object_table(ids: list[str], obj, size_class: np.ndarray, boxes: np.ndarray, visible: np.ndarray,
                  full: np.ndarray, extra: dict | None = None) -> pd.DataFrame:
    """The objects table (columns :data:`OBJECT_COLUMNS`, then ``extra``) from flat object arrays."""
    box = boxes[obj.image, obj.depth]
    table = pd.DataFrame({
        "stimulus_id": np.asarray(ids, dtype=object)[obj.image], "object": obj.depth.astype(int),
        "category": np.asarray(CATEGORIES, dtype=object)[obj.category],
        "colour": np.asarray(list(COLOURS), dtype=object)[obj.colour],
        "texture": np.asarray(TEXTURES, dtype=object)[obj.texture],
        "size_name": np.asarray(SIZES, dtype=object)[size_class], "size_px": obj.diameter.astype(float),
        "x": obj.x.astype(float), "y": obj.y.astype(float),
        "x0": box[:, 0].astype(int), "y0": box[:, 1].astype(int), "x1": box[:, 2].astype(int),
        "y1": box[:, 3].astype(int),
        "visible_fraction": visible[obj.image, obj.depth] / np.maximum(full, 1),
    })
    for k, v in (extra or {}).items():
        table[k] = v
    return table


def _caption_table(objects: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    records = objects[["stimulus_id", "category", "colour", "texture", "size_name", "x", "y"]].to_dict("records")
    scenes: dict[str, list[dict]] = {}
    for r in records:
        scenes.setdefault(r["stimulus_id"], []).append(r)
    rows = [(sid, text, kind) for sid, objs in scenes.items() for kind, text in _captions(objs, rng)]
    return pd.DataFrame(rows, columns=["stimulus_id", "caption", "kind"])


def _render_visible(obj: Objects, params: dict, n_images: int, size: tuple[int, int], bounds,
                    rng: np.random.Generator) -> Drawn:
    """Draw; redraw the positions of scenes where an object keeps less than :data:`MIN_VISIBLE`."""
    drawn = render(obj, params, *size)
    k = int(obj.depth.max()) + 1
    check = np.arange(n_images)
    for attempt in range(_REDRAWS + 1):
        sub_obj = np.flatnonzero(np.isin(obj.image, check))
        visible = visible_pixels(drawn.owner[check], k)
        local = np.searchsorted(check, obj.image[sub_obj])
        frac = visible[local, obj.depth[sub_obj]] / np.maximum(drawn.full_pixels[sub_obj], 1)
        check = np.unique(obj.image[sub_obj[frac < MIN_VISIBLE]])
        if not len(check):
            return drawn
        if attempt == _REDRAWS:
            raise InputError(f"render_scenes: {len(check)} scenes still hid an object behind others after {_REDRAWS} "
                             f"redraws of their positions; expected fewer objects per scene or a larger size")
        redo = np.flatnonzero(np.isin(obj.image, check))
        _layout.place(obj, n_images, bounds, rng, only=redo)
        sub = obj.take(redo)
        sub.image = np.searchsorted(check, sub.image)
        again = render(sub, {key: v[check] for key, v in params.items()}, *size)
        drawn.images[check] = again.images
        drawn.owner[check] = again.owner
        drawn.full_pixels[redo] = again.full_pixels
    raise AssertionError("unreachable")  # pragma: no cover


@fill_doc
def render_scenes(n: int, *, size: int | tuple[int, int] = 64, n_objects: int | tuple[int, int] = (1, 3),
                  categories=None, colours=None, textures=None, size_names=None, background: str = "varied",
                  random_state: int | np.random.Generator | None = 0, id_prefix: str = "world") -> WorldScenes:
    """Render ``n`` random scenes of the miniature world with their annotations and captions.

    Parameters
    ----------
    n : int
        Number of scenes.
    size : int or (int, int)
        Image side, or ``(height, width)``, in pixels; at least
        :data:`~neuroperception.world.vocabulary.MIN_SIZE`.
    n_objects : int or (int, int)
        Objects per scene, or an inclusive ``(min, max)`` range drawn uniformly; at most
        :data:`~neuroperception.world.vocabulary.MAX_OBJECTS`.
    categories, colours, textures, size_names : sequence of str, optional
        Subsets of :data:`~neuroperception.world.vocabulary.CATEGORIES`, ``COLOURS``, ``TEXTURES`` and
        ``SIZES`` (the objects' ``size_name``) to draw from (each uniformly and independently); all by
        default.
    background : {"varied", "plain"}
        Smooth random muted gradients with faint waves, or plain mid grey. Backgrounds are greys of
        low saturation and never take an object's colour.
    %(random_state)s
    id_prefix : str
        Scene ``i`` gets the id ``f"{id_prefix}{i:05d}"``.

    Returns
    -------
    WorldScenes

    Raises
    ------
    InputError
        A name outside the vocabulary, an image smaller than ``MIN_SIZE``, ``n_objects`` out of range.

    Examples
    --------
    >>> s = render_scenes(2, n_objects=1, categories=["star"], colours=["red"], random_state=0)
    >>> s.objects[["stimulus_id", "category", "colour"]].values.tolist()
    [['world00000', 'star', 'red'], ['world00001', 'star', 'red']]
    >>> s.captions.caption.iloc[0]
    'a red dotted star'
    """
    n = _layout.check_count(n)
    height, width = _layout.check_size(size)
    lo, hi = _layout.check_n_objects(n_objects)
    background = _layout.check_background(background)
    choices = {"categories": _layout.check_names(categories, CATEGORIES, "categories"),
               "colours": _layout.check_names(colours, tuple(COLOURS), "colours"),
               "textures": _layout.check_names(textures, TEXTURES, "textures"),
               "sizes": _layout.check_names(size_names, SIZES, "size_names")}
    if not isinstance(id_prefix, str):
        raise InputError(f"id_prefix: received {type(id_prefix).__name__}; expected a string")
    rng = check_random_state(random_state)
    ids = [f"{id_prefix}{i:05d}" for i in range(n)]
    counts = rng.integers(lo, hi + 1, size=n)
    obj, size_class = _layout.draw_attributes(counts, choices, height, width, rng)
    bounds = _layout.centre_range(choices["sizes"], height, width)
    _layout.place(obj, n, bounds, rng)
    params = draw_background_params(n, background, rng)
    drawn = _render_visible(obj, params, n, (height, width), bounds, rng)
    masks, boxes, visible = masks_and_boxes(drawn.owner, hi)
    objects = _object_table(ids, obj, size_class, boxes, visible, drawn.full_pixels)
    images = ImageSet(torch.from_numpy(drawn.images), ids, size=(height, width), source="world:scenes")
    return WorldScenes(images, objects, masks, _caption_table(objects, rng), _background_table(ids, background, params))

