"""Features: a model registry (image and video models), layer hooks, pooling, extraction into labelled arrays,
and optical flow.

Examples
--------
>>> from neuroperception.features import load_model, layer_names, extract
>>> from neuroperception.stimuli import ImageSet
>>> model = load_model("torchvision:alexnet")          # seeded random init, no download
>>> feats = extract(model, ImageSet.from_samples(size=64)[:4], ["features.2"], progress=False)
>>> feats["features.2"].dims
('stimulus', 'feature')
"""

from . import _cornet, _open_clip, _timm, _torchvision, _torchvision_video, _world, gabor, motion_energy  # noqa: F401
from .extract import canonical_activation, extract
from .gabor import GaborPyramid
from ._open_clip import TINY_CLIP_CONFIG, register_clip_architecture
from .motion_energy import MotionEnergy
from .optical_flow import FlowEstimator, HornSchunck, estimate_flow, mean_flow
from .raft import RAFTFlow, load_raft
from .pooling import PCA, AdaptiveAvg, GlobalAvg, GlobalMax, NoPooling, Pooling, SparseRandomProjection, get_pooling
from .preprocessing import Preprocessing, UpsamplingWarning
from .registry import FeatureModel, layer_names, load_model, register_model, registered_sources
from .reduce import reduce_features
from .store import open_features
from .weights import load_state_dict_file

__all__ = [
    "load_model", "layer_names", "extract", "open_features", "reduce_features", "register_model", "registered_sources",
    "FeatureModel", "Preprocessing", "UpsamplingWarning", "GaborPyramid", "load_state_dict_file", "canonical_activation",
    "Pooling", "NoPooling", "GlobalAvg", "GlobalMax", "AdaptiveAvg", "SparseRandomProjection", "PCA",
    "get_pooling", "MotionEnergy", "FlowEstimator", "HornSchunck", "RAFTFlow", "load_raft", "estimate_flow",
    "mean_flow", "register_clip_architecture", "TINY_CLIP_CONFIG",
]
