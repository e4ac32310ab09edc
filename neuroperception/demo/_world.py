"""What the demo's sections share: scene sets of the miniature world, map pooling, and the "What this
shows" line every section ends with."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .._validation import check_random_state
from ..plotting.report import Section
from ..world import CATEGORIES, COLOURS, WorldScenes, render_scenes


def crossed_scenes(*, random_state: int | np.random.Generator | None = 0, id_prefix: str = "world") -> WorldScenes:
    """One-object scenes, one of each category in each colour, ordered by category (then colour).

    Drawn from a larger seeded set, so texture, size and position stay random and independent of
    both; category and colour are crossed exactly.
    """
    pool = render_scenes(12 * len(CATEGORIES) * len(COLOURS), n_objects=1, random_state=random_state,
                         id_prefix=id_prefix)
    first = pool.objects.drop_duplicates(["category", "colour"]).set_index(["category", "colour"])
    return pool[[first.loc[(c, k), "stimulus_id"] for c in CATEGORIES for k in COLOURS]]


def scene_labels(scenes: WorldScenes, attribute: str) -> list[str]:
    """One attribute (``category``, ``colour``, ...) of each one-object scene, in scene order."""
    objects = scenes.objects.drop_duplicates("stimulus_id").set_index("stimulus_id")
    return [str(objects.loc[i, attribute]) for i in scenes.ids]


def pool_grid(maps: xr.DataArray, grid: int = 4) -> xr.DataArray:
    """Average ``(stimulus, channel, y, x)`` maps over a ``grid × grid`` grid: ``(stimulus, feature)``."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(np.asarray(maps.values)), grid)
    coords = {k: c for k, c in maps.coords.items() if c.dims == ("stimulus",)}
    return xr.DataArray(pooled.reshape(pooled.shape[0], -1).numpy(), dims=("stimulus", "feature"), coords=coords,
                        attrs=dict(maps.attrs))


def split_ids(ids: list[str], test: float = 0.25,
              random_state: int | np.random.Generator | None = 0) -> tuple[list[str], list[str]]:
    """A seeded train/test split of ``ids`` (each part in the original order)."""
    order = check_random_state(random_state).permutation(len(ids))
    n_test = int(round(test * len(ids)))
    return [ids[i] for i in sorted(order[n_test:])], [ids[i] for i in sorted(order[:n_test])]


def shows(section: Section, text: str, paper: str) -> None:
    """End ``section`` with its "What this shows" paragraph: what this run's numbers show and the paper
    the section mirrors."""
    section.text += f"\n\nWhat this shows: {text} (Mirrors {paper}.)"
