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

__all__ = ["Scanpaths", "COLUMNS"]
