"""Brain maps: values on the MNI152 grid and fsaverage5, ROI summaries, clear errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from neuroperception.errors import InputError, ShapeError  # noqa: E402
from neuroperception.plotting.brain import (  # noqa: E402
    _fsaverage,
    _surface_maps,
    plot_estimate_vs_truth,
    plot_noise_ceiling_map,
    plot_roi_map,
    plot_roi_summary,
    plot_voxel_map,
    voxel_map_to_nifti,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _volume(values, xyz, roi=None):
    xyz = np.asarray(xyz, dtype=float)
    coords = {k: ("voxel", xyz[:, i]) for i, k in enumerate("xyz")}
    if roi is not None:
        coords["roi"] = ("voxel", list(roi))
    return xr.DataArray(np.asarray(values, dtype=float), dims="voxel", coords=coords)


def _surface(values, hemi, vertex, roi=None):
    coords = {"hemi": ("voxel", list(hemi)), "vertex": ("voxel", list(vertex))}
    if roi is not None:
        coords["roi"] = ("voxel", list(roi))
    return xr.DataArray(np.asarray(values, dtype=float), dims="voxel", coords=coords)


XYZ = [[10, -90, 0], [-20, -50, -20], [40, -60, -18], [-8, -96, 4]]


# ---------------------------------------------------------------------------- NIfTI
def test_values_land_on_their_mni_voxels():
    from nilearn import datasets

    v = _volume([0.5, -2.0, 3.0, 7.0], XYZ)
    img = voxel_map_to_nifti(v)
    template = datasets.load_mni152_template(resolution=2)
    assert img.shape == template.shape and np.allclose(img.affine, template.affine)
    data = img.get_fdata()
    ijk = np.rint(np.c_[np.asarray(XYZ, float), np.ones(4)] @ np.linalg.inv(img.affine).T)[:, :3].astype(int)
    np.testing.assert_allclose(data[tuple(ijk.T)], [0.5, -2.0, 3.0, 7.0])
    assert np.count_nonzero(data) == 4
    back = img.affine @ np.r_[ijk[0], 1]
    np.testing.assert_allclose(back[:3], XYZ[0])  # the grid holds these mm positions exactly


def test_shared_cells_are_averaged_and_nan_is_left_out():
    v = _volume([1.0, 3.0, np.nan], [[10, -90, 0], [10.4, -90.3, 0.2], [-20, -50, -20]])
    img = voxel_map_to_nifti(v, fill=-1.0)
    data = img.get_fdata()
    assert np.count_nonzero(data != -1.0) == 1 and data.max() == pytest.approx(2.0)


def test_simulated_brain_map_reads_back_at_its_coordinates():
    from nibabel.affines import apply_affine
    from nilearn.image import coord_transform

    from neuroperception.data import simulate_brain

    f = xr.DataArray(np.random.default_rng(0).standard_normal((20, 6)), dims=("stimulus", "feature"))
    nc = simulate_brain(f, n_voxels=30, random_state=0).true_noise_ceiling
    img = voxel_map_to_nifti(nc)
    i, j, k = coord_transform(nc["x"].values, nc["y"].values, nc["z"].values, np.linalg.inv(img.affine))
    ijk = np.rint(np.c_[i, j, k]).astype(int)
    np.testing.assert_allclose(apply_affine(img.affine, ijk), np.c_[nc["x"], nc["y"], nc["z"]])  # on the grid
    np.testing.assert_allclose(img.get_fdata()[tuple(ijk.T)], nc.values, rtol=1e-6)
    assert np.count_nonzero(img.get_fdata()) == 30


def test_nifti_errors_name_the_missing_coordinates_and_the_outside_voxels():
    with pytest.raises(InputError, match=r"received coordinates \['roi'\]; expected x, y, z \(MNI mm\)"):
        voxel_map_to_nifti(xr.DataArray([1.0], dims="voxel", coords={"roi": ("voxel", ["V1"])}))
    with pytest.raises(InputError, match="1 voxels outside the MNI152 2 mm grid"):
        voxel_map_to_nifti(_volume([1.0, 2.0], [[10, -90, 0], [500, 0, 0]]))
    with pytest.raises(ShapeError, match=r"received dims \('stimulus', 'voxel'\); expected \('voxel',\)"):
        voxel_map_to_nifti(xr.DataArray(np.zeros((2, 3)), dims=("stimulus", "voxel")))
    with pytest.raises(InputError, match="expected an xarray.DataArray"):
        voxel_map_to_nifti(np.zeros(3))


# ---------------------------------------------------------------------------- surface
def test_surface_values_land_on_their_vertices_and_colour_their_ring():
    mesh, _ = _fsaverage("inflated")
    v = _surface([2.0, -1.0, 5.0], ["left", "rh", "right"], [100, 200, 3000])
    maps = _surface_maps(v, mesh, 0.0)
    assert maps["left"].shape == (10242,) and maps["right"].shape == (10242,)
    assert maps["left"][100] == 2.0 and maps["right"][200] == -1.0 and maps["right"][3000] == 5.0
    faces = np.asarray(mesh.parts["left"].faces)
    ring = np.unique(faces[(faces == 100).any(1)])
    np.testing.assert_allclose(maps["left"][ring], 2.0)  # the 1-ring shows the value too
    assert np.count_nonzero(maps["left"]) == ring.size


def test_surface_map_figure_and_auto_space():
    v = _surface([0.2, 0.9, 0.5], ["left", "right", "left"], [10, 20, 30], roi=["V1", "V1", "IT"])
    fig = plot_voxel_map(v, title="surface")
    assert isinstance(fig, Figure)
    assert sum(ax.name == "3d" for ax in fig.axes) == 4  # two hemispheres x two views
    assert fig._suptitle.get_text() == "surface"
    with pytest.raises(InputError, match=r"values.hemi: received \['middle'\]"):
        _surface_maps(_surface([1.0], ["middle"], [0]), _fsaverage("inflated")[0], 0.0)
    with pytest.raises(InputError, match="indices outside"):
        _surface_maps(_surface([1.0], ["left"], [20000]), _fsaverage("inflated")[0], 0.0)


# ---------------------------------------------------------------------------- volume figures
def test_volume_maps_glass_and_slices():
    v = _volume([0.5, -2.0, 3.0, 7.0], XYZ)
    assert isinstance(plot_voxel_map(v, title="glass"), Figure)
    fig = plot_voxel_map(v, kind="slices", space="volume")
    assert isinstance(fig, Figure) and len(fig.axes) >= 2
    with pytest.raises(InputError, match="kind: received 'cube'"):
        plot_voxel_map(v, kind="cube")
    with pytest.raises(InputError, match="space: received 'mni'"):
        plot_voxel_map(v, space="mni")
    with pytest.raises(InputError, match=r"expected hemi and vertex \(fsaverage5\)"):
        plot_voxel_map(v, space="surface")
    with pytest.raises(InputError, match=r"expected x, y, z \(MNI mm\) or hemi and vertex"):
        plot_voxel_map(xr.DataArray([1.0, 2.0], dims="voxel"))


def test_roi_map_has_a_legend_entry_per_roi():
    v = _volume(np.zeros(4), XYZ, roi=["V1", "IT", "IT", "V1"])
    fig = plot_roi_map(v)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["V1", "IT"]
    with pytest.raises(InputError, match="a 'roi' coordinate"):
        plot_roi_map(_volume(np.zeros(4), XYZ))


def test_noise_ceiling_map_refuses_percentages():
    nc = _volume([0.1, 0.4, 0.8, 0.95], XYZ)
    assert isinstance(plot_noise_ceiling_map(nc), Figure)
    with pytest.raises(InputError, match="expected fractions <= 1 \\(divide percentages by 100\\)"):
        plot_noise_ceiling_map(nc * 100)


# ---------------------------------------------------------------------------- summaries
def test_roi_summary_bars_are_means_with_sem_error_bars():
    values = _volume([1.0, 3.0, 2.0, 6.0], XYZ, roi=["V1", "V1", "IT", "IT"])
    ax = plot_roi_summary(values).axes[0]
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [2.0, 4.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1", "IT"]
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    err = bars.errorbar.lines[2][0].get_segments()  # vertical error segments
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in err], [2 * 1.0, 2 * 2.0])  # ± sem (std/√2)
    grouped = plot_roi_summary({"truth": values, "estimate": values * 2}).axes[0]
    np.testing.assert_allclose([p.get_height() for p in grouped.patches], [2.0, 4.0, 4.0, 8.0])
    custom = plot_roi_summary(values.drop_vars("roi"), roi=["a", "b", "b", "b"]).axes[0]
    np.testing.assert_allclose([p.get_height() for p in custom.patches], [1.0, 11 / 3])


def test_roi_summary_errors():
    values = _volume([1.0, 3.0, 2.0, 6.0], XYZ)
    with pytest.raises(InputError, match="no 'roi' coordinate; expected one, or pass roi="):
        plot_roi_summary(values)
    with pytest.raises(ShapeError, match="received 2 labels; expected one per voxel \\(4\\)"):
        plot_roi_summary(values, roi=["a", "b"])
    with pytest.raises(ShapeError, match="expected the same voxels in each"):
        plot_roi_summary({"a": values, "b": values[:2]}, roi=["a"] * 4)


def test_significance_masks_and_nan_values_are_left_out(monkeypatch):
    import neuroperception.plotting.brain as brain_plots

    values = _volume([1.0, 3.0, np.nan, 2.0], XYZ, roi=["V1", "V1", "IT", "IT"])
    mask = np.array([True, False, True, True])
    ax = plot_roi_summary(values, significant=mask).axes[0]
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [1.0, 2.0])   # NaN and masked voxels out
    grouped = plot_roi_summary({"a": values, "b": values * 2},
                               significant={"a": mask, "b": xr.DataArray(~mask, dims="voxel")}).axes[0]
    np.testing.assert_allclose([p.get_height() for p in grouped.patches], [1.0, 2.0, 6.0, np.nan])
    seen = []
    original = brain_plots.voxel_map_to_nifti
    monkeypatch.setattr(brain_plots, "voxel_map_to_nifti", lambda v, fill=0.0: seen.append(v) or original(v, fill))
    plot_voxel_map(values, significant=mask)
    np.testing.assert_array_equal(np.isfinite(seen[-1].values), [True, False, False, True])
    img = original(seen[-1])
    assert float(img.get_fdata().sum()) == 3.0                 # only the significant, finite voxels land
    with pytest.raises(InputError, match="no significant voxel"):
        plot_voxel_map(values, significant=np.zeros(4, dtype=bool))
    with pytest.raises(InputError, match="boolean mask"):
        plot_voxel_map(values, significant=np.ones(4))
    with pytest.raises(ShapeError, match=r"expected \(4,\), one per voxel"):
        plot_roi_summary(values, significant=np.ones(3, dtype=bool))
    with pytest.raises(InputError, match="expected one for each of"):
        plot_roi_summary({"a": values, "b": values}, significant={"a": mask})


def test_estimate_vs_truth_reports_mae_and_checks_lengths():
    t = np.linspace(0, 1, 11)
    fig = plot_estimate_vs_truth(t, {"ncsnr": t + 0.05, "split_half": t - 0.2})
    texts = [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert texts == ["ncsnr (MAE 0.05)", "split_half (MAE 0.2)"]
    with pytest.raises(ShapeError, match="received 3 values; expected one per truth value \\(11\\)"):
        plot_estimate_vs_truth(t, {"bad": t[:3]})


def test_roi_summary_draws_a_summary_table_as_it_is():
    table = pd.DataFrame({"early": [0.5, 0.2, 0.9, 0.4], "late": [0.1, 0.3, 0.0, 0.6]},
                         index=["all", "V1", "V4", "IT"])
    table.attrs["statistic"] = "median"
    ax = plot_roi_summary(table).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["V1", "V4", "IT"]  # the table's order, "all" left out
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.2, 0.9, 0.4, 0.3, 0.0, 0.6]
    assert ax.get_ylabel() == "median over voxels" and [t.get_text() for t in ax.get_legend().get_texts()] == \
        ["early", "late"]
    with pytest.raises(InputError, match="non-numeric"):
        plot_roi_summary(table.assign(best_layer="early"))
    with pytest.raises(InputError, match="only with voxel values"):
        plot_roi_summary(table, significant=np.ones(3, dtype=bool))
    with pytest.raises(InputError, match="one row per ROI"):
        plot_roi_summary(table.loc[["all"]])
