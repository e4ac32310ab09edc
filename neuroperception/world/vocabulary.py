"""The world's vocabulary: the shape categories, colours, textures, sizes and spatial relations.

Every object of a scene is one ``CATEGORIES`` shape in one ``COLOURS`` colour with one ``TEXTURES``
texture and one ``SIZES`` size class; captions relate two objects with one of ``RELATIONS``.
The colours are saturated and well apart in hue, and a textured object's second colour is the same
hue at half the intensity (:data:`SHADE`), so no object pixel is ever a grey of the backgrounds.

Examples
--------
>>> len(CATEGORIES), len(COLOURS), TEXTURES, SIZES
(8, 6, ('plain', 'striped', 'dotted'), ('small', 'large'))
>>> COLOURS["red"]
(0.9, 0.1, 0.1)
"""

from __future__ import annotations

__all__ = ["CATEGORIES", "COLOURS", "TEXTURES", "SIZES", "RELATIONS", "SHADE", "SIZE_RANGES", "MAX_OBJECTS",
           "MIN_SIZE"]

#: The shape categories, in a fixed order (their index is the class label).
CATEGORIES = ("circle", "square", "triangle", "star", "ring", "cross", "diamond", "heart")

#: Object colours: name -> RGB in [0, 1]. Hues are well separated; all are saturated.
COLOURS = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.95),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.6, 0.15, 0.8),
    "orange": (1.0, 0.55, 0.05),
}

#: Textures: ``plain`` is the colour alone; ``striped`` (diagonal bands) and ``dotted`` (a grid of
#: dots) alternate the colour with its darker shade.
TEXTURES = ("plain", "striped", "dotted")

#: Size classes.
SIZES = ("small", "large")

#: Spatial relations between two objects' centres (the dominant axis decides).
RELATIONS = ("left of", "right of", "above", "below")

#: Intensity of a textured object's darker colour (stripes, dots), relative to its colour.
SHADE = 0.5

#: Diameter range of each size class, as a fraction of the image's shorter side.
SIZE_RANGES = {"small": (0.19, 0.25), "large": (0.34, 0.44)}

#: Most objects a scene may hold.
MAX_OBJECTS = 5

#: Smallest image side (pixels) at which a small object is still 6 pixels wide.
MIN_SIZE = 32
