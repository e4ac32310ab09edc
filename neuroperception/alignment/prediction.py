"""Cross-subject prediction: one subject's voxels predicted from another's responses to held-out stimuli."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from sklearn.base import clone

from .._validation import describe
from ..errors import AlignmentError, InputError
from . import _inputs
from .pairwise import RidgeAlignment, _PairwiseAlignment
from .srm import SharedResponseModel

__all__ = ["predict_subject"]


def predict_subject(subjects: Any, source: str, target: str, stimulus_id: Any, *, model: Any = None) -> xr.DataArray:
    """Predict ``target``'s voxels from ``source``'s responses to stimuli held out of the alignment.

    The alignment ``model`` is fitted on the stimuli both subjects saw, leaving out ``stimulus_id``;
    then ``source``'s responses to ``stimulus_id`` are mapped into ``target``'s voxels. The target
    need not have seen the held-out stimuli (that is the point in NSD, where most images are seen by
    one subject); where it did, its responses score the prediction.

    Parameters
    ----------
    subjects : Subjects or mapping of str to xarray.DataArray
        Subject → ``("stimulus", "voxel")`` responses with ``stimulus_id``.
    source, target : str
        The subject whose responses are given and the subject whose voxels are predicted.
    stimulus_id : str or sequence of str
        The held-out stimuli: seen by ``source``, excluded from fitting.
    model : estimator, optional
        A pairwise alignment (:class:`ProcrustesAlignment`, :class:`RidgeAlignment`, default
        ``RidgeAlignment()``), fitted on the source and target alone; or a :class:`SharedResponseModel`,
        fitted on every subject over the stimuli all of them saw (minus the held-out ones). It is
        cloned: the object passed is not fitted.

    Returns
    -------
    xarray.DataArray
        ``("stimulus", "voxel")``: the held-out stimuli (their ``stimulus_id``, in the order given) ×
        ``target``'s voxels with their coordinates; ``attrs`` record ``source``, ``target`` and the
        model's class.

    Raises
    ------
    InputError
        Unknown subjects, ``source`` equal to ``target``, held-out ids the source did not see, or a
        model that is not an alignment estimator.
    AlignmentError
        No stimulus left to fit the alignment on.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from neuroperception.data import simulate_subjects
    >>> f = xr.DataArray(np.random.default_rng(0).standard_normal((150, 12)), dims=("stimulus", "feature"))
    >>> sim = simulate_subjects(f, n_subjects=2, n_voxels=[40, 50], n_components=6, snr=2.0, shared=0.6)
    >>> held_out = sim.shared_stimuli[:20]
    >>> pred = predict_subject(sim.subjects, "subj01", "subj02", held_out)
    >>> truth = sim.subjects["subj02"].set_index(stimulus="stimulus_id").sel(stimulus=held_out)
    >>> r = [np.corrcoef(pred.values[:, v], truth.values[:, v])[0, 1] for v in range(pred.sizes["voxel"])]
    >>> pred.shape, bool(np.median(r) > 0.5)
    ((20, 50), True)
    """
    subjects = _inputs.subjects_of(subjects, "subjects")
    for name, value in (("source", source), ("target", target)):
        if not isinstance(value, str) or value not in subjects:
            raise InputError(f"{name}: received {value!r}; expected one of the subjects {list(subjects)}")
    if source == target:
        raise InputError(f"source, target: received {source!r} twice; expected two different subjects")
    model = RidgeAlignment() if model is None else model
    if not isinstance(model, (_PairwiseAlignment, SharedResponseModel)):
        raise InputError(f"model: received {describe(model)}; expected ProcrustesAlignment, RidgeAlignment or "
                         "SharedResponseModel")
    held = [stimulus_id] if isinstance(stimulus_id, str) else [str(i) for i in np.asarray(stimulus_id).ravel()]
    if not held or len(set(held)) != len(held):
        raise InputError(f"stimulus_id: received {describe(stimulus_id)}; expected distinct held-out ids")
    source_ids = set(subjects.stimulus_ids(source))
    unseen = [i for i in held if i not in source_ids]
    if unseen:
        raise InputError(f"stimulus_id: {len(unseen)} held-out ids were not seen by the source {source!r} "
                         f"(first: {unseen[:5]}); expected ids of its responses")
    held_set = set(held)
    pool = subjects if isinstance(model, SharedResponseModel) else subjects.select(subject=[source, target])
    train = [i for i in pool.shared_stimuli() if i not in held_set]
    if not train:
        raise AlignmentError(f"subjects {list(pool)}: share no stimulus outside the {len(held)} held-out ones; "
                             "expected shared stimuli to fit the alignment on")
    fitted = clone(model)
    test = subjects.select(stimulus_id=held, subject=source)[source]
    if isinstance(fitted, SharedResponseModel):
        fitted.fit(pool.select(stimulus_id=train))
        pred = fitted.inverse_transform(fitted.transform(test, subject=source), subject=target)
    else:
        pair = pool.select(stimulus_id=train)
        fitted.fit(pair[source], pair[target])
        pred = fitted.predict(test)
    pred.name = "predicted responses"
    pred.attrs = {"source": source, "target": target, "model": type(fitted).__name__}
    return pred
