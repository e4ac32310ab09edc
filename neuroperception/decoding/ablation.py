"""ROI ablation: which regions carry the decoded information.

:func:`roi_ablation` refits a decoder on the training stimuli with all voxels, with each ROI
removed and with each ROI alone, and scores every fit on the held-out stimuli by top-k retrieval
(brain→image) and 2-way identification. The drop in retrieval when an ROI is removed measures
what only that ROI carries; the score of an ROI alone measures what it carries at all. :func:`roi_ablation_subjects` runs it for every
subject of a :class:`~neuroperception.data.Subjects` (each with its own voxels and ROIs) into one
table with a ``subject`` column, and :func:`ablation_summary` summarises that table across subjects.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import describe, seed_from
from ..data import Subjects
from ..errors import AlignmentError, InputError, ShapeError
from ..encoding._dask import fresh_copy
from ..encoding._inputs import held_out_positions
from ._inputs import decoding_data
from ._shared_ablation import shared_ablation
from .retrieval import retrieval_accuracy, two_way_identification
from .shared import SharedSpaceDecoder

__all__ = ["roi_ablation", "roi_ablation_subjects", "ablation_summary"]


def _evaluate(decoder: Any, resp: xr.DataArray, feats: xr.DataArray, train: np.ndarray, test: np.ndarray,
              ks: tuple[int, ...], n_way: int | None, random_state: int) -> dict[str, float]:
    model = fresh_copy(decoder)
    model.fit(resp.isel(stimulus=train), feats.isel(stimulus=train))
    pred = model.predict(resp.isel(stimulus=test))
    target = feats.isel(stimulus=test)
    if np.shape(pred) != target.shape:
        raise ShapeError(f"decoder.predict: returned shape {np.shape(pred)}; expected {target.shape} "
                         "(stimulus, feature)")
    table = retrieval_accuracy(pred, target, k=ks, n_way=n_way, direction="brain_to_image", random_state=random_state)
    out = {f"top-{k}": float(table[f"top-{k}"].iloc[0]) for k in ks}
    out["identification"] = two_way_identification(pred, target, metric="correlation")
    out["chance"] = float(table[f"chance-{ks[0]}"].iloc[0])
    return out


@fill_doc
def roi_ablation(decoder: Any, responses: Any, features: Any, rois: Sequence[str] | None = None, test: Any = 0.2,
                 k: Any = (1,), n_way: int | None = None, random_state: int | np.random.Generator | None = 0,
                 progress: bool | None = None) -> pd.DataFrame:
    """Refit a decoder with all voxels, each ROI removed and each ROI alone; score on held-out stimuli.

    Parameters
    ----------
    decoder : estimator
        Anything with ``fit(X, y)`` (responses, features) and ``predict(X)`` (e.g.
        :class:`~neuroperception.decoding.ridge_decoder.RidgeDecoder`); copied with
        ``sklearn.base.clone`` for every condition, so it is never modified.
    responses : xarray.DataArray
        ``("stimulus", "voxel")`` or ``("repeat", "stimulus", "voxel")`` with a ``roi`` coordinate.
    features : xarray.DataArray or numpy.ndarray
        ``("stimulus", "feature")`` (maps flattened). Matched to the responses by ``stimulus_id``
        when both carry ids, by position when neither does (ids on one side only are an error).
    rois : sequence of str, optional
        ROIs to ablate; default every ``roi`` label, in order of appearance.
    test : float, sequence of int or sequence of str
        Held-out stimuli: a fraction drawn with ``random_state``, positions, or ``stimulus_id``
        values. At least 2 training and 2 test stimuli.
    k : int or tuple of int
        Retrieval ranks reported (``top-k`` columns); ``drop`` uses the first.
    n_way : int, optional
        Candidates per retrieval (see :func:`~neuroperception.decoding.retrieval.retrieval_accuracy`);
        default: all test stimuli.
    %(random_state)s
        It seeds the test split and the ``n_way`` subsets (one seed for all conditions, so every
        condition is scored on the same subsets).
    %(progress)s
        The bar runs over the ``1 + 2 * n_rois`` fits.

    Returns
    -------
    pandas.DataFrame
        Columns ``condition`` (``"all"``, ``"without"``, ``"only"``), ``roi`` (``"all"`` for all
        voxels), ``n_voxels``, ``top-k`` for each ``k``, ``identification`` (2-way, correlation),
        ``drop`` (``top-k`` of all voxels minus the condition's, first ``k``) and
        ``identification_drop``. The "all" row comes first, then the "without" rows with the
        largest drop first (ties broken by ``identification_drop``), then the "only" rows in the
        same ROI order. A condition without voxels has NaN scores. ``attrs`` hold ``chance``
        (``k/m`` of the first ``k``), ``n_train``, ``n_test``, ``k``, ``n_way``.

    Raises
    ------
    InputError
        Responses without a ``roi`` coordinate, unknown ROIs, bad ``test``.
    AlignmentError
        Responses and features (or ``test`` ids) with different stimuli, or ids on one side only.

    Examples
    --------
    >>> from neuroperception.data import make_responses
    >>> from neuroperception.decoding.ridge_decoder import RidgeDecoder
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(60, 4))
    >>> r = make_responses(np.hstack([z @ rng.normal(size=(4, 10)), rng.normal(size=(60, 10))]),
    ...                    roi=["IT"] * 10 + ["V1"] * 10)
    >>> f = xr.DataArray(z, dims=("stimulus", "feature"), coords={"stimulus_id": r["stimulus_id"]})
    >>> table = roi_ablation(RidgeDecoder(alphas=[1.0, 100.0]), r, f)
    >>> table[["condition", "roi", "n_voxels"]].values.tolist()
    [['all', 'all', 20], ['without', 'IT', 10], ['without', 'V1', 10], ['only', 'IT', 10], ['only', 'V1', 10]]
    """
    data = decoding_data(responses, features)
    if "roi" not in data.voxel_coords:
        raise InputError("responses: received no 'roi' coordinate on the voxel dim; expected one roi label per voxel "
                         "(e.g. make_responses(..., roi=labels))")
    labels = data.voxel_coords["roi"].astype(str)
    present = list(dict.fromkeys(labels.tolist()))
    if rois is None:
        names = present
    else:
        names = [rois] if isinstance(rois, str) else [str(r) for r in rois]
        unknown = [r for r in names if r not in present]
        if not names or unknown or len(set(names)) != len(names):
            raise InputError(f"rois: received {rois!r}; expected distinct labels among {present}")
    ks = tuple([k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k)
    resp = data.responses
    feats = data.features if data.features is not None else xr.DataArray(data.Y, dims=("stimulus", "feature"))
    n = data.X.shape[0]
    if n < 4:
        raise InputError(f"responses: received {n} stimuli; expected at least 4 (2 to train, 2 to test)")
    seed = seed_from(random_state)
    test_idx = held_out_positions(test, data.stimulus_ids, n, seed)
    train_idx = np.setdiff1d(np.arange(n), test_idx)
    if train_idx.size < 2 or test_idx.size < 2:
        raise InputError(f"test: leaves {train_idx.size} training and {test_idx.size} test stimuli; expected at least "
                         "2 of each")
    conditions = [("all", "all", np.ones(labels.size, bool))]
    conditions += [("without", r, labels != r) for r in names]
    conditions += [("only", r, labels == r) for r in names]
    items = progress_bar(conditions, progress, desc="ROI ablation", unit="fit")
    rows = []
    score_names = [f"top-{kk}" for kk in ks] + ["identification"]
    chance = np.nan
    for condition, roi, mask in items:
        row = {"condition": condition, "roi": roi, "n_voxels": int(mask.sum())}
        if mask.any():
            got = _evaluate(decoder, resp.isel(voxel=np.flatnonzero(mask)), feats, train_idx, test_idx, ks, n_way,
                            seed)
            chance = got.pop("chance")
            row.update(got)
        else:
            row.update({s: np.nan for s in score_names})
        rows.append(row)
    table = pd.DataFrame(rows)
    first = f"top-{ks[0]}"
    table["drop"] = table.loc[0, first] - table[first]
    table["identification_drop"] = table.loc[0, "identification"] - table["identification"]
    without = table[table["condition"] == "without"].sort_values(["drop", "identification_drop"], ascending=False,
                                                                 kind="stable", na_position="last")
    order = {r: i for i, r in enumerate(without["roi"])}
    only = table[table["condition"] == "only"].sort_values("roi", key=lambda s: s.map(order), kind="stable")
    table = pd.concat([table.iloc[:1], without, only], ignore_index=True)
    table.attrs.update(chance=chance, n_train=int(train_idx.size), n_test=int(test_idx.size), k=list(ks),
                       n_way=n_way, metric=first)
    return table


@fill_doc
def roi_ablation_subjects(decoder: Any, subjects: Any, features: Any, rois: Sequence[str] | None = None,
                          test: Any = 0.2, k: Any = (1,), n_way: int | None = None,
                          random_state: int | np.random.Generator | None = 0,
                          progress: bool | None = None) -> pd.DataFrame:
    """:func:`roi_ablation` for every subject, each with its own voxels, ROIs and stimuli: one table.

    Each subject's decoder is fitted and scored on that subject's stimuli only (retrieval among its
    held-out stimuli, 2-way identification), so the table reads per subject; :func:`ablation_summary`
    gives the across-subject view.

    With a :class:`~neuroperception.decoding.SharedSpaceDecoder` the ablation is joint: for every
    condition one shared model is fitted on all subjects with the ROI removed (or kept alone) in each of
    them, and every subject is scored on the same stimuli, drawn by ``test`` from those all subjects saw
    and held out of the fit for every subject (so the shared head never sees their features). Every
    subject must have the ablated ROIs; where a condition leaves a subject fewer voxels than
    ``n_components``, that condition's shared space has that many components (the ``n_components``
    column).

    Parameters
    ----------
    decoder : estimator
        As for :func:`roi_ablation` (cloned for every subject and condition).
    subjects : Subjects or mapping of str to xarray.DataArray
        Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id`` and a ``roi`` coordinate.
    features : xarray.DataArray
        ``("stimulus", "feature")`` with ``stimulus_id``, covering every stimulus of every subject
        (each subject uses the rows of the stimuli it saw).
    rois : sequence of str, optional
        ROIs to ablate in every subject (each must have them); default each subject's own labels.
    test, k, n_way
        As for :func:`roi_ablation`, per subject (``test`` ids that a subject did not see are an error);
        for a shared-space decoder, a fraction, positions or ids of the stimuli all subjects saw.
    %(random_state)s
        One seed for every subject: the ``int`` it resolves to is passed to each subject's ablation.
    %(progress)s
        The bar runs over the subjects.

    Returns
    -------
    pandas.DataFrame
        :func:`roi_ablation`'s columns with ``subject`` first, the subjects in order, each subject's
        rows in :func:`roi_ablation`'s order. ``attrs`` hold ``k``, ``n_way``, ``metric`` and, per
        subject, ``chance``, ``n_train`` and ``n_test`` (dicts keyed by subject); for a shared-space
        decoder also ``test_ids``, ``shared=True`` and an ``n_components`` column.

    Raises
    ------
    InputError
        Not subjects, features without ``stimulus_id``, a subject without ``roi``, unknown ROIs.
    AlignmentError
        A subject with stimuli that have no features.

    Examples
    --------
    >>> from neuroperception.data import make_responses
    >>> from neuroperception.decoding.ridge_decoder import RidgeDecoder
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(60, 4))
    >>> ids = [f"s{i}" for i in range(60)]
    >>> f = xr.DataArray(z, dims=("stimulus", "feature"), coords={"stimulus_id": ("stimulus", ids)})
    >>> subs = {s: make_responses(np.hstack([z @ rng.normal(size=(4, v)), rng.normal(size=(60, 8))]), ids,
    ...                           roi=["IT"] * v + ["V1"] * 8) for s, v in (("a", 6), ("b", 12))}
    >>> table = roi_ablation_subjects(RidgeDecoder(alphas=[1.0, 100.0]), subs, f)
    >>> table[["subject", "condition", "roi", "n_voxels"]].values.tolist()[:3]
    [['a', 'all', 'all', 14], ['a', 'without', 'IT', 8], ['a', 'without', 'V1', 6]]
    """
    if isinstance(subjects, Subjects):
        subs = subjects
    elif isinstance(subjects, Mapping):
        subs = Subjects(subjects)
    else:
        raise InputError(f"subjects: received {describe(subjects)}; expected Subjects or a mapping subject -> "
                         "responses ('stimulus', 'voxel') with stimulus_id and roi")
    if not isinstance(features, xr.DataArray) or "stimulus_id" not in features.coords:
        raise InputError(f"features: received {describe(features)}; expected an xarray.DataArray "
                         "('stimulus', 'feature') with a stimulus_id coordinate (matched to each subject by id)")
    feature_ids = np.asarray(features["stimulus_id"].values).astype(str)
    seed = seed_from(random_state)
    if isinstance(decoder, SharedSpaceDecoder):
        ks = tuple([k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k)
        return shared_ablation(decoder, subs, features, rois, test, ks, n_way, seed, progress)
    tables, chance, n_train, n_test = [], {}, {}, {}
    for name in progress_bar(list(subs), progress, desc="ROI ablation per subject", unit="subject"):
        responses = subs[name]
        ids = np.asarray(responses["stimulus_id"].values).astype(str)
        missing = sorted(set(ids) - set(feature_ids))
        if missing:
            raise AlignmentError(f"features: received no features for {len(missing)} stimuli of subject {name!r} "
                                 f"(e.g. {missing[:3]}); expected features for every stimulus a subject saw")
        position = {i: p for p, i in enumerate(feature_ids)}
        table = roi_ablation(decoder, responses, features.isel(stimulus=[position[i] for i in ids]), rois=rois,
                             test=test, k=k, n_way=n_way, random_state=seed, progress=False)
        chance[name], n_train[name], n_test[name] = table.attrs["chance"], table.attrs["n_train"], table.attrs["n_test"]
        attrs = {key: table.attrs[key] for key in ("k", "n_way", "metric")}
        table.insert(0, "subject", name)
        tables.append(table)
    out = pd.concat([t.copy() for t in tables], ignore_index=True)
    out.attrs = {**attrs, "chance": chance, "n_train": n_train, "n_test": n_test}
    return out


def ablation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Across-subject summary of :func:`roi_ablation_subjects`: one row per condition and ROI.

    Parameters
    ----------
    table : pandas.DataFrame
        The table :func:`roi_ablation_subjects` returns (a ``subject`` column and
        :func:`roi_ablation`'s columns).

    Returns
    -------
    pandas.DataFrame
        Columns ``condition``, ``roi``, ``n_subjects`` (subjects that have the ROI), the mean over
        subjects of every score (``top-k``, ``identification``, ``drop``, ``identification_drop``),
        ``drop_low`` and ``drop_high`` (the t 95% interval of the mean drop over subjects; NaN with one
        subject) and ``n_first`` (for the ``"without"`` rows, the number of subjects in which removing
        that ROI costs the most, ties broken by ``identification_drop``; 0 for the other rows). Rows in
        the order of the first subject's table, then ROIs it lacks.

    Raises
    ------
    InputError
        A table without the ``subject``, ``condition``, ``roi`` and ``drop`` columns.

    Examples
    --------
    >>> t = pd.DataFrame({"subject": ["a", "a", "b", "b"], "condition": ["all", "without"] * 2,
    ...                   "roi": ["all", "IT"] * 2, "top-1": [0.9, 0.1, 0.8, 0.2],
    ...                   "drop": [0.0, 0.8, 0.0, 0.6]})
    >>> ablation_summary(t)[["condition", "roi", "n_subjects", "drop", "n_first"]].values.tolist()
    [['all', 'all', 2, 0.0, 0], ['without', 'IT', 2, 0.7, 2]]
    """
    from scipy import stats

    need = {"subject", "condition", "roi", "drop"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise InputError(f"table: received {describe(table)}; expected the DataFrame of roi_ablation_subjects "
                         f"(columns {sorted(need)} and the scores)")
    scores = [c for c in table.columns if c.startswith("top-")] + \
        [c for c in ("identification", "drop", "identification_drop") if c in table.columns]
    without = table[table["condition"] == "without"]
    keys = ["drop", "identification_drop"] if "identification_drop" in table.columns else ["drop"]
    firsts = without.sort_values(keys, ascending=False, kind="stable", na_position="last").groupby(
        "subject", sort=False).head(1)["roi"].value_counts()
    rows = []
    for (condition, roi), group in table.groupby(["condition", "roi"], sort=False):
        row = {"condition": condition, "roi": roi, "n_subjects": int(group["subject"].nunique())}
        row.update({c: float(group[c].mean()) for c in scores})
        drops = group["drop"].dropna().to_numpy(dtype=float)
        if drops.size > 1:
            half = float(stats.t.ppf(0.975, drops.size - 1) * drops.std(ddof=1) / np.sqrt(drops.size))
        else:
            half = np.nan
        row["drop_low"], row["drop_high"] = row["drop"] - half, row["drop"] + half
        row["n_first"] = int(firsts.get(roi, 0)) if condition == "without" else 0
        rows.append(row)
    return pd.DataFrame(rows)
