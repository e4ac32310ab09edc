"""The miniature visual world: procedural scenes and episodes with exact ground truth.

Scenes hold one to a few objects (eight shape categories, six colours, three textures, two sizes) on
varied backgrounds; every scene carries its objects' categories, colours, positions, boxes and
visible masks, and captions from a small grammar; episodes (an object moving, appearing, being
placed) add every frame's ground truth and the exact optical flow. The images are an
:class:`~neuroperception.stimuli.ImageSet` and the annotations tables keyed by ``stimulus_id``, so
every function of the package takes them.

Two small models trained on the world ship with the package: :class:`WorldCNN` names the shapes in a
scene and :class:`WorldCLIP` matches scenes with their captions. The feature registry reaches them
as ``load_model("world:cnn")`` and ``load_model("world:clip")``; ``python -m
neuroperception.world.training`` retrains them.

Examples
--------
>>> from neuroperception.world import render_scenes
>>> scenes = render_scenes(8, size=64, random_state=0)
>>> len(scenes), scenes.objects.stimulus_id.iloc[0]
(8, 'world00000')
"""

from . import vocabulary
from .captions import NUMBERS, caption_for, describe, relation
from .episodes import EPISODE_KINDS, MAX_EPISODE_OBJECTS, WorldEpisodes, render_episodes
from .evaluation import caption_scores, probe_layers, shape_accuracy
from .models import WORLD_WORDS, WorldCLIP, WorldCNN, WorldTokenizer, build_world_model
from .scenes import MIN_VISIBLE, OBJECT_COLUMNS, WorldScenes, render_scenes
from .vocabulary import CATEGORIES, COLOURS, MAX_OBJECTS, MIN_SIZE, RELATIONS, SHADE, SIZE_RANGES, SIZES, TEXTURES

__all__ = ["render_scenes", "WorldScenes", "render_episodes", "WorldEpisodes", "EPISODE_KINDS", "MAX_EPISODE_OBJECTS",
           "describe", "caption_for", "relation", "vocabulary", "CATEGORIES",
           "COLOURS", "TEXTURES", "SIZES", "RELATIONS", "SHADE", "SIZE_RANGES", "MAX_OBJECTS", "MIN_SIZE",
           "MIN_VISIBLE", "OBJECT_COLUMNS", "NUMBERS", "WorldCNN", "WorldCLIP", "WorldTokenizer", "WORLD_WORDS",
           "build_world_model", "probe_layers", "shape_accuracy", "caption_scores"]
