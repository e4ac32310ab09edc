"""Perceptual similarity: LPIPS, embedding, classic and brain-predicted distances, RSA, and a 2AFC
harness with BAPPS/NIGHTS readers.

Every metric is a :class:`Metric`: ``metric(x, y)`` for paired distances, ``metric.pairwise(x)``
for distance matrices, ``metric.set_reference(goal)`` / ``metric.to_reference(x)`` for rewards.

Examples
--------
>>> import torch
>>> from neuroperception.similarity import Metric
>>> issubclass(Metric, torch.nn.Module)
True
"""

from .base import Metric
from .brain import BrainDistance
from .classic import L2, MSSSIM, PSNR, SSIM
from .embedding import EmbeddingDistance, EnsembleDistance
from .datasets import JNDDataset, TwoAFCDataset, load_bapps_2afc, load_bapps_jnd, load_nights
from .two_afc import (JNDResult, TwoAFCResult, jnd_average_precision, jnd_map_score, two_afc_agreement,
                      two_afc_score)
from .rsa import (COMPARISON_METHODS, RDM_METRICS, NoiseCeiling, bootstrap_rdm_comparison, compare_rdms, compute_rdm,
                  rdm_noise_ceiling)
from .lpips import LPIPS, lpips_head_file
from .calibrate import CalibrationResult, calibrate_heads, judgement_features, save_heads

__all__ = [
    "Metric", "SSIM", "MSSSIM", "PSNR", "L2", "EmbeddingDistance", "EnsembleDistance", "BrainDistance",
    "TwoAFCDataset", "JNDDataset", "load_bapps_2afc", "load_bapps_jnd", "load_nights", "two_afc_score",
    "two_afc_agreement", "jnd_map_score", "jnd_average_precision", "TwoAFCResult", "JNDResult",
    "compute_rdm", "compare_rdms", "bootstrap_rdm_comparison", "rdm_noise_ceiling", "NoiseCeiling", "RDM_METRICS",
    "COMPARISON_METHODS",
    "LPIPS", "lpips_head_file", "calibrate_heads", "save_heads", "judgement_features", "CalibrationResult",
]
