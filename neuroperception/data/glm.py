"""Single-trial GLM betas (LSA and LSS) from BOLD runs and BIDS events, with nilearn's GLM.

Each run is masked once (the in-mask time series are what every model of that run sees), the design
matrices are built with :func:`nilearn.glm.first_level.make_first_level_design_matrix`, and every model
is fitted with :class:`nilearn.glm.first_level.FirstLevelModel` on those precomputed designs. The
trial-level betas end in :func:`~neuroperception.data.stack_repeats`, so repeated stimuli stack on the
``repeat`` dim.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import describe
from ..errors import InputError, ShapeError
from .responses import stack_repeats

__all__ = ["single_trial_betas"]

_METHODS = ("lss", "lsa")
_NOISE_MODELS = ("ols", "ar1")
_LSS_OTHERS = ("single", "condition")
_MIN_ONSET = -24.0  # nilearn's compute_regressor(min_onset=-24): earliest onset it models


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _load_run(run: Any, index: int):
    """Load one run as a 4-D NIfTI image (path or image), with a clear error otherwise."""
    import nibabel as nib

    if isinstance(run, (str, os.PathLike)):
        path = Path(run)
        if not path.exists():
            raise FileNotFoundError(f"bold run {index}: {path} does not exist; expected a 4-D NIfTI file")
        img = nib.load(str(path))
    elif isinstance(run, nib.spatialimages.SpatialImage):
        img = run
    else:
        raise InputError(
            f"bold run {index}: received {describe(run)}; expected a 4-D NIfTI image or a path to one"
        )
    if len(img.shape) != 4:
        raise ShapeError(f"bold run {index}: received an image of shape {img.shape}; expected 4-D (x, y, z, time)")
    return img


def _load_events(events: Any, index: int, stimulus_column: str | None) -> pd.DataFrame:
    """Read and check one run's events; return columns onset, duration, stimulus, condition."""
    if isinstance(events, (str, os.PathLike)):
        path = Path(events)
        if not path.exists():
            raise FileNotFoundError(f"events run {index}: {path} does not exist; expected a BIDS events.tsv")
        table = pd.read_csv(path, sep="\t")
    elif isinstance(events, pd.DataFrame):
        table = events
    else:
        raise InputError(
            f"events run {index}: received {type(events).__name__}; expected a path to events.tsv or a DataFrame"
        )
    columns = [str(c) for c in table.columns]
    column = stimulus_column
    if column is None:
        column = "stimulus_id" if "stimulus_id" in table.columns else "trial_type"
    missing = [c for c in ("onset", "duration", column) if c not in table.columns]
    if missing:
        what = f"{column!r}" if stimulus_column else "'stimulus_id' or 'trial_type'"
        raise InputError(
            f"events run {index}: no column {missing}; found columns {columns}; expected 'onset', 'duration' "
            f"and {what} naming the stimulus of each trial"
        )
    out = pd.DataFrame({
        "onset": pd.to_numeric(table["onset"], errors="coerce").to_numpy(float),
        "duration": pd.to_numeric(table["duration"], errors="coerce").to_numpy(float),
        "stimulus": table[column].to_numpy(),
        "condition": table["trial_type"].to_numpy() if "trial_type" in table.columns else "all",
    })
    for col in ("onset", "duration"):
        bad = np.flatnonzero(~np.isfinite(out[col].to_numpy()))
        if bad.size:
            raise InputError(
                f"events run {index}: {bad.size} NaN/non-numeric {col} values (rows {bad[:5].tolist()}); "
                f"expected a number of seconds on every row"
            )
    if (out["duration"] < 0).any():
        rows = np.flatnonzero(out["duration"].to_numpy() < 0)
        raise InputError(f"events run {index}: negative duration on rows {rows[:5].tolist()}; expected >= 0")
    if pd.isna(out["stimulus"]).any():
        rows = np.flatnonzero(pd.isna(out["stimulus"]).to_numpy())
        raise InputError(f"events run {index}: missing {column!r} on rows {rows[:5].tolist()}; expected a stimulus id")
    if out.empty:
        raise InputError(f"events run {index}: received no events; expected at least one trial")
    out["stimulus"] = out["stimulus"].astype(str)
    out["condition"] = out["condition"].astype(str)
    return out.sort_values("onset", kind="stable").reset_index(drop=True)


