"""Functional alignment: maps between subjects' voxels and a shared response space.

Subjects differ in their voxels, so their responses to the same stimuli cannot be compared voxel by
voxel. ``ProcrustesAlignment`` (orthogonal, optionally scaled) and ``RidgeAlignment`` map one
subject's voxels onto another's from the stimuli both saw; ``SharedResponseModel`` finds one shared
latent response from every subject's shared stimuli, with transforms into and out of it;
``predict_subject`` predicts a subject's voxels from another subject's responses to stimuli held out
of the fit. Inputs are matched by ``stimulus_id``; several subjects come as a
:class:`~neuroperception.data.Subjects`.

Examples
--------
>>> import numpy as np
>>> from neuroperception.alignment import ProcrustesAlignment
>>> X = np.random.default_rng(0).normal(size=(30, 5))
>>> round(ProcrustesAlignment().fit(X, X[:, ::-1]).score(X, X[:, ::-1]), 6)
1.0
"""

from .pairwise import DEFAULT_ALIGNMENT_ALPHAS, ProcrustesAlignment, RidgeAlignment
from .srm import SharedResponseModel
from .prediction import predict_subject

__all__ = ["ProcrustesAlignment", "RidgeAlignment", "DEFAULT_ALIGNMENT_ALPHAS", "SharedResponseModel",
           "predict_subject"]
