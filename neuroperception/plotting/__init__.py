"""Figures shared by the whole package (a leaf: it imports nothing else of the package but errors).

Examples
--------
>>> import numpy as np
>>> from neuroperception.plotting import plot_rdm
>>> fig = plot_rdm(np.zeros((3, 3)), labels=["a", "b", "c"])
"""

from .figures import plot_feature_pca, plot_image_grid, plot_rdm, plot_rdms, save_figure
from .behaviour import plot_subset_scores
from .brain import (plot_estimate_vs_truth, plot_noise_ceiling_map, plot_roi_map, plot_roi_summary, plot_voxel_map,
                    voxel_map_to_nifti)
from .report import Report, Section
from .choice import plot_choice_map, plot_choice_weights
from .decoding import plot_retrieval, plot_roi_ablation
from .motion import plot_flow, plot_flow_comparison, save_animation
from .readouts import plot_attention_maps, plot_centre_recovery, plot_receptive_fields
from .rewards import plot_attack_examples, plot_optimization_history, plot_reward_landscape
from .rsa import plot_rdm_comparison
from .scanpaths import plot_saliency_overlay, plot_scanpaths
from .search import plot_asymmetry_index, plot_search_slopes
from .triplets import plot_triplet_grid, plot_triplets
from .world import plot_episode, plot_probes, plot_scenes

__all__ = ["plot_image_grid", "plot_rdm", "plot_rdms", "plot_feature_pca", "save_figure", "Report", "Section",
           "plot_voxel_map", "plot_roi_map", "plot_roi_summary", "plot_noise_ceiling_map", "plot_estimate_vs_truth",
           "voxel_map_to_nifti", "plot_rdm_comparison", "plot_subset_scores", "plot_scanpaths", "plot_saliency_overlay",
           "plot_search_slopes", "plot_asymmetry_index", "plot_triplet_grid", "plot_triplets", "plot_choice_weights",
           "plot_choice_map", "plot_optimization_history", "plot_reward_landscape", "plot_retrieval", "plot_roi_ablation",
           "plot_flow", "plot_flow_comparison", "save_animation", "plot_attention_maps", "plot_receptive_fields",
           "plot_centre_recovery", "plot_attack_examples", "plot_scenes", "plot_episode", "plot_probes"]
