"""The search loop shared by the visual-search models: winner-take-all, inhibition of return, stop on target.

A model subclasses :class:`SearchModel` and supplies attention maps; the loop turns them into
fixations. See :mod:`neuroperception.scanpaths.search` for the models.
"""

from __future__ import annotations

import abc

import numpy as np
import pandas as pd
import torch

from .._validation import check_images, default_stimulus_ids, describe
from ..errors import InputError, ShapeError
from ..stimuli import ImageSet
from ..stimuli.search_arrays import SearchArray
from .table import Scanpaths

__all__ = ["SearchModel", "as_images"]


def as_images(images, name: str) -> tuple[torch.Tensor, list[str] | None]:
    """Images as a float ``(N, 3, H, W)`` tensor in [0, 1], with their ids when given an ImageSet.

    Examples
    --------
    >>> import torch
    >>> x, ids = as_images(torch.zeros(2, 3, 8, 8), "images")
    >>> tuple(x.shape), ids
    ((2, 3, 8, 8), None)
    """
    if isinstance(images, ImageSet):
        return images.images, images.ids
    return check_images(images, name=name), None


def _boxes(target_boxes, n: int, target_radius: float) -> np.ndarray:
    arr = np.asarray(target_boxes, dtype=float)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (2, 4) or arr.shape[0] != n:
        raise ShapeError(f"target_boxes: received {describe(arr)}; expected ({n}, 4) boxes (x0, y0, x1, y1) or "
                         f"({n}, 2) target centres (x, y), one per image")
    if not np.isfinite(arr).all():
        raise InputError(f"target_boxes: received {describe(arr)}; expected finite pixel coordinates")
    if arr.shape[1] == 2:
        if target_radius <= 0:
            raise InputError("target_boxes: received (x, y) centres with target_radius=0; expected boxes "
                             "(x0, y0, x1, y1) or a target_radius > 0 pixels")
        return np.concatenate([arr, arr + 1.0], axis=1)
    if (arr[:, 2] <= arr[:, 0]).any() or (arr[:, 3] <= arr[:, 1]).any():
        raise InputError("target_boxes: some boxes have x1 <= x0 or y1 <= y0; expected (x0, y0, x1, y1) with "
                         "exclusive upper edges")
    return arr


def _on_box(x: float, y: float, box: np.ndarray, radius: float) -> bool:
    dx = max(box[0] - x, 0.0, x - (box[2] - 1))
    dy = max(box[1] - y, 0.0, y - (box[3] - 1))
    return bool(np.hypot(dx, dy) <= radius)


