"""Stimuli: image and video sets, procedural stimuli (static and moving), visual-search arrays, flow fields.

Examples
--------
>>> from neuroperception.stimuli import ImageSet, procedural
>>> photos = ImageSet.from_samples(size=64)
>>> bars = procedural.gratings(size=64)
>>> len(bars)
12
"""

from . import flow_fields, moving, procedural, search_arrays
from .flow_fields import endpoint_error, warp
from .imageset import IMAGE_EXTENSIONS, ImageSet
from .moving import MovingStimuli, drifting_gratings, flowing_textures, moving_dots
from .video import VIDEO_EXTENSIONS, VideoSet, write_video

__all__ = ["ImageSet", "VideoSet", "procedural", "moving", "search_arrays", "flow_fields", "IMAGE_EXTENSIONS",
           "VIDEO_EXTENSIONS", "write_video", "MovingStimuli", "drifting_gratings", "moving_dots",
           "flowing_textures", "warp", "endpoint_error"]
