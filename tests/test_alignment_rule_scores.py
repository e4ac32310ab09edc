"""Scores and saliency metrics follow the one alignment rule (ids on one side only is an error)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neuroperception.encoding import pearson_r, r2_score
from neuroperception.errors import AlignmentError
from neuroperception.scanpaths import cc


def _labelled(values, ids, dims):
    return xr.DataArray(values, dims=dims, coords={"stimulus_id": ("stimulus", list(ids))})


@pytest.mark.parametrize("score", [pearson_r, r2_score])
def test_voxel_scores_refuse_ids_on_one_side_and_match_by_id(score):
    rng = np.random.default_rng(0)
    y = rng.normal(size=(12, 4))
    ids = [f"s{i}" for i in range(12)]
    labelled = _labelled(y, ids, ("stimulus", "voxel"))
    order = rng.permutation(12)
    with pytest.raises(AlignmentError, match="stimulus_id"):
        score(labelled, y[order])
    with pytest.raises(AlignmentError, match="stimulus_id"):
        score(y[order], labelled)
    shuffled = labelled.isel(stimulus=order)
    np.testing.assert_allclose(np.asarray(score(labelled, shuffled)), 1.0)  # y matched to itself
    np.testing.assert_allclose(np.asarray(score(y, y)), np.asarray(score(labelled, shuffled)))


def test_saliency_metric_refuses_ids_on_one_side():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 8, 10))
    labelled = _labelled(maps, ["a", "b", "c"], ("stimulus", "y", "x"))
    with pytest.raises(AlignmentError, match="stimulus_id"):
        cc(labelled, maps[::-1])
    by_id = np.asarray(cc(labelled, labelled.isel(stimulus=[2, 0, 1])))
    np.testing.assert_allclose(by_id, 1.0)