class SearchModel(abc.ABC):
    """The search loop shared by every search model: winner-take-all, inhibition of return, stop on target.

    A subclass supplies ``_prepare(images, targets, index)`` (per-batch state, e.g. target features)
    and ``_attention(images, state, fixations, step, rows)`` (attention maps ``(B, H, W)`` given
    the current fixations); :meth:`search` does the rest.

    Parameters
    ----------
    ior_radius : float or None
        Inhibition-of-return radius in pixels (None: 1/16 of the image width, or whole items when
        item boxes are given).
    max_fixations : int
        Fixations after the first before giving up.
    target_radius : float
        A fixation this close (pixels) to the target's box finds it.
    batch_size : int
        Images searched together.

    Attributes
    ----------
    name : str
        The ``subject`` of the scanpaths, and ``attrs["model"]`` of their table.
    weights : str
        Where the weights of the model's network came from (``"random-init(seed=0)"``, a file...),
        ``attrs["weights"]`` of every scanpath table it returns; ``"none (no network)"`` here.

    Examples
    --------
    >>> import torch
    >>> class Brightest(SearchModel):
    ...     def _prepare(self, images, targets, index):
    ...         return None
    ...     def _attention(self, images, state, fixations, step, rows):
    ...         return images.mean(1)
    >>> img = torch.zeros(1, 3, 32, 32); img[..., 4:8, 20:24] = 1.0
    >>> _, n = Brightest(None, 5, 0.0, 1).search(img, torch.ones(1, 3, 4, 4), [[20, 4, 24, 8]])
    >>> n.tolist()
    [1.0]
    """

    name = "search"
    weights = "none (no network)"

    def __init__(self, ior_radius: float | None, max_fixations: int, target_radius: float, batch_size: int):
        if ior_radius is not None and (not np.isfinite(ior_radius) or ior_radius <= 0):
            raise InputError(f"ior_radius: received {ior_radius!r}; expected a positive radius in pixels or None")
        if isinstance(max_fixations, bool) or not isinstance(max_fixations, (int, np.integer)) or max_fixations < 1:
            raise InputError(f"max_fixations: received {max_fixations!r}; expected an int >= 1")
        if not np.isfinite(target_radius) or target_radius < 0:
            raise InputError(f"target_radius: received {target_radius!r}; expected a radius >= 0 pixels")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size: received {batch_size!r}; expected an int >= 1")
        self.ior_radius = ior_radius
        self.max_fixations = int(max_fixations)
        self.target_radius = float(target_radius)
        self.batch_size = int(batch_size)

    @abc.abstractmethod
    def _prepare(self, images: torch.Tensor, targets: torch.Tensor, index: np.ndarray):
        """Whatever :meth:`_attention` needs per batch (e.g. target kernels)."""

    @abc.abstractmethod
    def _attention(self, images: torch.Tensor, state, fixations: torch.Tensor, step: int,
                   rows: np.ndarray) -> torch.Tensor:
        """Attention maps ``(B, H, W)`` for the ``rows`` of the batch, given their current fixations."""

    def _static(self) -> bool:
        """Whether the attention map does not depend on the fixation (computed once per image)."""
        return False

    def search(self, images, target_images=None, target_boxes=None, item_boxes=None, start=None,
               condition=None) -> tuple[Scanpaths, np.ndarray]:
        """Search every image for its target until found or ``max_fixations`` is reached.

        Parameters
        ----------
        images : ImageSet, tensor/array ``(N, 3, H, W)`` in [0, 1], or SearchArray
            Search displays. A :class:`~neuroperception.stimuli.search_arrays.SearchArray` also
            supplies ``target_images``, ``target_boxes`` and ``item_boxes`` (unless given).
        target_images : ImageSet or tensor ``(N, 3, h, w)`` or ``(3, h, w)``
            The target to look for, one per image or one for all.
        target_boxes : array ``(N, 4)`` or ``(N, 2)``
            Target boxes ``(x0, y0, x1, y1)`` (exclusive upper edges) or centres ``(x, y)`` (then
            ``target_radius`` must be positive).
        item_boxes : list of ``(k, 4)`` arrays, optional
            Every item's box per image: fixations then land on item centres and IOR removes whole
            items.
        start : array ``(N, 2)`` or ``(2,)``, optional
            First fixation (default: the image centre).
        condition : str or sequence of str, optional
            ``condition`` column of the returned table (default: the SearchArray's condition).

        Returns
        -------
        scanpaths : Scanpaths
            One scanpath per image (``task="visual search"``), with an extra ``on_target`` column;
            the table's ``attrs`` hold ``model`` (:attr:`name`) and ``weights`` (:attr:`weights`).
        n_fixations : numpy.ndarray
            Fixations after the first up to the one on the target; NaN when not found.
        """
        n_images, ids, targets, boxes, items, starts, conditions = self._inputs(
            images, target_images, target_boxes, item_boxes, start, condition)
        h, w = n_images.shape[-2:]
        paths, n_fix, hits = [], np.full(len(n_images), np.nan), []
        for lo in range(0, len(n_images), self.batch_size):
            idx = np.arange(lo, min(lo + self.batch_size, len(n_images)))
            p, f, on = self._search_batch(n_images[idx], targets[idx], boxes[idx],
                                          [items[i] for i in idx] if items is not None else None, starts[idx], idx)
            paths += p
            hits += on
            n_fix[idx] = f
        rows = []
        for k, (path, on) in enumerate(zip(paths, hits)):
            for j, ((x, y), hit) in enumerate(zip(path, on)):
                rows.append({"scanpath": k, "fixation": j, "stimulus_id": ids[k], "subject": self.name,
                             "task": "visual search", "condition": conditions[k], "x": x, "y": y,
                             "on_target": hit})
        scanpaths = Scanpaths(pd.DataFrame(rows), {i: (h, w) for i in ids})
        scanpaths.table.attrs.update(model=self.name, weights=self.weights)
        return scanpaths, n_fix

    # ------------------------------------------------------------------ input handling
    def _inputs(self, images, target_images, target_boxes, item_boxes, start, condition):
        conditions = None
        if isinstance(images, SearchArray):
            arr = images
            target_images = arr.targets if target_images is None else target_images
            target_boxes = arr.target_boxes if target_boxes is None else target_boxes
            item_boxes = arr.item_boxes if item_boxes is None else item_boxes
            conditions = arr.trials["condition"].astype(str).tolist()
            images = arr.images
        x, ids = as_images(images, "images")
        n, (h, w) = x.shape[0], x.shape[-2:]
        ids = ids or default_stimulus_ids(n)
        if target_images is None or target_boxes is None:
            raise InputError("target_images/target_boxes: received None; expected the target to look for and its "
                             "box in every image (or pass a SearchArray)")
        t, _ = as_images(target_images, "target_images")
        if t.shape[0] == 1 and n > 1:
            t = t.expand(n, -1, -1, -1)
        if t.shape[0] != n:
            raise ShapeError(f"target_images: received {t.shape[0]} targets for {n} images; expected one per "
                             "image or a single one")
        boxes = _boxes(target_boxes, n, self.target_radius)
        items = None
        if item_boxes is not None:
            if len(item_boxes) != n:
                raise ShapeError(f"item_boxes: received {len(item_boxes)} arrays for {n} images; expected one "
                                 "(k, 4) array per image")
            items = []
            for k, b in enumerate(item_boxes):
                b = np.asarray(b, dtype=float)
                if b.ndim != 2 or b.shape[1] != 4 or len(b) == 0:
                    raise ShapeError(f"item_boxes[{k}]: received {describe(b)}; expected (k, 4) boxes")
                items.append(b)
        if start is None:
            starts = np.tile([(w - 1) / 2.0, (h - 1) / 2.0], (n, 1))
        else:
            starts = np.asarray(start, dtype=float)
            starts = np.tile(starts, (n, 1)) if starts.shape == (2,) else starts
            if starts.shape != (n, 2):
                raise ShapeError(f"start: received {describe(starts)}; expected (2,) or ({n}, 2) pixel positions")
            bad = (starts[:, 0] < 0) | (starts[:, 0] >= w) | (starts[:, 1] < 0) | (starts[:, 1] >= h)
            if bad.any():
                raise InputError(f"start: {int(bad.sum())} positions fall outside the {h}x{w} images; "
                                 "expected 0 <= x < width and 0 <= y < height")
        if condition is not None:
            conditions = [condition] * n if isinstance(condition, str) else [str(c) for c in condition]
            if len(conditions) != n:
                raise ShapeError(f"condition: received {len(conditions)} values; expected one per image ({n})")
        conditions = conditions or [""] * n
        return x, ids, t, boxes, items, starts, conditions

    # ------------------------------------------------------------------ the loop
    def _search_batch(self, images, targets, boxes, items, starts, index):
        b, (h, w) = images.shape[0], images.shape[-2:]
        state = self._prepare(images, targets, index)
        yy, xx = np.mgrid[0:h, 0:w]
        allowed = np.ones((b, h, w), dtype=bool)
        inspected = [np.zeros(len(it), dtype=bool) for it in items] if items is not None else None
        paths = [[(float(s[0]), float(s[1]))] for s in starts]
        hits = [[_on_box(s[0], s[1], boxes[i], self.target_radius)] for i, s in enumerate(starts)]
        n_fix = np.where([hh[0] for hh in hits], 0.0, np.nan)
        active = np.array([not hh[0] for hh in hits])
        fixed_maps = None

        radius = self.ior_radius if self.ior_radius is not None or items is not None else w / 16.0

        def inhibit(i, x, y):
            if radius is not None:
                allowed[i] &= np.hypot(xx - x, yy - y) > radius
            if inspected is not None:
                for j, bx in enumerate(items[i]):
                    if bx[0] <= x < bx[2] and bx[1] <= y < bx[3]:
                        inspected[i][j] = True

        for i, s in enumerate(starts):
            inhibit(i, s[0], s[1])
        for step in range(1, self.max_fixations + 1):
            rows = np.nonzero(active)[0]
            if len(rows) == 0:
                break
            if self._static():
                if fixed_maps is None:
                    fixed_maps = self._attention(images, state, None, step, np.arange(b)).cpu().numpy()
                maps = fixed_maps[rows]
            else:
                fix = torch.tensor([paths[i][-1] for i in rows], dtype=torch.float32)
                maps = self._attention(images[rows], state, fix, step, rows).cpu().numpy()
            for m, i in zip(maps, rows):
                nxt = self._choose(m, allowed[i], items[i] if items is not None else None,
                                   inspected[i] if inspected is not None else None)
                if nxt is None:
                    active[i] = False
                    continue
                x, y = nxt
                paths[i].append((x, y))
                hit = _on_box(x, y, boxes[i], self.target_radius)
                hits[i].append(hit)
                inhibit(i, x, y)
                if hit:
                    n_fix[i] = step
                    active[i] = False
        return paths, n_fix, hits

    @staticmethod
    def _choose(m: np.ndarray, allowed: np.ndarray, items, inspected):
        """Winner-take-all among locations (or items) not inhibited; None when nothing is left."""
        if items is None:
            if not allowed.any():
                return None
            flat = np.where(allowed, m, -np.inf)
            y, x = np.unravel_index(int(np.argmax(flat)), flat.shape)
            return float(x), float(y)
        best, best_score = None, -np.inf
        for j, bx in enumerate(items):
            if inspected[j]:
                continue
            x0, y0 = max(int(np.floor(bx[0])), 0), max(int(np.floor(bx[1])), 0)
            x1, y1 = min(int(np.ceil(bx[2])), m.shape[1]), min(int(np.ceil(bx[3])), m.shape[0])
            score = float(m[y0:y1, x0:x1].max()) if x1 > x0 and y1 > y0 else -np.inf
            if best is None or score > best_score:
                best, best_score = j, score
        if best is None:
            return None
        bx = items[best]
        return (bx[0] + bx[2] - 1) / 2.0, (bx[1] + bx[3] - 1) / 2.0
