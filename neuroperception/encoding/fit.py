"""``fit_encoding_model``: features + responses → a fitted, held-out-scored encoding model.

The call aligns features and responses by ``stimulus_id``, averages repeats (estimating the noise
ceiling from them), holds out test stimuli, fits the model (on a dask cluster when asked) and
scores every voxel on the held-out stimuli. The result, :class:`EncodingResult`, wraps an
``xarray.Dataset`` of per-voxel scores that keeps the voxel coordinates, so it can be summarised per
ROI, drawn on the brain and written to NetCDF.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar, show_progress
from .._validation import check_alignment, check_responses, describe, seed_from
from ..data import average_repeats, ncsnr, noise_ceiling_from_ncsnr
from ..errors import AlignmentError, InputError, ShapeError
from ..plotting import brain as brain_plots
from . import scoring, significance
from ._dask import fit_on_client, fresh_copy
from ._inputs import check_features, held_out_positions
from .banded import BandedRidgeCV
from .ridge import RidgeCV

__all__ = ["fit_encoding_model", "EncodingResult"]

_METRICS = ("r", "r2", "nc_normalized")


# ---------------------------------------------------------------------------------------- result
class EncodingResult:
    """Per-voxel held-out scores of a fitted encoding model (an ``xarray.Dataset``) and the model.

    Variables, each ``("voxel",)`` or ``("layer", "voxel")`` (one model per layer) with the responses'
    voxel coordinates (``roi``, ``x/y/z``...): ``r`` (Pearson), ``r2``, ``pvalue`` (analytic one-sided
    test of r, :func:`~neuroperception.encoding.score_pvalues`), and, when a noise ceiling is known,
    ``noise_ceiling`` and ``nc_normalized`` (Algonauts 2023: ``max(r, 0)^2 / nc``, capped at 1; NaN
    where the ceiling is below ``attrs["min_ceiling"]``); ``alpha`` when the model has ``best_alphas_``
    (``("band", "voxel")`` for banded ridge, with ``split_r2``, each band's share of R^2);
    ``best_layer`` for one model per layer.

    Summaries and plots take ``significant=`` (a boolean mask per voxel, or ``("layer", "voxel")``) or
    ``fdr=`` (a false-discovery rate: voxels whose ``pvalue`` survives Benjamini–Hochberg across voxels,
    per layer) and leave the other voxels out.

    Parameters
    ----------
    dataset : xarray.Dataset
    model : fitted estimator, dict of them (one per layer), or None (after :meth:`from_netcdf`)

    Examples
    --------
    >>> ds = xr.Dataset({"r": ("voxel", [0.2, 0.6])}, coords={"roi": ("voxel", ["V1", "IT"])})
    >>> EncodingResult(ds).roi_summary()["r"].to_dict()
    {'all': 0.4, 'V1': 0.2, 'IT': 0.6}
    >>> EncodingResult(ds).roi_summary(significant=np.array([False, True]))["r"].to_dict()
    {'all': 0.6, 'V1': nan, 'IT': 0.6}
    """

    def __init__(self, dataset: xr.Dataset, model: Any = None):
        if not isinstance(dataset, xr.Dataset):
            raise InputError(f"dataset: received {type(dataset).__name__}; expected an xarray.Dataset of per-voxel "
                             "scores (as fit_encoding_model or EncodingResult.from_netcdf make)")
        no_voxel = [str(k) for k, v in dataset.data_vars.items() if "voxel" not in v.dims]
        if "voxel" not in dataset.dims or no_voxel:
            raise ShapeError(f"dataset: received variables {no_voxel or list(dataset.data_vars)} without a 'voxel' "
                             f"dim (dims {dict(dataset.sizes)}); expected per-voxel scores, each with a 'voxel' dim")
        self.dataset = dataset
        self.model = model

    def __getitem__(self, key: str) -> xr.DataArray:
        return self.dataset[key]

    def __repr__(self) -> str:
        return f"EncodingResult(model={type(self.model).__name__})\n{self.dataset!r}"

    @property
    def metrics(self) -> list[str]:
        """Score variables present, among ``r``, ``r2``, ``nc_normalized`` (not ``pvalue``)."""
        return [m for m in _METRICS if m in self.dataset]

    @property
    def layers(self) -> list[str] | None:
        """Layer names when one model was fitted per layer, else None."""
        return [str(v) for v in self.dataset["layer"].values] if "layer" in self.dataset.dims else None

    def _metric(self, metric: str | None) -> str:
        metric = metric or ("nc_normalized" if "nc_normalized" in self.dataset else "r")
        if metric not in self.dataset.data_vars:
            raise InputError(f"metric: received {metric!r}; expected one of {sorted(self.dataset.data_vars)}")
        return metric

    def _significance(self, significant: Any, fdr: float | None) -> xr.DataArray | None:
        """The voxels to keep: a boolean DataArray ``(voxel,)`` or ``(layer, voxel)``, or None for all."""
        if significant is not None and fdr is not None:
            raise InputError("significant, fdr: received both; expected one (a mask, or an FDR level applied to "
                             "the stored p-values)")
        if fdr is not None:
            if "pvalue" not in self.dataset:
                raise InputError(f"fdr: received {fdr!r} but the result holds no 'pvalue'; expected a result of "
                                 "fit_encoding_model (or pass significant=a mask)")
            p = self.dataset["pvalue"]
            if "layer" in p.dims:
                return xr.concat([significance.fdr_correct(p.sel(layer=lay), fdr=fdr).significant
                                  for lay in p["layer"].values], dim="layer")
            return significance.fdr_correct(p, fdr=fdr).significant
        if significant is None:
            return None
        n = self.dataset.sizes["voxel"]
        if isinstance(significant, xr.DataArray) and significant.ndim == 2 and "layer" in significant.dims:
            scoring._significance_mask(significant.isel(layer=0), n)
            return significant.transpose("layer", "voxel")
        return xr.DataArray(scoring._significance_mask(significant, n), dims="voxel")

    @staticmethod
    def _mask_at(mask: xr.DataArray | None, dim: str | None, key: Any) -> np.ndarray | None:
        if mask is None:
            return None
        if dim is not None and dim in mask.dims:
            return np.asarray(mask.sel({dim: key}).values)
        return np.asarray(mask.values)

    def roi_summary(self, metric: str | None = None, statistic: str = "median", *, significant: Any = None,
                    fdr: float | None = None) -> pd.DataFrame:
        """Median (or mean) score over all voxels and per ROI: the table :meth:`plot_rois` draws.

        Rows ``all`` then the ROIs in the order they first appear among the voxels. One column per
        metric; for a metric that varies over bands (``split_r2``, ``alpha`` of banded ridge), one
        column per band; with one model per layer, one column per layer for ``metric`` (default:
        ``nc_normalized`` if present, else ``r``) and ``best_layer``, the layer with the highest value
        in each row. Voxels with NaN scores (below the minimum noise ceiling) are left out and
        counted in ``n_nan``. ``significant`` (boolean mask per voxel, or per layer and voxel) or
        ``fdr`` (e.g. 0.05: Benjamini–Hochberg on ``pvalue``, per layer) keeps only the significant
        voxels and adds their count, ``n_significant`` (one column per layer for one model per layer).

        Examples
        --------
        >>> ds = xr.Dataset({"split_r2": (("band", "voxel"), [[0.3, 0.1, 0.0], [0.1, 0.2, 0.4]])},
        ...                 coords={"band": ["gabor", "clip"], "roi": ("voxel", ["V1", "V1", "IT"])})
        >>> EncodingResult(ds).roi_summary("split_r2")[["gabor", "clip"]].round(2).to_dict("index")
        {'all': {'gabor': 0.1, 'clip': 0.2}, 'V1': {'gabor': 0.2, 'clip': 0.15}, 'IT': {'gabor': 0.0, 'clip': 0.4}}
        """
        mask = self._significance(significant, fdr)
        if self.layers is None:
            names = [metric] if metric else self.metrics
            values = {}
            for name in names:
                v = self.dataset[self._metric(name)]
                extra = [d for d in v.dims if d != "voxel"]
                if not extra:
                    values[name] = v
                    continue
                if len(extra) > 1 or len(names) > 1:
                    raise ShapeError(f"metric: {name!r} varies over {extra}; expected it alone (roi_summary({name!r}))"
                                     " and over one dimension")
                values.update({str(k): v.isel({extra[0]: i}, drop=True) for i, k in enumerate(v[extra[0]].values)})
            return scoring.summarize_scores(values, statistic=statistic, significant=self._mask_at(mask, None, None))
        m = self._metric(metric)
        masks = None if mask is None else {lay: self._mask_at(mask, "layer", lay) for lay in self.layers}
        table = scoring.summarize_scores({lay: self.dataset[m].sel(layer=lay) for lay in self.layers},
                                         statistic=statistic, significant=masks)
        scores = table[self.layers].astype(float)
        table.insert(len(self.layers), "best_layer", [str(scores.columns[np.nanargmax(row)])
                                                     if np.isfinite(row).any() else "" for row in scores.values])
        return table

    @property
    def summary(self) -> pd.DataFrame:
        """:meth:`roi_summary` with its defaults."""
        return self.roi_summary()

    def _values(self, metric: str | None, layer: str | None,
                mask: xr.DataArray | None = None) -> tuple[xr.DataArray, str, np.ndarray | None]:
        m = self._metric(metric)
        values = self.dataset[m]
        extra = [d for d in values.dims if d != "voxel"]
        if not extra:
            return values, m, self._mask_at(mask, None, None)
        dim = extra[0]
        if layer is None:
            if dim != "layer":
                raise InputError(f"layer: received None for {m!r}, which varies over {dim!r}; expected one of "
                                 f"{[str(v) for v in values[dim].values]}")
            best = values.fillna(-np.inf).argmax("layer")
            chosen = None if mask is None else (mask.isel(layer=best) if "layer" in mask.dims else mask)
            return values.max("layer"), f"{m} (best layer)", None if chosen is None else np.asarray(chosen.values)
        names = [str(v) for v in values[dim].values]
        if str(layer) not in names:
            raise InputError(f"layer: received {layer!r}; expected one of {names}")
        key = values[dim].values[names.index(str(layer))]
        return (values.isel({dim: names.index(str(layer))}, drop=True), f"{m} ({layer})",
                self._mask_at(mask, dim, key))

    def plot_brain(self, metric: str | None = None, layer: str | None = None, *, significant: Any = None,
                   fdr: float | None = None, **kwargs):
        """Draw a per-voxel score on the brain (:func:`~neuroperception.plotting.brain.plot_voxel_map`).

        ``layer`` picks a layer (or band, for ``alpha``/``split_r2``); with one model per layer and no
        ``layer`` the best layer's score is drawn. ``significant`` or ``fdr`` (as in
        :meth:`roi_summary`) hides the other voxels, as NaN scores are. Extra keywords go to
        ``plot_voxel_map``.
        """
        values, title, keep = self._values(metric, layer, self._significance(significant, fdr))
        kwargs.setdefault("title", title if keep is None else f"{title}, significant voxels")
        return brain_plots.plot_voxel_map(values, significant=keep, **kwargs)

    def plot_rois(self, metric: str | None = None, *, statistic: str = "median", significant: Any = None,
                  fdr: float | None = None, **kwargs):
        """Bar chart of :meth:`roi_summary` (:func:`~neuroperception.plotting.brain.plot_roi_summary`).

        The bars are the table's numbers: the same statistic, ROIs in the same order (as they first
        appear among the voxels), one bar per layer or band. ``significant`` or ``fdr`` (as in
        :meth:`roi_summary`) leaves the other voxels out. Extra keywords go to ``plot_roi_summary``.

        Examples
        --------
        >>> ds = xr.Dataset({"r": ("voxel", [0.2, 0.4, 0.9])}, coords={"roi": ("voxel", ["V1", "V1", "IT"])})
        >>> ax = EncodingResult(ds).plot_rois().axes[0]
        >>> [t.get_text() for t in ax.get_xticklabels()], [round(float(p.get_height()), 2) for p in ax.patches]
        (['V1', 'IT'], [0.3, 0.9])
        """
        m = self._metric(metric)
        table = self.roi_summary(m, statistic, significant=significant, fdr=fdr)
        columns = [c for c in table.columns if c != "best_layer" and not str(c).startswith("n_")]
        kwargs.setdefault("ylabel", f"{m}, {statistic} over voxels")
        return brain_plots.plot_roi_summary(table[columns], **kwargs)

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the scores (not the model) to NetCDF; :meth:`from_netcdf` reads them back."""
        path = Path(path)
        self.dataset.to_netcdf(path, engine="h5netcdf", mode="w")
        return path

    @classmethod
    def from_netcdf(cls, path: str | Path) -> EncodingResult:
        """Read a result written by :meth:`to_netcdf` (``model`` is None)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file; expected a NetCDF written by EncodingResult.to_netcdf")
        ds = xr.load_dataset(path, engine="h5netcdf")
        for key in list(ds.variables):
            if ds[key].dtype.kind == "O":
                ds[key] = ds[key].astype(str)
        return cls(ds, model=None)


# ---------------------------------------------------------------------------------------- inputs
_MAP_DIMS = ("stimulus", "channel", "y", "x")


def _layer(x: Any, name: str, maps: bool = False) -> xr.DataArray:
    """A ``("stimulus", "feature")`` DataArray; maps are flattened over their non-stimulus dims.

    With ``maps=True`` (a model that declares ``accepts_maps``), ``("stimulus", "channel", "y", "x")``
    maps are kept as they are (the model validates them).
    """
    if isinstance(x, xr.DataArray):
        if "stimulus" not in x.dims:
            raise ShapeError(f"{name}: received dims {x.dims}; expected a 'stimulus' dim, e.g. ('stimulus', 'feature')")
        if maps and set(x.dims) == set(_MAP_DIMS) and x.ndim == 4:
            return x.transpose(*_MAP_DIMS)
        if x.ndim != 2 or x.dims[0] != "stimulus" or x.dims != ("stimulus", "feature"):
            x = x.transpose("stimulus", ...)
            coords = {k: c for k, c in x.coords.items() if c.dims == ("stimulus",)}
            x = xr.DataArray(np.asarray(x.values).reshape(x.sizes["stimulus"], -1), dims=("stimulus", "feature"),
                             coords=coords, attrs=x.attrs, name=x.name)
        check_features(x, name=name)
        return x
    if maps and np.ndim(x) == 4:
        return xr.DataArray(np.asarray(x), dims=_MAP_DIMS)
    values, _ = check_features(x, name=name)
    return xr.DataArray(values, dims=("stimulus", "feature"))


def _voxel_da(values: np.ndarray, coords: dict, name: str, extra: tuple[str, list] | None = None) -> xr.DataArray:
    dims = ("voxel",) if extra is None else (extra[0], "voxel")
    c = dict(coords)
    if extra is not None:
        c[extra[0]] = extra[1]
    return xr.DataArray(np.asarray(values, dtype=np.float64), dims=dims, coords=c, name=name)


def _scores(model: Any, X_test: Any, y_test: np.ndarray, nc: np.ndarray | None,
            min_ceiling: float) -> dict[str, np.ndarray]:
    pred = np.asarray(model.predict(X_test), dtype=np.float64)
    if pred.shape != y_test.shape:
        raise ShapeError(f"model.predict: returned {describe(pred)}; expected {y_test.shape} (stimulus, voxel)")
    out = {"r": np.asarray(scoring.pearson_r(y_test, pred)), "r2": np.asarray(scoring.r2_score(y_test, pred))}
    out["pvalue"] = significance._analytic(out["r"], y_test.shape[0], "greater")
    if nc is not None:
        out["nc_normalized"] = scoring._normalize(out["r"], nc, min_ceiling)
    alphas = getattr(model, "best_alphas_", None)
    if alphas is not None and np.shape(alphas)[-1:] == y_test.shape[1:]:
        out["alpha"] = np.asarray(alphas, dtype=np.float64)
    return out


# ---------------------------------------------------------------------------------------- entry point
@fill_doc
def fit_encoding_model(features: Any, responses: Any, model: Any = None, test: Any = None, noise_ceiling: Any = None,
                       client: Any = None, progress: bool | None = None, per_layer: bool = False,
                       random_state: int | np.random.Generator | None = 0, *, min_ceiling: float = scoring.DEFAULT_MIN_CEILING) -> EncodingResult:
    """Fit an encoding model from features to voxel responses and score it on held-out stimuli.

    Parameters
    ----------
    features : xarray.DataArray or dict of str to DataArray
        ``("stimulus", "feature")`` (maps such as ``("stimulus", "channel", "y", "x")`` are flattened,
        except for a model that declares ``accepts_maps = True``, such as
        :class:`~neuroperception.encoding.readouts.FactorizedReadout`, which gets them as maps).
        A dict is one joint model over all layers (default :class:`BandedRidgeCV`, one penalty per
        layer; a map-accepting model gets the dict of maps), or one model per layer with
        ``per_layer=True``.
    responses : xarray.DataArray or numpy.ndarray
        ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` (averaged over repeats; NaN
        for missing repeats). Aligned to the features by ``stimulus_id``.
    model : estimator, optional
        Anything with ``fit(X, Y)``/``predict(X)``, copied before fitting (default: :class:`RidgeCV`
        for one layer or per layer, :class:`BandedRidgeCV` for a dict). A dict of layers given to a
        model other than ``BandedRidgeCV`` is concatenated along features.
    test : float or sequence of str, optional
        Held-out stimuli for the reported scores: a fraction drawn with ``random_state`` (default
        0.2) or their ``stimulus_id`` values.
    noise_ceiling : array-like, optional
        ``(voxel,)`` fractions in [0, 1] (NaN for unknown). By default, with repeats, ``ncsnr`` of all
        the repeats turned into the ceiling of the test stimuli's averages (their repeat counts).
    client : dask.distributed.Client or "local", optional
        Fit voxel blocks on a dask cluster (``"local"``: a LocalCluster made and closed for the
        call); :class:`RidgeCV` and :class:`BandedRidgeCV` fits equal the single-process ones.
    %(progress)s
        It is passed to the default models.
    per_layer : bool
        With a dict of features, fit one model per layer (scores get a ``layer`` dim and a
        ``best_layer`` per voxel).
    %(random_state)s
        It draws the test split; ``attrs["random_state"]`` records the seed (for a Generator or
        None, the one drawn from it).
    min_ceiling : float
        Voxels whose noise ceiling is below it get a NaN ``nc_normalized`` (left out of summaries and
        maps; see :func:`~neuroperception.encoding.noise_ceiling_normalized`, default 0.1); a warning
        names the ROIs where most voxels fall below it. ``0`` reproduces the Algonauts 2023 numbers.

    Returns
    -------
    EncodingResult

    Raises
    ------
    AlignmentError
        Features and responses (or the test ids) that do not share their stimulus ids.
    InputError, ShapeError
        Bad values, dims, test fractions, or too few stimuli.

    Examples
    --------
    >>> from neuroperception.data import make_responses
    >>> rng = np.random.default_rng(0)
    >>> X = xr.DataArray(rng.normal(size=(100, 5)), dims=("stimulus", "feature"),
    ...                  coords={"stimulus_id": ("stimulus", [f"s{i}" for i in range(100)])})
    >>> Y = make_responses(X.values @ rng.normal(size=(5, 4)) + 0.1 * rng.normal(size=(100, 4)),
    ...                    [f"s{i}" for i in range(100)], roi=["V1", "V1", "IT", "IT"])
    >>> result = fit_encoding_model(X, Y)
    >>> result.metrics, bool((result["r"] > 0.95).all()), list(result.roi_summary().index)
    (['r', 'r2'], True, ['all', 'V1', 'IT'])
    >>> result.roi_summary(fdr=0.05)["n_significant"].tolist()     # every voxel's held-out r is significant
    [4, 2, 2]
    """
    seed, progress = seed_from(random_state), show_progress(progress)
    single = not isinstance(features, Mapping)
    maps = bool(getattr(model, "accepts_maps", False))
    layers = {"features": _layer(features, "features", maps)} if single else {
        str(k): _layer(v, f"features[{k!r}]", maps) for k, v in features.items()}
    if not layers:
        raise InputError("features: received an empty dict; expected at least one layer")
    raw = check_responses(responses, allow_repeats=True, allow_nan=True, name="responses")
    trials = raw if "repeat" in raw.dims else None
    avg = average_repeats(raw) if trials is not None else check_responses(raw, name="responses")
    names = list(layers)
    labels = ["features"] if single else [f"features[{n!r}]" for n in names]
    aligned = check_alignment(*layers.values(), avg, names=labels + ["responses"])
    layers, avg = dict(zip(names, aligned[:-1])), aligned[-1]
    if trials is not None:
        trials = check_alignment(aligned[0], trials, names=["features", "responses"])[1]
    first = layers[names[0]]
    ids = [str(v) for v in first["stimulus_id"].values] if "stimulus_id" in first.coords else None
    n, n_vox = avg.sizes["stimulus"], avg.sizes["voxel"]
    if n < 6:
        raise InputError(f"responses: received {n} stimuli; expected at least 6 (training folds and a test set)")
    test_idx = held_out_positions(0.2 if test is None else test, ids, n, seed)
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    if train_idx.size < 2 or test_idx.size < 2:
        raise InputError(f"test: leaves {train_idx.size} training and {test_idx.size} test stimuli; expected at least "
                         "2 of each")

    min_ceiling = scoring._check_min_ceiling(min_ceiling)
    nc, nc_source = None, "none"
    if noise_ceiling is not None:
        nc = np.asarray(noise_ceiling.values if isinstance(noise_ceiling, xr.DataArray) else noise_ceiling, float)
        if nc.shape != (n_vox,):
            raise ShapeError(f"noise_ceiling: received {describe(nc)}; expected ({n_vox},), one per voxel")
        scoring._check_ceiling(nc)
        nc_source = "given"
    elif trials is not None:
        counts = (~np.isnan(np.asarray(trials.values)[..., 0])).sum(0)[test_idx]
        nc = np.asarray(noise_ceiling_from_ncsnr(ncsnr(trials), counts), dtype=np.float64)
        nc_source = "ncsnr of the repeats, test-set repeat counts"
    if nc is not None:
        scoring._warn_low_ceilings(nc, avg["roi"].values if "roi" in avg.coords else None, min_ceiling)

    y_train, y_test = avg.isel(stimulus=train_idx), np.asarray(avg.isel(stimulus=test_idx).values, np.float64)
    train = {k: v.isel(stimulus=train_idx) for k, v in layers.items()}
    test_x = {k: v.isel(stimulus=test_idx) for k, v in layers.items()}

    def make(default):
        return fresh_copy(model) if model is not None else default(progress=progress)

    def fit(estimator, X):
        return fit_on_client(estimator, X, y_train, client) if client is not None else estimator.fit(X, y_train)

    voxel_coords = {k: c for k, c in avg.coords.items() if c.dims == ("voxel",)}
    variables: dict[str, xr.DataArray] = {}
    if per_layer or single:
        fitted, per = {}, {}
        for k in progress_bar(names, progress and len(names) > 1, desc="encoding model per layer", unit="layer"):
            fitted[k] = fit(make(RidgeCV), train[k])
            per[k] = _scores(fitted[k], test_x[k], y_test, nc, min_ceiling)
        if single:
            fitted_model = fitted[names[0]]
            variables = {m: _voxel_da(v, voxel_coords, m) for m, v in per[names[0]].items() if np.ndim(v) == 1}
        else:
            fitted_model = fitted
            for m in per[names[0]]:
                variables[m] = _voxel_da(np.stack([per[k][m] for k in names]), voxel_coords, m, ("layer", names))
            key = "nc_normalized" if "nc_normalized" in variables else "r"
            best = variables[key].fillna(-np.inf).argmax("layer").values
            none = variables[key].isnull().all("layer").values
            variables["best_layer"] = xr.DataArray(np.where(none, "", np.asarray(names)[best]), dims="voxel",
                                                   coords=voxel_coords, name="best_layer")
    else:
        joint = model is None or isinstance(model, BandedRidgeCV) or maps
        as_x = (lambda d: d) if joint else (lambda d: xr.concat(list(d.values()), dim="feature"))
        fitted_model = fit(make(BandedRidgeCV), as_x(train))
        got = _scores(fitted_model, as_x(test_x), y_test, nc, min_ceiling)
        for m, v in got.items():
            band = ("band", names) if np.ndim(v) == 2 else None
            variables[m] = _voxel_da(v, voxel_coords, m, band)
        if hasattr(fitted_model, "split_scores"):
            split = fitted_model.split_scores(test_x, avg.isel(stimulus=test_idx))
            variables["split_r2"] = _voxel_da(split.values, voxel_coords, "split_r2", ("band", names))
    if nc is not None:
        variables["noise_ceiling"] = _voxel_da(nc, voxel_coords, "noise_ceiling")
    test_ids = [ids[i] for i in test_idx] if ids is not None else [str(i) for i in test_idx]
    attrs = {"model": repr(fitted_model if not isinstance(fitted_model, dict) else next(iter(fitted_model.values()))),
             "n_train": int(train_idx.size), "n_test": int(test_idx.size), "per_layer": int(bool(per_layer and not single)),
             "noise_ceiling_source": nc_source, "min_ceiling": min_ceiling, "random_state": seed,
             "test": "stimulus ids" if test is not None and not isinstance(test, numbers.Real) else
             f"fraction {0.2 if test is None else float(test)}"}
    ds = xr.Dataset(variables, attrs=attrs)
    ds = ds.assign_coords(test_stimulus_id=("test_stimulus", np.asarray(test_ids, dtype=str)))
    return EncodingResult(ds, fitted_model)
