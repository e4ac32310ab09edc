"""Stimuli: image sets (folders, arrays, shipped photographs), procedural stimuli and visual-search arrays.

Examples
--------
>>> from neuroperception.stimuli import ImageSet, procedural
>>> photos = ImageSet.from_samples(size=64)
>>> bars = procedural.gratings(size=64)
>>> len(bars)
12
"""

from . import procedural, search_arrays
from .imageset import IMAGE_EXTENSIONS, ImageSet

__all__ = ["ImageSet", "procedural", "search_arrays", "IMAGE_EXTENSIONS"]