def _check_timing(
    events: pd.DataFrame, n_scans: int, t_r: float, index: int, slice_time_ref: float = 0.0
) -> None:
    """Events must lie in the run; BIDS allows negative onsets (events before the first stored scan).

    nilearn models events from ``_MIN_ONSET`` seconds before the first frame time and silently drops
    earlier ones, so those are an error here.
    """
    length = n_scans * t_r
    first = slice_time_ref * t_r + _MIN_ONSET
    end = events["onset"].to_numpy() + events["duration"].to_numpy()
    bad = np.flatnonzero((events["onset"].to_numpy() < first - 1e-9) | (end > length + 1e-6))
    if bad.size:
        row = events.iloc[bad[0]]
        raise InputError(
            f"events run {index}: {bad.size} events outside the run (e.g. onset={row['onset']:g} s, "
            f"duration={row['duration']:g} s); expected {first:g} <= onset (nilearn drops earlier events) "
            f"and onset + duration <= {length:g} s ({n_scans} scans x t_r={t_r:g} s)"
        )


def _check_confounds(conf: Any, n_scans: int, index: int) -> np.ndarray:
    arr = np.asarray(conf, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n_scans or not np.isfinite(arr).all():
        raise InputError(
            f"confounds run {index}: received {describe(arr)}; expected finite ({n_scans}, n_confounds) "
            "with one row per scan"
        )
    return arr


def _make_masker(mask: Any, runs: list):
    """A fitted NiftiMasker: nilearn's EPI mask over all runs (None), every voxel (False), or ``mask``."""
    from nilearn.maskers import MultiNiftiMasker, NiftiMasker

    if isinstance(mask, NiftiMasker):
        return mask if hasattr(mask, "mask_img_") else mask.fit(runs[0])
    if mask is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Computed an empty mask")  # raised below, with advice
            mask_img = MultiNiftiMasker(mask_strategy="epi", standardize=None).fit(runs).mask_img_
        if not np.asarray(mask_img.dataobj).any():
            raise InputError(
                "mask: nilearn's automatic EPI mask of the runs is empty; expected brain-like images, or pass "
                "a mask image (or mask=False for every voxel)"
            )
    elif mask is False:
        import nibabel as nib

        mask_img = nib.Nifti1Image(np.ones(runs[0].shape[:3], dtype=np.uint8), runs[0].affine)
    else:
        if isinstance(mask, (str, os.PathLike)) and not Path(mask).exists():
            raise FileNotFoundError(f"mask: {mask} does not exist; expected a 3-D binary NIfTI mask")
        mask_img = mask
    return NiftiMasker(mask_img=mask_img, standardize=None).fit()


def _voxel_xyz(masker) -> np.ndarray:
    import nibabel as nib

    mask_img = masker.mask_img_
    ijk = np.argwhere(np.asarray(mask_img.dataobj).astype(bool))
    return nib.affines.apply_affine(mask_img.affine, ijk)


def _compact(series: np.ndarray):
    """Wrap masked time series ``(time, voxel)`` as a ``(voxel, 1, 1, time)`` image plus its masker."""
    import nibabel as nib
    from nilearn.maskers import NiftiMasker

    n_vox = series.shape[1]
    img = nib.Nifti1Image(np.ascontiguousarray(series.T.reshape(n_vox, 1, 1, -1), dtype=np.float32), np.eye(4))
    mask = nib.Nifti1Image(np.ones((n_vox, 1, 1), dtype=np.uint8), np.eye(4))
    return img, NiftiMasker(mask_img=mask, standardize=None).fit()


def _design(frame_times, names, events, confounds, opts):
    from nilearn.glm.first_level import make_first_level_design_matrix

    table = pd.DataFrame({"onset": events["onset"], "duration": events["duration"], "trial_type": names})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zero-duration events are modelled as deltas
        return make_first_level_design_matrix(
            frame_times, table, hrf_model=opts["hrf_model"], drift_model=opts["drift_model"],
            high_pass=opts["high_pass"], add_regs=confounds,
            add_reg_names=None if confounds is None else [f"confound_{k}" for k in range(confounds.shape[1])],
        )


def _fit_betas(img, masker, design, columns, opts) -> np.ndarray:
    """Fit one FirstLevelModel on a precomputed design; return the effect sizes of ``columns``."""
    from nilearn.glm.first_level import FirstLevelModel

    model = FirstLevelModel(
        mask_img=masker, noise_model=opts["noise_model"], signal_scaling=opts["signal_scaling"],
        minimize_memory=True, reports=False,
    )
    model.fit(img, design_matrices=[design])
    out = []
    for col in columns:
        contrast = (design.columns == col).astype(float)
        effect = model.compute_contrast(contrast, output_type="effect_size")
        out.append(np.asarray(masker.transform(effect)).ravel())
    return np.stack(out)


def _check_rank(design: pd.DataFrame, index: int) -> None:
    if design.shape[1] >= design.shape[0] or np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise InputError(
            f"run {index}: the design has {design.shape[1]} columns for {design.shape[0]} scans and is rank "
            "deficient; expected fewer trials per run than scans (use method='lss' or fewer drift terms)"
        )


@fill_doc
def single_trial_betas(
    bold: Any,
    events: Any,
    t_r: float,
    method: str = "lss",
    mask: Any = None,
    hrf_model: str = "glover",
    drift_model: str | None = "cosine",
    high_pass: float = 0.01,
    noise_model: str = "ols",
    progress: bool | None = None,
    *,
    stimulus_column: str | None = None,
    lss_others: str = "single",
    confounds: Any = None,
    signal_scaling: Any = 0,
    slice_time_ref: float = 0.0,
) -> xr.DataArray:
    """Estimate one beta per trial with a GLM and stack repeated stimuli on ``repeat``.

    Two classic single-trial designs (Mumford et al., 2012, NeuroImage 59:2636):

    * ``"lsa"`` (least squares all): one model per run with one regressor per trial;
    * ``"lss"`` (least squares separate): per trial, a model with that trial as one regressor and every
      other trial of the run as a single nuisance regressor (``lss_others="single"``) or as one nuisance
      regressor per ``trial_type`` condition (``lss_others="condition"``). Less sensitive to the
      collinearity of closely spaced trials; one fit per trial.

    Every model also holds the drift terms, a constant and ``confounds``, is built with
    :func:`nilearn.glm.first_level.make_first_level_design_matrix` and fitted with
    :class:`nilearn.glm.first_level.FirstLevelModel`; a trial's beta is its regressor's effect size.
    With the default ``signal_scaling=0`` the data are mean-scaled per voxel (nilearn's default), so
    betas are in percent signal change.

    Parameters
    ----------
    bold : str, path, nibabel image, or list of those
        One 4-D NIfTI ``(x, y, z, time)`` per run.
    events : str, path, pandas.DataFrame, or list of those
        One BIDS ``events.tsv`` (tab-separated) or table per run, with ``onset`` and ``duration``
        (seconds from the first scan) and the stimulus of each trial in ``stimulus_column``: by default
        ``stimulus_id`` when the table has it, else ``trial_type``. Trials are taken in onset order.
    t_r : float
        Repetition time in seconds.
    method : {"lss", "lsa"}
    mask : None, False, str, path, 3-D image or fitted NiftiMasker
        None: nilearn's EPI mask computed over all runs (as ``FirstLevelModel`` does); False: every
        voxel; otherwise a binary mask in the space of ``bold``.
    hrf_model : str
        Any nilearn HRF model but ``"fir"`` (``"glover"``, ``"spm"``, ``"glover + derivative"``...);
        the trial's beta is the coefficient of the main (non-derivative) regressor.
    drift_model : {"cosine", "polynomial", None}
    high_pass : float
        Cut-off of the cosine drift model in Hz.
    noise_model : {"ols", "ar1"}
    %(progress)s
        The bar runs over trials.
    stimulus_column : str, optional
        Events column naming the stimulus of each trial.
    lss_others : {"single", "condition"}
        How LSS models the other trials (``"condition"`` groups them by ``trial_type``).
    confounds : array-like or list of array-like, optional
        Per run ``(n_scans, n_confounds)`` nuisance regressors (motion...).
    signal_scaling : False, 0, 1 or (0, 1)
        Passed to ``FirstLevelModel`` (0: percent signal change per voxel; False: raw units).
    slice_time_ref : float
        Reference slice as a fraction of ``t_r`` (frame ``k`` is at ``(k + slice_time_ref) * t_r``).

    Returns
    -------
    xarray.DataArray
        ``("repeat", "stimulus", "voxel")`` from :func:`~neuroperception.data.stack_repeats`, stimuli in
        order of first appearance, ``x``/``y``/``z`` voxel coordinates in mm, and attrs recording the
        method, HRF, noise model, ``t_r``, units, the mask's ``affine`` (16 values, row major) and
        ``mask_shape``.

    Raises
    ------
    InputError
        ``t_r`` <= 0, ``slice_time_ref`` outside [0, 1], unknown option, NaN onsets, events outside a run
        (onsets earlier than 24 s before the first frame, which nilearn would drop, or events ending
        after the last scan; negative onsets are valid BIDS), missing events columns, runs and events
        (or confounds) of different counts, a rank-deficient LSA design.
    ShapeError
        ``bold`` not 4-D.
    FileNotFoundError
        A named file does not exist.

    Examples
    --------
    >>> import numpy as np, nibabel as nib, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> bold = nib.Nifti1Image(100 + rng.normal(size=(2, 2, 1, 80)).astype("float32"), np.eye(4))
    >>> events = pd.DataFrame({"onset": [10.0, 30, 50, 65], "duration": 1.0,
    ...                        "stimulus_id": ["a", "b", "a", "c"]})
    >>> betas = single_trial_betas(bold, events, t_r=1.0, mask=False)
    >>> betas.dims, betas.sizes["repeat"], betas["stimulus_id"].values.tolist()
    (('repeat', 'stimulus', 'voxel'), 2, ['a', 'b', 'c'])
    """
    try:
        t_r = float(t_r)
    except (TypeError, ValueError):
        raise InputError(f"t_r: received {t_r!r}; expected a repetition time in seconds > 0") from None
    if not np.isfinite(t_r) or t_r <= 0:
        raise InputError(f"t_r: received {t_r!r}; expected a repetition time in seconds > 0")
    if isinstance(slice_time_ref, bool) or not isinstance(slice_time_ref, Real) or not 0 <= slice_time_ref <= 1:
        raise InputError(f"slice_time_ref: received {slice_time_ref!r}; expected a fraction of t_r in [0, 1]")
    for name, value, allowed in (("method", method, _METHODS), ("noise_model", noise_model, _NOISE_MODELS),
                                 ("lss_others", lss_others, _LSS_OTHERS)):
        if value not in allowed:
            raise InputError(f"{name}: received {value!r}; expected one of {list(allowed)}")
    if not isinstance(hrf_model, str) or hrf_model == "fir":
        raise InputError(f"hrf_model: received {hrf_model!r}; expected a nilearn HRF model name other than 'fir'")
    runs = [_load_run(r, k) for k, r in enumerate(_as_list(bold))]
    ev_list = _as_list(events)
    if len(ev_list) != len(runs):
        raise InputError(
            f"events: received {len(ev_list)} events tables for {len(runs)} bold runs; expected one per run"
        )
    conf_list = _as_list(confounds) if confounds is not None else [None] * len(runs)
    if len(conf_list) != len(runs):
        raise InputError(
            f"confounds: received {len(conf_list)} tables for {len(runs)} bold runs; expected one per run"
        )
    tables = [_load_events(e, k, stimulus_column) for k, e in enumerate(ev_list)]
    for k, (run, table, conf) in enumerate(zip(runs, tables, conf_list)):
        _check_timing(table, run.shape[3], t_r, k, slice_time_ref)
        if conf is not None:
            conf_list[k] = _check_confounds(conf, run.shape[3], k)

    masker = _make_masker(mask, runs)
    opts = {"hrf_model": hrf_model, "drift_model": drift_model, "high_pass": high_pass,
            "noise_model": noise_model, "signal_scaling": signal_scaling}
    n_trials = sum(len(t) for t in tables)
    betas, ids = [], []
    with progress_bar(None, progress, total=n_trials, unit="trial", desc=f"single-trial betas ({method})") as bar:
        for k, (run, table, conf) in enumerate(zip(runs, tables, conf_list)):
            n_scans = run.shape[3]
            frame_times = (np.arange(n_scans) + slice_time_ref) * t_r
            img, compact_masker = _compact(np.asarray(masker.transform(run), dtype=np.float32))
            names = [f"trial_{i:05d}" for i in range(len(table))]
            if method == "lsa":
                design = _design(frame_times, names, table, conf, opts)
                _check_rank(design, k)
                betas.append(_fit_betas(img, compact_masker, design, names, opts))
                bar.update(len(table))
            else:
                for i in range(len(table)):
                    if lss_others == "condition":
                        others = ("others_" + table["condition"]).tolist()
                    else:
                        others = ["others"] * len(table)
                    others[i] = "trial"
                    design = _design(frame_times, others, table, conf, opts)
                    betas.append(_fit_betas(img, compact_masker, design, ["trial"], opts))
                    bar.update(1)
            ids.extend(table["stimulus"].tolist())
    affine = masker.mask_img_.affine
    attrs = {
        "source": "single_trial_betas", "method": method, "hrf_model": hrf_model, "noise_model": noise_model,
        "t_r": t_r, "units": "BOLD units" if signal_scaling is False else "percent signal change",
        "affine": np.asarray(affine, dtype=float).ravel().tolist(),
        "mask_shape": list(masker.mask_img_.shape[:3]),
    }
    return stack_repeats(np.concatenate(betas, axis=0), ids, xyz=_voxel_xyz(masker), attrs=attrs)
