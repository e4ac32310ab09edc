"""Scanpaths: where people look. A fixation table type, dataset readers, foveation and task-driven
scanpath models, visual search, saliency baselines, and the field's saliency and scanpath metrics.

Examples
--------
>>> import numpy as np
>>> from neuroperception.scanpaths import Scanpaths
>>> Scanpaths.from_arrays([np.array([[10.0, 20.0]])], ["img"]).n_fixations
1
"""

from .table import COLUMNS, Scanpaths
from .readers import (load_capmit1003, load_coco_search18, load_mit1003_fixations, load_saliency_maps,
                      scanpath_attributes)
from .foveation import foveate, visibility_map
from .neva import NeVA, NevaClip
from .saliency_models import CenterBias, FeatureNormSaliency, IttiKoch, SaliencyModel, UniformSaliency
from .evaluate import center_scanpaths, evaluate_scanpath_model, random_scanpaths
from .saliency_metrics import auc_judd, cc, information_gain, kl_div, nss, shuffled_auc, sim, to_log_density
from .scanpath_metrics import (MULTIMATCH_DIMENSIONS, dtw, multimatch, pairwise_scanpath_scores, sbtde, scanmatch,
                               scanmatch_substitution_matrix, sequence_score, string_edit_distance)
from ._search_loop import SearchModel
from .search import ECCNET_SLOPES, RandomSearch, VisualSearch
from .observers import named_objects, simulate_scanpaths
from .asymmetry import (DEFAULT_PAIRS, ECCNET_ASYMMETRY_INDEX, HUMAN_ASYMMETRY_INDEX, AsymmetryResult, asymmetry_index,
                        search_asymmetry_experiment)

__all__ = ["Scanpaths", "COLUMNS"]
__all__ += ["load_coco_search18", "load_capmit1003", "load_mit1003_fixations", "load_saliency_maps",
            "scanpath_attributes"]
__all__ += ["foveate", "visibility_map", "NevaClip", "NeVA", "SaliencyModel", "CenterBias", "IttiKoch",
            "FeatureNormSaliency", "UniformSaliency", "random_scanpaths", "center_scanpaths",
            "evaluate_scanpath_model"]
__all__ += ["nss", "cc", "kl_div", "sim", "auc_judd", "shuffled_auc", "information_gain", "to_log_density",
            "multimatch", "scanmatch", "string_edit_distance", "dtw", "sbtde", "sequence_score",
            "pairwise_scanpath_scores", "scanmatch_substitution_matrix", "MULTIMATCH_DIMENSIONS"]
__all__ += ["VisualSearch", "RandomSearch", "SearchModel", "ECCNET_SLOPES", "search_asymmetry_experiment",
            "asymmetry_index", "AsymmetryResult", "DEFAULT_PAIRS", "HUMAN_ASYMMETRY_INDEX", "ECCNET_ASYMMETRY_INDEX"]
__all__ += ["simulate_scanpaths", "named_objects"]
