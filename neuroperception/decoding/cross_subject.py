"""Cross-subject decoding: one subject's decoder applied to another subject's responses.

:func:`cross_subject_decoding` fits a decoder on each subject (its training stimuli), then decodes
every subject's responses to held-out stimuli with every subject's decoder: a subject's own
responses directly, another subject's after functional alignment into the decoder's voxels
(:func:`~neuroperception.alignment.predict_subject`, fitted on the stimuli both saw minus the
held-out ones). The table reads as a train × test matrix of retrieval and 2-way identification; its
diagonal is within-subject decoding, and the off-diagonal shows how much of a decoder carries over
through alignment alone.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._docs import fill_doc
from .._progress import progress_bar
from .._validation import describe, seed_from
from ..alignment import ProcrustesAlignment, RidgeAlignment, SharedResponseModel, predict_subject
from ..alignment._inputs import subjects_of
from ..encoding._dask import fresh_copy
from ..errors import AlignmentError, InputError, ShapeError
from .retrieval import retrieval_accuracy, two_way_identification

__all__ = ["cross_subject_decoding"]


def _features_for(features: xr.DataArray, ids: list[str], name: str) -> xr.DataArray:
    position = {str(i): p for p, i in enumerate(np.asarray(features["stimulus_id"].values))}
    missing = [i for i in ids if i not in position]
    if missing:
        raise AlignmentError(f"features: received no features for {len(missing)} stimuli of {name} (e.g. "
                             f"{missing[:3]}); expected features for every stimulus a subject saw")
    return features.isel(stimulus=[position[i] for i in ids])


def _test_ids(test: Any, shared: list[str], rng: np.random.Generator) -> list[str]:
    if isinstance(test, numbers.Real) and not isinstance(test, bool):
        if not 0 < test < 1:
            raise InputError(f"test: received {test!r}; expected a fraction in (0, 1) or stimulus ids")
        n = max(2, int(round(test * len(shared))))
        return sorted(rng.choice(np.asarray(shared, dtype=object), size=min(n, len(shared)), replace=False).tolist())
    ids = [test] if isinstance(test, str) else [str(i) for i in np.asarray(test, dtype=object).ravel()]
    outside = [i for i in ids if i not in set(shared)]
    if outside or len(set(ids)) != len(ids):
        raise InputError(f"test: received {describe(test)}; expected distinct ids of stimuli every subject saw "
                         f"({len(outside)} are not shared, e.g. {outside[:3]})")
    return ids


@fill_doc
def cross_subject_decoding(decoder: Any, subjects: Any, features: Any, *, alignment: Any = None, test: Any = 0.2,
                           k: Any = (1,), n_way: int | None = None,
                           random_state: int | np.random.Generator | None = 0,
                           progress: bool | None = None) -> pd.DataFrame:
    """Decode every subject's held-out responses with every subject's decoder; a train × test table.

    The held-out stimuli are drawn from the stimuli all subjects saw. Each subject's decoder is fitted
    on all its other stimuli (shared or its own). Subject B's responses to the held-out stimuli reach
    subject A's decoder through ``alignment`` fitted on the stimuli A and B both saw outside the
    held-out set (a :class:`~neuroperception.alignment.SharedResponseModel` on those all subjects saw);
    A's own responses go in directly. Every cell is scored by top-k retrieval among the held-out
    stimuli (brain → image) and 2-way identification (correlation).

    Parameters
    ----------
    decoder : estimator
        ``fit(X, y)`` / ``predict(X)`` on responses and features (e.g.
        :class:`~neuroperception.decoding.ridge_decoder.RidgeDecoder`); cloned per subject.
    subjects : Subjects or mapping of str to xarray.DataArray
        Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id`` (at least two subjects).
    features : xarray.DataArray
        ``("stimulus", "feature")`` with ``stimulus_id`` covering every stimulus of every subject.
    alignment : estimator, optional
        :class:`~neuroperception.alignment.ProcrustesAlignment`,
        :class:`~neuroperception.alignment.RidgeAlignment` (default) or
        :class:`~neuroperception.alignment.SharedResponseModel`, as for
        :func:`~neuroperception.alignment.predict_subject`.
    test : float or sequence of str
        A fraction of the shared stimuli (drawn with ``random_state``, at least 2) or their ids.
    k : int or tuple of int
        Retrieval ranks (``top-k`` columns).
    n_way : int, optional
        Candidates per retrieval (default: all held-out stimuli).
    %(random_state)s
        It seeds the held-out draw and the ``n_way`` subsets.
    %(progress)s
        The bar runs over the decoders (one per subject).

    Returns
    -------
    pandas.DataFrame
        One row per (``train_subject``, ``test_subject``) with ``route`` (``"within"`` or the
        alignment's class name), ``top-k`` for each ``k`` and ``identification``; ``attrs`` hold
        ``chance`` (of the first ``k``), ``n_test``, ``test_ids``, ``k`` and ``n_way``.
        ``table.pivot(index="train_subject", columns="test_subject", values="top-1")`` is the matrix.

    Raises
    ------
    InputError
        Fewer than two subjects, features without ``stimulus_id``, an alignment that is not one of the
        three, bad ``test``.
    AlignmentError
        Fewer than 4 stimuli shared by all subjects, a subject's stimuli without features, or no shared
        stimulus left to align a pair on.

    Examples
    --------
    >>> from neuroperception.data import simulate_subjects
    >>> from neuroperception.decoding import RidgeDecoder
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((200, 8)), dims=("stimulus", "feature"),
    ...                  coords={"stimulus_id": ("stimulus", [f"s{i:03d}" for i in range(200)])})
    >>> sim = simulate_subjects(f, n_subjects=2, n_voxels=[60, 80], n_components=8, snr=2.0, shared=0.7)
    >>> table = cross_subject_decoding(RidgeDecoder(), sim.subjects, f, test=0.2)
    >>> table[["train_subject", "test_subject", "route"]].values.tolist()[:2]
    [['subj01', 'subj01', 'within'], ['subj01', 'subj02', 'RidgeAlignment']]
    >>> bool(table["top-1"].min() > 5 * table.attrs["chance"])
    True
    """
    subs = subjects_of(subjects, "subjects")
    if len(subs) < 2:
        raise InputError(f"subjects: received {len(subs)} subject; expected at least two to decode across")
    if not isinstance(features, xr.DataArray) or "stimulus_id" not in features.coords:
        raise InputError(f"features: received {describe(features)}; expected an xarray.DataArray "
                         "('stimulus', 'feature') with a stimulus_id coordinate (matched to each subject by id)")
    alignment = RidgeAlignment() if alignment is None else alignment
    if not isinstance(alignment, (ProcrustesAlignment, RidgeAlignment, SharedResponseModel)):
        raise InputError(f"alignment: received {describe(alignment)}; expected ProcrustesAlignment, "
                         "RidgeAlignment or SharedResponseModel")
    ks = tuple([k] if isinstance(k, numbers.Integral) and not isinstance(k, bool) else k)
    shared = subs.shared_stimuli()
    if len(shared) < 4:
        raise AlignmentError(f"subjects: share {len(shared)} stimuli; expected at least 4 seen by every subject "
                             "(2 held out to decode, the rest to align on)")
    seed = seed_from(random_state)
    test_ids = _test_ids(test, shared, np.random.default_rng(seed))
    held = set(test_ids)
    target = _features_for(features, test_ids, "the held-out set")
    names = list(subs)
    rows, chance = [], np.nan
    for train in progress_bar(names, progress, desc="cross-subject decoding", unit="decoder"):
        resp = subs[train]
        ids = [str(i) for i in np.asarray(resp["stimulus_id"].values)]
        fit_pos = [p for p, i in enumerate(ids) if i not in held]
        model = fresh_copy(decoder)
        model.fit(resp.isel(stimulus=fit_pos), _features_for(features, [ids[p] for p in fit_pos], repr(train)))
        for other in names:
            if other == train:
                position = {i: p for p, i in enumerate(ids)}
                x, route = resp.isel(stimulus=[position[i] for i in test_ids]), "within"
            else:
                x = predict_subject(subs, other, train, test_ids, model=alignment)
                route = type(alignment).__name__
            pred = model.predict(x)
            if np.shape(pred) != target.shape:
                raise ShapeError(f"decoder.predict: returned shape {np.shape(pred)}; expected {target.shape} "
                                 "(stimulus, feature)")
            table = retrieval_accuracy(pred, target, k=ks, n_way=n_way, direction="brain_to_image",
                                       random_state=seed)
            chance = float(table[f"chance-{ks[0]}"].iloc[0])
            row = {"train_subject": train, "test_subject": other, "route": route}
            row.update({f"top-{kk}": float(table[f"top-{kk}"].iloc[0]) for kk in ks})
            row["identification"] = two_way_identification(pred, target, metric="correlation")
            rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(chance=chance, n_test=len(test_ids), test_ids=test_ids, k=list(ks), n_way=n_way)
    return out
