"""Per-voxel values on the brain: MNI152 volumes, fsaverage5 surfaces, ROI bar charts, recovery scatters.

Values are ``("voxel",)`` DataArrays whose coordinates say where each voxel is: ``x``/``y``/``z`` in
MNI mm (a volume) or ``hemi``/``vertex`` on fsaverage5 (a surface), and ``roi`` for ROI summaries.
NaN values (e.g. scores of voxels below the minimum noise ceiling) are not drawn and left out of
ROI bars; ``significant=`` (a boolean mask per voxel, e.g. from
:func:`~neuroperception.encoding.fdr_correct`) leaves out the other voxels the same way.
Everything nilearn draws on is bundled with nilearn (the MNI152 2 mm template, fsaverage5 meshes
and sulcal depth); nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

from .._validation import describe  # noqa: E402
from ..errors import InputError, ShapeError  # noqa: E402

__all__ = ["voxel_map_to_nifti", "plot_voxel_map", "plot_roi_map", "plot_noise_ceiling_map", "plot_roi_summary",
           "plot_estimate_vs_truth"]

_HEMIS = {"left": "left", "lh": "left", "l": "left", "right": "right", "rh": "right", "r": "right"}
_ROI_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _voxel_values(values: Any, name: str) -> xr.DataArray:
    if not isinstance(values, xr.DataArray):
        raise InputError(f"{name}: received {describe(values)}; expected an xarray.DataArray ('voxel',) with "
                         "x/y/z or hemi/vertex coordinates")
    if values.dims != ("voxel",):
        raise ShapeError(f"{name}: received dims {values.dims}; expected ('voxel',) (one value per voxel; "
                         "average or select the other dims first)")
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{name}: received dtype {values.dtype}; expected numbers")
    return values


def _space(values: xr.DataArray, space: str, name: str) -> str:
    has_xyz = all(k in values.coords for k in "xyz")
    has_surf = all(k in values.coords for k in ("hemi", "vertex"))
    if space not in ("auto", "volume", "surface"):
        raise InputError(f"space: received {space!r}; expected 'auto', 'volume' or 'surface'")
    if space == "auto":
        space = "surface" if has_surf else "volume" if has_xyz else ""
    if (space == "volume" and not has_xyz) or (space == "surface" and not has_surf) or not space:
        coords = sorted(str(k) for k in values.coords)
        need = {"volume": "x, y, z (MNI mm)", "surface": "hemi and vertex (fsaverage5)"}.get(
            space, "x, y, z (MNI mm) or hemi and vertex (fsaverage5)")
        raise InputError(f"{name}: received coordinates {coords}; expected {need} "
                         "(e.g. make_responses(..., xyz=...) or hemi=..., vertex=...)")
    return space


@functools.lru_cache(maxsize=1)
def _mni_grid() -> tuple[tuple[int, int, int], np.ndarray]:
    from nilearn import datasets

    img = datasets.load_mni152_template(resolution=2)
    return tuple(int(s) for s in img.shape[:3]), np.asarray(img.affine, dtype=float)


def voxel_map_to_nifti(values: xr.DataArray, fill: float = 0.0):
    """Put per-voxel values on nilearn's MNI152 2 mm grid, as a NIfTI image (e.g. to save a map).

    Each voxel goes to the grid cell nearest its ``x``/``y``/``z`` (mm); voxels sharing a cell are
    averaged; NaN values are left out.

    Parameters
    ----------
    values : xarray.DataArray
        ``("voxel",)`` with ``x``, ``y``, ``z`` coordinates in MNI mm.
    fill : float
        Value of the cells that hold no voxel.

    Returns
    -------
    nibabel.Nifti1Image
        float32, the MNI152 template's shape and affine.

    Raises
    ------
    InputError
        Missing coordinates, or voxels outside the grid.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> v = xr.DataArray([1.0, 2.0], dims="voxel", coords={"x": ("voxel", [10.0, -20.0]),
    ...                  "y": ("voxel", [-90.0, -50.0]), "z": ("voxel", [0.0, -20.0])})
    >>> img = voxel_map_to_nifti(v)
    >>> img.shape, float(img.get_fdata().sum())
    ((99, 117, 95), 3.0)
    """
    import nibabel as nib

    values = _voxel_values(values, "values")
    _space(values, "volume", "values")
    shape, affine = _mni_grid()
    xyz = np.c_[[np.asarray(values[k].values, dtype=float) for k in "xyz"]].T
    ijk = np.rint((np.c_[xyz, np.ones(len(xyz))] @ np.linalg.inv(affine).T)[:, :3]).astype(int)
    outside = ((ijk < 0) | (ijk >= np.array(shape))).any(1) | ~np.isfinite(xyz).all(1)
    if outside.any():
        first = np.flatnonzero(outside)[:3]
        raise InputError(f"values: received {int(outside.sum())} voxels outside the MNI152 2 mm grid, e.g. at "
                         f"{xyz[first].round(1).tolist()} mm; expected x/y/z in MNI mm")
    data = np.asarray(values.values, dtype=float)
    keep = np.isfinite(data)
    flat = np.ravel_multi_index(tuple(ijk[keep].T), shape)
    total = np.bincount(flat, weights=data[keep], minlength=int(np.prod(shape)))
    count = np.bincount(flat, minlength=int(np.prod(shape)))
    out = np.full(int(np.prod(shape)), float(fill))
    out[count > 0] = total[count > 0] / count[count > 0]
    return nib.Nifti1Image(out.reshape(shape).astype(np.float32), affine)


@functools.lru_cache(maxsize=2)
def _fsaverage(mesh: str):
    from nilearn import datasets

    meshes = datasets.load_fsaverage("fsaverage5")
    if mesh not in meshes:
        raise InputError(f"mesh: received {mesh!r}; expected one of 'pial', 'inflated', 'white_matter'")
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", mesh_type=mesh, data_type="sulcal")
    return meshes[mesh], {h: np.asarray(sulc.data.parts[h]).ravel() for h in ("left", "right")}


def _surface_maps(values: xr.DataArray, mesh, fill: float) -> dict[str, np.ndarray]:
    """Per hemisphere, an array over all vertices; each sampled vertex also colours its unsampled neighbours."""
    hemi = [_HEMIS.get(str(h).lower()) for h in values["hemi"].values]
    if None in hemi:
        bad = sorted({str(h) for h, k in zip(values["hemi"].values, hemi) if k is None})
        raise InputError(f"values.hemi: received {bad}; expected 'left'/'right' (or 'lh'/'rh')")
    vertex = np.asarray(values["vertex"].values).astype(int)
    data = np.asarray(values.values, dtype=float)
    out = {}
    for h in ("left", "right"):
        part = mesh.parts[h]
        n = part.coordinates.shape[0]
        sel = (np.array(hemi) == h) & np.isfinite(data)
        if ((vertex[sel] < 0) | (vertex[sel] >= n)).any():
            raise InputError(f"values.vertex: received indices outside [0, {n}) on the {h} hemisphere; "
                             "expected fsaverage5 vertices")
        total = np.bincount(vertex[sel], weights=data[sel], minlength=n)
        count = np.bincount(vertex[sel], minlength=n).astype(float)
        faces = np.asarray(part.faces)
        ring_total, ring_count = np.zeros(n), np.zeros(n)
        for a, b in ((0, 1), (1, 2), (2, 0), (1, 0), (2, 1), (0, 2)):
            np.add.at(ring_total, faces[:, a], np.where(count[faces[:, b]] > 0, total[faces[:, b]] /
                                                        np.maximum(count[faces[:, b]], 1), 0.0))
            np.add.at(ring_count, faces[:, a], count[faces[:, b]] > 0)
        m = np.full(n, float(fill))
        ring = (count == 0) & (ring_count > 0)
        m[ring] = ring_total[ring] / ring_count[ring]
        m[count > 0] = total[count > 0] / count[count > 0]
        out[h] = m
    return out


def _surface_figure(values, title, cmap, vmin, vmax, threshold, views, mesh_type, colorbar=True):
    from nilearn import plotting as nplot

    mesh, sulc = _fsaverage(mesh_type)
    maps = _surface_maps(values, mesh, 0.0)
    views = list(views)
    fig, axes = plt.subplots(2, len(views), figsize=(3.2 * len(views), 5.6), subplot_kw={"projection": "3d"},
                             squeeze=False)
    for r, h in enumerate(("left", "right")):
        for c, view in enumerate(views):
            nplot.plot_surf_stat_map(mesh.parts[h], maps[h], bg_map=sulc[h], hemi=h, view=view, cmap=cmap,
                                     vmin=vmin, vmax=vmax, threshold=threshold, colorbar=False, axes=axes[r, c],
                                     figure=fig, symmetric_cbar=False)
            axes[r, c].set_title(f"{h} {view}", fontsize=8)
    if colorbar:
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
        fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.5, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _keep_significant(values: xr.DataArray, significant: Any, name: str = "significant") -> xr.DataArray:
    """``values`` with NaN where the boolean ``significant`` mask is False (unchanged for None)."""
    if significant is None:
        return values
    mask = np.asarray(significant.values if isinstance(significant, xr.DataArray) else significant)
    if mask.dtype != bool:
        raise InputError(f"{name}: received {describe(mask)}; expected a boolean mask per voxel, e.g. "
                         "fdr_correct(pvalues).significant")
    if mask.shape != (values.sizes["voxel"],):
        raise ShapeError(f"{name}: received {describe(mask)}; expected ({values.sizes['voxel']},), one per voxel")
    return values.where(xr.DataArray(mask, dims="voxel"))


def _range(data: np.ndarray, vmin, vmax, cmap):
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        raise InputError("values: received no finite value (all NaN, or no significant voxel); expected at least "
                         "one")
    signed = finite.min() < 0 < finite.max()
    if vmin is None and vmax is None and signed:
        lim = float(np.abs(finite).max()) or 1.0
        return -lim, lim, cmap or "RdBu_r"
    lo = float(finite.min()) if vmin is None else float(vmin)
    hi = float(finite.max()) if vmax is None else float(vmax)
    return lo, (hi if hi > lo else lo + 1.0), cmap or ("RdBu_r" if signed else "viridis")


def plot_voxel_map(
    values: xr.DataArray,
    space: str = "auto",
    *,
    title: str | None = None,
    kind: str = "glass",
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = 1e-6,
    views: Sequence[str] = ("medial", "ventral"),
    mesh: str = "inflated",
    colorbar: bool = True,
    significant: Any = None,
):
    """Draw per-voxel values on the MNI152 template (glass brain or slices) or on fsaverage5.

    NaN values are not drawn (their cells and vertices stay empty).

    Parameters
    ----------
    values : xarray.DataArray
        ``("voxel",)`` with ``x/y/z`` (MNI mm) or ``hemi``/``vertex`` (fsaverage5) coordinates.
    space : {"auto", "volume", "surface"}
        ``"auto"`` uses the surface when ``hemi``/``vertex`` are present, else ``x/y/z``.
    title : str, optional
    kind : {"glass", "slices"}
        Volume only: a glass-brain projection (every voxel visible) or axial slices through the
        voxels (:func:`nilearn.plotting.plot_stat_map`).
    cmap : str, optional
        Default ``"RdBu_r"`` for signed values, ``"viridis"`` otherwise.
    vmin, vmax : float, optional
        Colour range (default: the data's, symmetric for signed values).
    threshold : float or None
        Absolute values below it are not drawn (cells and vertices without a voxel hold 0).
    views : sequence of str
        Surface only: nilearn views per hemisphere (``"lateral"``, ``"medial"``, ``"ventral"``...).
    mesh : str
        Surface only: fsaverage5 mesh (``"inflated"``, ``"pial"``, ``"white_matter"``).
    colorbar : bool
        Draw a colour bar.
    significant : boolean array-like or DataArray, optional
        ``(voxel,)`` mask (e.g. ``fdr_correct(pvalues).significant``): only these voxels are drawn.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        Not a ``("voxel",)`` DataArray, missing coordinates for the requested space, a mask that is
        not boolean or not one per voxel, or nothing finite left to draw.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> v = xr.DataArray([0.2, 0.8], dims="voxel", coords={"x": ("voxel", [10.0, -20.0]),
    ...                  "y": ("voxel", [-90.0, -50.0]), "z": ("voxel", [0.0, -20.0])})
    >>> fig = plot_voxel_map(v, title="toy")
    >>> fig = plot_voxel_map(v, significant=np.array([False, True]))   # only the second voxel
    """
    values = _keep_significant(_voxel_values(values, "values"), significant)
    space = _space(values, space, "values")
    lo, hi, cmap = _range(np.asarray(values.values, dtype=float), vmin, vmax, cmap)
    if space == "surface":
        return _surface_figure(values, title, cmap, lo, hi, threshold, views, mesh, colorbar)
    if kind not in ("glass", "slices"):
        raise InputError(f"kind: received {kind!r}; expected 'glass' or 'slices'")
    from nilearn import plotting as nplot

    img = voxel_map_to_nifti(values)
    fig = plt.figure(figsize=(8.0, 3.0))
    if kind == "glass":
        nplot.plot_glass_brain(img, display_mode="lyrz", plot_abs=False, colorbar=colorbar, cmap=cmap, vmin=lo, vmax=hi,
                               threshold=threshold, symmetric_cbar=lo < 0 < hi, title=title, figure=fig)
    else:
        z = np.asarray(values["z"].values, dtype=float)
        cuts = np.unique(np.quantile(z[np.isfinite(z)], [0.1, 0.3, 0.5, 0.7, 0.9]).round())
        nplot.plot_stat_map(img, display_mode="z", cut_coords=cuts.tolist(), colorbar=colorbar, cmap=cmap, vmin=lo,
                            vmax=hi, threshold=threshold, symmetric_cbar=lo < 0 < hi, title=title, figure=fig,
                            resampling_interpolation="nearest")
    return fig


def plot_roi_map(values: xr.DataArray, space: str = "auto", *, title: str | None = "ROIs", **kwargs):
    """Draw where each ROI's voxels are, one colour per ROI (from the ``roi`` coordinate).

    Parameters
    ----------
    values : xarray.DataArray
        Anything with a ``voxel`` dim, a ``roi`` coordinate and ``x/y/z`` or ``hemi``/``vertex``
        (e.g. responses; only the coordinates are used).
    space : {"auto", "volume", "surface"}
    title : str, optional
    **kwargs
        Passed on to :func:`plot_voxel_map` (``kind``, ``views``, ``mesh``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> v = xr.DataArray([0.0, 0.0], dims="voxel", coords={"roi": ("voxel", ["V1", "IT"]),
    ...                  "x": ("voxel", [10.0, -40.0]), "y": ("voxel", [-90.0, -50.0]), "z": ("voxel", [0.0, -20.0])})
    >>> fig = plot_roi_map(v)
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if not isinstance(values, xr.DataArray) or "voxel" not in values.dims or "roi" not in values.coords:
        raise InputError(f"values: received {describe(values)}; expected a DataArray with a 'voxel' dim and a "
                         "'roi' coordinate")
    roi = [str(r) for r in values["roi"].values]
    names = list(dict.fromkeys(roi))
    codes = xr.DataArray(np.array([names.index(r) + 1.0 for r in roi]), dims="voxel",
                         coords={k: values[k] for k in values.coords if values[k].dims == ("voxel",)})
    colors = [_ROI_COLORS[k % len(_ROI_COLORS)] for k in range(len(names))]
    cmap = ListedColormap(colors, name="rois")
    fig = plot_voxel_map(codes, space, title=title, cmap=cmap, vmin=0.5, vmax=len(names) + 0.5, threshold=0.5,
                         colorbar=False, **kwargs)
    fig.legend(handles=[Patch(color=c, label=n) for c, n in zip(colors, names)], loc="lower center",
               ncol=len(names), fontsize=8, frameon=False)
    return fig


def plot_noise_ceiling_map(nc: xr.DataArray, space: str = "auto", *, title: str | None = "Noise ceiling",
                           **kwargs):
    """Draw a noise-ceiling map on a fixed 0–1 scale (a fraction of explainable variance).

    Parameters
    ----------
    nc : xarray.DataArray
        ``("voxel",)`` noise ceilings as fractions (estimates may dip below 0; percentages are
        refused: divide them by 100).
    space : {"auto", "volume", "surface"}
    title : str, optional
    **kwargs
        Passed on to :func:`plot_voxel_map`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import xarray as xr
    >>> nc = xr.DataArray([0.3, 0.6], dims="voxel", coords={"x": ("voxel", [10.0, -40.0]),
    ...                   "y": ("voxel", [-90.0, -50.0]), "z": ("voxel", [0.0, -20.0])})
    >>> fig = plot_noise_ceiling_map(nc)
    """
    nc = _voxel_values(nc, "nc")
    data = np.asarray(nc.values, dtype=float)
    if np.nanmax(data) > 1.0 + 1e-6:
        raise InputError(f"nc: received {describe(data)}; expected fractions <= 1 (divide percentages by 100)")
    kwargs.setdefault("cmap", "hot")
    return plot_voxel_map(nc.clip(min=0.0), space, title=title, vmin=0.0, vmax=1.0, **kwargs)


def _groups(values: Any, name: str) -> dict[str, xr.DataArray]:
    if isinstance(values, Mapping):
        if not values:
            raise InputError(f"{name}: received an empty mapping; expected at least one array")
        return {str(k): _voxel_values(v, f"{name}[{k!r}]") for k, v in values.items()}
    return {str(getattr(values, "name", None) or "value"): _voxel_values(values, name)}


def _plot_roi_table(table: pd.DataFrame, title: str | None, ylabel: str | None):
    """Bars of a per-ROI summary table (rows ``all`` and the ROIs, one numeric column per bar group)."""
    rows = table.drop(index="all", errors="ignore")
    if rows.empty or not len(table.columns):
        raise InputError(f"values: received a table with rows {list(table.index)} and columns {list(table.columns)}; "
                         "expected one row per ROI and at least one column (e.g. EncodingResult.roi_summary())")
    try:
        data = rows.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"values: received a table with non-numeric columns {list(table.columns)}; expected the "
                         "numeric columns of a summary (drop best_layer and the n_ counts)") from err
    names, groups = [str(r) for r in rows.index], [str(c) for c in rows.columns]
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names) * max(1, len(groups) / 2), 3.2))
    for g, label in enumerate(groups):
        pos = np.arange(len(names)) + (g - (len(groups) - 1) / 2) * width
        ax.bar(pos, data[:, g], width, label=label, color=_ROI_COLORS[g % len(_ROI_COLORS)])
    ax.set_xticks(np.arange(len(names)), names)
    statistic = table.attrs.get("statistic")
    ax.set_ylabel(ylabel or (f"{statistic} over voxels" if statistic else groups[0]))
    if len(groups) > 1:
        ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_roi_summary(values: Any, roi: Sequence[str] | None = None, *, title: str | None = None,
                     ylabel: str | None = None, significant: Any = None):
    """Bar chart per ROI: of a summary table as it is, or the mean ± s.e.m. over voxels of voxel values.

    NaN values (e.g. scores of voxels below the minimum noise ceiling) are left out. A summary table
    (from :meth:`~neuroperception.encoding.EncodingResult.roi_summary` or
    :func:`~neuroperception.encoding.summarize_scores`) is drawn as it is: its numbers, its ROI
    order, one bar per column, so the figure and the table agree.

    Parameters
    ----------
    values : pandas.DataFrame, xarray.DataArray or dict of str to DataArray
        A summary table (index ``all`` and the ROIs, numeric columns only; ``all`` is not drawn), or
        ``("voxel",)`` values; a dict draws one bar per entry in each ROI (e.g. truth vs estimates).
    roi : sequence of str, optional
        ROI label per voxel (voxel values only); default: the ``roi`` coordinate. ROIs are drawn in
        the order they first appear.
    title, ylabel : str, optional
    significant : boolean array-like or DataArray, or dict of them, optional
        ``(voxel,)`` mask: only these voxels enter the bars; a dict with the keys of ``values`` gives
        each its own mask (e.g. one per layer). Voxel values only (a summary table was made with its
        own mask).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import xarray as xr
    >>> v = xr.DataArray([0.1, 0.3, 0.5, 0.7], dims="voxel", coords={"roi": ("voxel", ["V1", "V1", "IT", "IT"])})
    >>> ax = plot_roi_summary(v).axes[0]
    >>> [round(float(p.get_height()), 2) for p in ax.patches]
    [0.2, 0.6]
    >>> ax = plot_roi_summary(v, significant=np.array([True, False, True, True])).axes[0]
    >>> [round(float(p.get_height()), 2) for p in ax.patches]
    [0.1, 0.6]
    >>> import pandas as pd
    >>> table = pd.DataFrame({"r": [0.4, 0.2, 0.6]}, index=["all", "V1", "IT"])
    >>> [round(float(p.get_height()), 2) for p in plot_roi_summary(table).axes[0].patches]
    [0.2, 0.6]
    """
    if isinstance(values, pd.DataFrame):
        if roi is not None or significant is not None:
            raise InputError("roi, significant: received with a summary table; expected them only with voxel "
                             "values (summarise with significant=... instead)")
        return _plot_roi_table(values, title, ylabel)
    groups = _groups(values, "values")
    if isinstance(significant, Mapping):
        if set(map(str, significant)) != set(groups):
            raise InputError(f"significant: received masks for {sorted(map(str, significant))}; expected one for "
                             f"each of {sorted(groups)}")
        masks = {str(k): m for k, m in significant.items()}
        groups = {k: _keep_significant(v, masks[k], f"significant[{k!r}]") for k, v in groups.items()}
    else:
        groups = {k: _keep_significant(v, significant) for k, v in groups.items()}
    n = {v.sizes["voxel"] for v in groups.values()}
    if len(n) > 1:
        raise ShapeError(f"values: received arrays of {sorted(n)} voxels; expected the same voxels in each")
    first = next(iter(groups.values()))
    if roi is None:
        if "roi" not in first.coords:
            raise InputError("values: received no 'roi' coordinate; expected one, or pass roi=[label per voxel]")
        roi = first["roi"].values
    labels = np.array([str(r) for r in roi])
    if labels.shape != (first.sizes["voxel"],):
        raise ShapeError(f"roi: received {labels.size} labels; expected one per voxel ({first.sizes['voxel']})")
    names = list(dict.fromkeys(labels.tolist()))
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(names) * max(1, len(groups) / 2), 3.2))
    for g, (label, v) in enumerate(groups.items()):
        data = np.asarray(v.values, dtype=float)
        means, sems = [], []
        for r in names:
            x = data[(labels == r) & np.isfinite(data)]
            means.append(x.mean() if x.size else np.nan)
            sems.append(x.std(ddof=1) / np.sqrt(x.size) if x.size > 1 else 0.0)
        pos = np.arange(len(names)) + (g - (len(groups) - 1) / 2) * width
        ax.bar(pos, means, width, yerr=sems, capsize=3, label=label, color=_ROI_COLORS[g % len(_ROI_COLORS)])
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel(ylabel or ("mean ± s.e.m." if len(groups) > 1 else next(iter(groups))))
    if len(groups) > 1:
        ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_estimate_vs_truth(truth: Any, estimates: Any, *, title: str | None = None, xlabel: str = "truth",
                           ylabel: str = "estimate"):
    """Scatter of estimates against a planted truth, with the identity line and each estimate's MAE.

    Parameters
    ----------
    truth : array-like or xarray.DataArray
        One value per item (e.g. voxel).
    estimates : array-like, DataArray or dict of str to array-like
        One or more estimates of the same items, in the same order.
    title, xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_estimate_vs_truth(np.linspace(0, 1, 5), {"a": np.linspace(0, 1, 5) + 0.1})
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'a (MAE 0.1)'
    """
    t = np.asarray(truth, dtype=float).ravel()
    ests = dict(estimates) if isinstance(estimates, Mapping) else {"estimate": estimates}
    if not ests:
        raise InputError("estimates: received an empty mapping; expected at least one estimate")
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    lo, hi = np.nanmin(t), np.nanmax(t)
    for k, (label, e) in enumerate(ests.items()):
        e = np.asarray(e, dtype=float).ravel()
        if e.shape != t.shape:
            raise ShapeError(f"estimates[{label!r}]: received {e.size} values; expected one per truth value ({t.size})")
        mae = np.nanmean(np.abs(e - t))
        ax.scatter(t, e, s=6, alpha=0.6, color=_ROI_COLORS[k % len(_ROI_COLORS)], label=f"{label} (MAE {mae:.2g})")
        lo, hi = min(lo, np.nanmin(e)), max(hi, np.nanmax(e))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
