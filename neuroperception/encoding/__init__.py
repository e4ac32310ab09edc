"""Encoding models: image features -> voxel responses, cross-validated and scored.

``RidgeCV`` fits one ridge regression per voxel with its own cross-validated alpha, fast enough
for whole-brain data (one eigendecomposition per fold, downdated cross-products, a coarse-to-fine
alpha search, targets streamed in chunks). ``BandedRidgeCV`` gives every feature space (band) its
own penalty per voxel and reports each band's share of the explained variance. ``scoring`` gives
per-voxel r / R^2, the Algonauts-style noise-ceiling normalisation (NaN below a minimum ceiling) and
per-ROI summaries; ``significance`` gives per-voxel p-values of held-out scores (analytic or by
permutation) and the Benjamini–Hochberg FDR correction across voxels.
``fit_encoding_model`` does the whole job on labelled data (alignment, repeats, noise ceiling,
held-out scores, optional dask cluster) and returns an ``EncodingResult``.

Examples
--------
>>> import numpy as np
>>> from neuroperception.encoding import RidgeCV, summarize_scores
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(80, 10)); Y = X @ rng.normal(size=(10, 4)) + rng.normal(size=(80, 4))
>>> model = RidgeCV(alphas=np.logspace(-2, 4, 7)).fit(X[:60], Y[:60])
>>> r = model.voxel_scores(X[60:], Y[60:], metric="r")
>>> bool((r > 0.8).all()), list(summarize_scores(r).columns)
(True, ['score', 'n_voxels', 'n_nan'])
"""

from .ridge import DEFAULT_ALPHAS, RidgeCV
from .banded import BandedRidgeCV, dirichlet_candidates
from .scoring import (DEFAULT_MIN_CEILING, noise_ceiling_normalized, pearson_r, r2_score, summarize_scores,
                      voxel_scores)
from .significance import FDRResult, fdr_correct, score_pvalues
from ._dask import VoxelBlockModel, fit_on_client
from .fit import EncodingResult, fit_encoding_model
from .attention_readout import AttentionReadout
from .readouts import FactorizedReadout

__all__ = ["RidgeCV", "DEFAULT_ALPHAS", "BandedRidgeCV", "dirichlet_candidates", "pearson_r", "r2_score",
           "voxel_scores", "noise_ceiling_normalized", "summarize_scores", "DEFAULT_MIN_CEILING", "score_pvalues",
           "fdr_correct", "FDRResult", "fit_encoding_model", "EncodingResult",
           "fit_on_client", "VoxelBlockModel", "FactorizedReadout", "AttentionReadout"]
