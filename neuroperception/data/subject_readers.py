"""Readers that load several subjects of a dataset at once into a :class:`~neuroperception.data.Subjects`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .._docs import fill_doc
from .._validation import describe
from ..errors import InputError
from .algonauts import load_algonauts2023
from .nsd import load_nsd_betas, nsd_subject
from .subjects import Subjects

__all__ = ["load_nsd_subjects", "load_algonauts2023_subjects"]


def _nsd_names(subjects: Any) -> list[str]:
    items = [subjects] if isinstance(subjects, (str, int)) else list(subjects) \
        if isinstance(subjects, Sequence) else None
    if not items:
        raise InputError(f"subjects: received {describe(subjects)}; expected NSD subjects (1..8 or 'subj01'..'subj08'), "
                         "one or a list")
    names = [f"subj{nsd_subject(s):02d}" for s in items]
    if len(set(names)) != len(names):
        raise InputError(f"subjects: received {items!r}; expected each subject once")
    return names


@fill_doc
def load_nsd_subjects(
    root: str | os.PathLike,
    subjects: Any,
    sessions: Any,
    space: str = "func1pt8mm",
    preparation: str = "betas_fithrf_GLMdenoise_RR",
    mask: Any = None,
    roi: Any = None,
    format: str = "auto",
    *,
    progress: bool | None = None,
    drop_nonfinite: bool = False,
) -> Subjects:
    """Read several NSD subjects' single-trial betas with :func:`~neuroperception.data.load_nsd_betas`.

    Every argument but ``subjects`` and ``sessions`` is passed on unchanged for every subject, so
    ``mask`` and ``roi`` are best given by name (``"nsdgeneral"``, ``"prf-visualrois"``), which each
    subject resolves in its own folder. Each subject keeps its own voxels; the images all of them
    saw (NSD's shared 1,000, as far as the loaded sessions reach) are
    :meth:`~neuroperception.data.Subjects.shared_stimuli`.

    Parameters
    ----------
    root : str or path
        The NSD root.
    subjects : int, str or sequence of them
        ``1``..``8`` or ``"subj01"``..``"subj08"``; keys of the result are ``"subjNN"``.
    sessions : int, sequence of int, or mapping of subject to them
        1-based session numbers, the same for every subject, or per subject (keys as in ``subjects``).
    space, preparation, mask, roi, format, drop_nonfinite
        As for :func:`~neuroperception.data.load_nsd_betas`.
    %(progress)s
        The bar runs over each subject's sessions.

    Returns
    -------
    Subjects
        ``"subjNN"`` → ``("repeat", "stimulus", "voxel")`` betas, labelled as ``load_nsd_betas`` labels them.

    Raises
    ------
    InputError
        A bad or repeated subject, ``sessions`` given per subject without every subject; and every
        error of :func:`~neuroperception.data.load_nsd_betas`.

    Examples
    --------
    >>> from neuroperception.data import load_nsd_subjects
    >>> subs = load_nsd_subjects("/data/nsd", [1, 2], sessions=[1, 2], mask="nsdgeneral")  # doctest: +SKIP
    >>> subs.shared_stimuli()[:2]  # doctest: +SKIP
    ['nsd-02951', 'nsd-02991']
    """
    names = _nsd_names(subjects)
    if isinstance(sessions, Mapping):
        per = {f"subj{nsd_subject(k):02d}": v for k, v in sessions.items()}
        missing = [s for s in names if s not in per]
        if missing:
            raise InputError(f"sessions: received sessions for {sorted(per)}; expected sessions for every subject "
                             f"(missing: {missing})")
    else:
        per = {s: sessions for s in names}
    return Subjects({s: load_nsd_betas(root, s, per[s], space=space, preparation=preparation, mask=mask, roi=roi,
                                       format=format, progress=progress, drop_nonfinite=drop_nonfinite)
                     for s in names})


def load_algonauts2023_subjects(
    root: str | os.PathLike,
    subjects: Any,
    rois: str | None = "streams",
    *,
    families: Sequence[str] | None = None,
) -> Subjects:
    """Read several subjects' Algonauts 2023 training responses with :func:`~neuroperception.data.load_algonauts2023`.

    Parameters
    ----------
    root : str or path
        The folder holding ``subj01/`` ... ``subj08/`` of the challenge release.
    subjects : int, str or sequence of them
        ``1``..``8`` or ``"subj01"``..``"subj08"``; keys of the result are ``"subjNN"``.
    rois, families
        As for :func:`~neuroperception.data.load_algonauts2023`, for every subject.

    Returns
    -------
    Subjects
        ``"subjNN"`` → ``("stimulus", "voxel")`` responses with ``stimulus_id`` ``"nsd-%05d"``, so the
        images several subjects saw are their :meth:`~neuroperception.data.Subjects.shared_stimuli`.

    Examples
    --------
    >>> from neuroperception.data import load_algonauts2023_subjects
    >>> subs = load_algonauts2023_subjects("/data/algonauts_2023", [1, 2, 3])  # doctest: +SKIP
    >>> list(subs)  # doctest: +SKIP
    ['subj01', 'subj02', 'subj03']
    """
    names = _nsd_names(subjects)
    return Subjects({s: load_algonauts2023(root, s, rois, families=families) for s in names})
