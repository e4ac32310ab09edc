"""Readout figures: panel counts, what the titles report, and clear errors for bad input."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from neuroperception.errors import InputError, ShapeError  # noqa: E402
from neuroperception.plotting import (plot_attention_maps, plot_centre_recovery,  # noqa: E402
                                               plot_receptive_fields)

RNG = np.random.default_rng(0)


def _attention(n=3, rois=("V1", "V4", "IT")):
    return xr.DataArray(RNG.random((n, len(rois), 4, 4)), dims=("stimulus", "roi", "y", "x"),
                        coords={"stimulus_id": ("stimulus", [f"img{k}" for k in range(n)]), "roi": list(rois)})


def test_attention_maps_one_row_per_roi_plus_images_and_labels_from_coords():
    fig = plot_attention_maps(RNG.random((3, 3, 16, 16)), _attention())
    assert len(fig.axes) == 3 * (3 + 1)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["img0", "img1", "img2"]
    assert [fig.axes[3 * i].get_ylabel() for i in (1, 2, 3)] == ["V1", "V4", "IT"]
    # the map is stretched over the whole image: its extent is the image's
    overlay = fig.axes[3].get_images()[1]
    assert tuple(overlay.get_extent()) == (-0.5, 15.5, 15.5, -0.5)
    assert len(plot_attention_maps(None, _attention(2, ("a",))).axes) == 2


def test_attention_maps_errors():
    with pytest.raises(ShapeError, match="expected one per map stimulus"):
        plot_attention_maps(RNG.random((2, 3, 16, 16)), _attention(3))
    with pytest.raises(ShapeError, match=r"expected \('stimulus', 'roi', 'y', 'x'\)"):
        plot_attention_maps(None, _attention().isel(x=0))
    with pytest.raises(ShapeError, match="expected \\(stimulus, roi, y, x\\)"):
        plot_attention_maps(None, RNG.random((3, 4, 4)))
    bad = _attention()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="expected finite values"):
        plot_attention_maps(None, bad)
    with pytest.raises(InputError, match="expected 3 and 3"):
        plot_attention_maps(None, _attention(), labels=["only one"])
    with pytest.raises(InputError, match="images"):
        plot_attention_maps(2 * np.ones((3, 3, 8, 8)), _attention())


def test_receptive_fields_rows_per_source_and_columns_per_voxel():
    planted = xr.DataArray(RNG.random((5, 6, 6)), dims=("voxel", "y", "x"), coords={"roi": ("voxel", list("aabbc"))})
    fig = plot_receptive_fields(planted, {"f": RNG.random((5, 6, 6)), "g": RNG.random((5, 6, 6))}, voxels=[0, 2, 4])
    assert len(fig.axes) == 3 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["voxel 0 (a)", "voxel 2 (b)", "voxel 4 (c)"]
    assert [fig.axes[3 * i].get_ylabel() for i in range(3)] == ["planted", "f", "g"]
    # the drawn data are the given maps
    np.testing.assert_allclose(fig.axes[1].get_images()[0].get_array(), planted.values[2])
    assert len(plot_receptive_fields(planted.values, planted.values).axes) == 2 * 5


def test_receptive_fields_errors():
    maps = RNG.random((4, 5, 5))
    with pytest.raises(ShapeError, match="received 3 voxels; expected 4"):
        plot_receptive_fields(maps, maps[:3])
    with pytest.raises(ShapeError, match=r"expected \(voxel, y, x\)"):
        plot_receptive_fields(maps[0], maps)
    with pytest.raises(InputError, match=r"expected positions in \[0, 4\)"):
        plot_receptive_fields(maps, maps, voxels=[4])
    with pytest.raises(InputError, match="empty dict"):
        plot_receptive_fields(maps, {})


def test_centre_recovery_reports_the_share_within_tolerance():
    planted = pd.DataFrame({"roi": ["V1", "V1", "IT", "IT"], "center_y": [0.0, 1, 2, 3], "center_x": [0.0, 1, 2, 3]})
    near = planted.assign(center_x=planted["center_x"] + 0.5)
    far = planted.assign(center_x=planted["center_x"] + np.array([0.5, 3, 3, 3]))
    fig = plot_centre_recovery(planted, {"near": near, "far": far}, (4, 6))
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == "near: 100% within 1 cell"
    assert fig.axes[1].get_title() == "far: 25% within 1 cell"
    assert fig.axes[0].get_xlim() == (-0.5, 5.5) and fig.axes[0].get_ylim() == (3.5, -0.5)
    assert fig.axes[1].get_legend().get_texts()[0].get_text() == "V1"


def test_centre_recovery_errors():
    c = np.zeros((3, 2))
    with pytest.raises(ShapeError, match="received 2 voxels; expected 3"):
        plot_centre_recovery(c, {"m": c[:2]}, (4, 4))
    with pytest.raises(InputError, match="expected 'center_y' and 'center_x'"):
        plot_centre_recovery(pd.DataFrame({"y": [1.0]}), {"m": c}, (4, 4))
    with pytest.raises(InputError, match="non-empty dict"):
        plot_centre_recovery(c, c, (4, 4))
    with pytest.raises(ShapeError, match=r"expected \(voxel, 2\)"):
        plot_centre_recovery(np.zeros((3, 3)), {"m": c}, (4, 4))
