"""neuroperception: images → features → brain, behaviour and reward.

Examples
--------
>>> import neuroperception as npc
>>> images = npc.ImageSet.from_samples(size=64)
>>> feats = npc.extract("gabor", images, ["scale1"])
>>> feats["scale1"].sizes["stimulus"] == len(images)
True
"""

from . import errors
from ._progress import get_progress, set_progress
from .features import extract, layer_names, load_model, open_features
from .stimuli import ImageSet, procedural

__version__ = "0.1.0"

__all__ = ["ImageSet", "procedural", "load_model", "layer_names", "extract", "open_features", "errors",
           "set_progress", "get_progress", "__version__"]
