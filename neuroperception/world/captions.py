"""Captions from a small grammar, generated from a scene's object annotations.

An object phrase names its attributes in the order *size? colour texture? category*: ``"a red star"``,
``"a small green dotted circle"``. The texture is left out when it is ``plain``; the size is said in the
long form, and in the short form only when the scene needs it to tell two objects apart. A scene
gets these captions (column ``kind`` of :attr:`WorldScenes.captions
<neuroperception.world.WorldScenes.captions>`):

``object``
    a scene of one object: its short and long phrase (``"a red star"``, ``"a large red star"``).
``list``
    a scene of several objects: every object's long phrase, in drawing order
    (``"a small red star and a large blue striped ring"``).
``relation``
    two objects and their spatial relation, from their centres along the dominant axis
    (``"a red star above a blue ring"``), short and long; both phrases name exactly one object of
    the scene, and objects that cannot be told apart are never related.
``count``
    a category drawn several times with one texture: ``"two striped squares"`` means the scene holds
    exactly two squares and both are striped (the colour is said when they share it).

Examples
--------
>>> describe({"category": "star", "colour": "red", "texture": "striped", "size_name": "small"})
'a small red striped star'
>>> objs = [dict(category="star", colour="red", texture="plain", size_name="large", x=30.0, y=10.0),
...         dict(category="ring", colour="blue", texture="plain", size_name="small", x=32.0, y=50.0)]
>>> caption_for(objs)
['a large red star and a small blue ring', 'a blue ring below a red star', 'a small blue ring below a large red star']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._docs import fill_doc
from .._validation import check_random_state
from ..errors import InputError
from .vocabulary import CATEGORIES, COLOURS, SIZES, TEXTURES

__all__ = ["describe", "caption_for", "relation", "NUMBERS"]

#: Count words of the ``count`` captions (index = count).
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FIELDS = ("category", "colour", "texture", "size_name")


def _plural(category: str) -> str:
    return category + ("es" if category.endswith(("s", "x", "ch", "sh")) else "s")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _attrs(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, Mapping) and not hasattr(obj, "get"):
        raise InputError(f"obj: received {type(obj).__name__}; expected a mapping or a table row with "
                         f"{', '.join(_FIELDS)}")
    missing = [f for f in _FIELDS if obj.get(f) is None]
    if missing:
        raise InputError(f"obj: missing {', '.join(missing)}; expected an object annotation with "
                         f"{', '.join(_FIELDS)} (a row of WorldScenes.objects)")
    out = {f: obj.get(f) for f in _FIELDS}
    for field, names in (("category", CATEGORIES), ("colour", tuple(COLOURS)), ("texture", TEXTURES),
                         ("size_name", SIZES)):
        if out[field] not in names:
            raise InputError(f"obj: {field} {out[field]!r} is not in the vocabulary; expected one of {list(names)}")
    return out


def describe(obj: Mapping | Any, *, size_word: bool = True, article: bool = True) -> str:
    """The noun phrase of one object: *size? colour texture? category*.

    Parameters
    ----------
    obj : mapping or pandas.Series
        An object annotation with ``category``, ``colour``, ``texture`` and ``size_name`` (a row of
        :attr:`WorldScenes.objects <neuroperception.world.WorldScenes.objects>`).
    size_word : bool
        Say the size class (the object's ``size_name``).
    article : bool
        Start with ``"a"``/``"an"``.

    Examples
    --------
    >>> ring = {"category": "ring", "colour": "orange", "texture": "plain", "size_name": "large"}
    >>> describe(ring, size_word=False)
    'an orange ring'
    """
    return _phrase(_attrs(obj), size_word, article)


def _phrase(a: Mapping, size: bool = True, article: bool = True) -> str:
    """:func:`describe` of a checked annotation."""
    words = ([a["size_name"]] if size else []) + [a["colour"]]
    words += [a["texture"]] if a["texture"] != "plain" else []
    words.append(a["category"])
    phrase = " ".join(words)
    return f"{_article(phrase)} {phrase}" if article else phrase


def relation(a: Mapping | Any, b: Mapping | Any) -> str:
    """Where ``a``'s centre lies relative to ``b``'s, along the axis of the larger offset.

    Image coordinates: ``x`` to the right, ``y`` down; a tie goes to the horizontal relation.

    Examples
    --------
    >>> relation({"x": 10, "y": 40}, {"x": 12, "y": 5})
    'below'
    """
    dx, dy = float(a["x"]) - float(b["x"]), float(a["y"]) - float(b["y"])
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def _phrases(objs: list[dict]) -> list[tuple[str | None, str | None]]:
    """Each object's (short, long) phrase, or None where the phrase would name more than one object."""
    out = []
    for o in objs:
        same = [p for p in objs if all(p[f] == o[f] for f in ("category", "colour", "texture"))]
        same_size = [p for p in same if p["size_name"] == o["size_name"]]
        long = _phrase(o) if len(same_size) == 1 else None
        short = _phrase(o, size=False) if len(same) == 1 else long
        out.append((short, long))
    return out


def _captions(objs: list[dict], rng: np.random.Generator) -> list[tuple[str, str]]:
    """``(kind, caption)`` pairs of one scene; ``rng`` picks the related pair."""
    phrases = _phrases(objs)
    if len(objs) == 1:
        return [("object", _phrase(objs[0], size=False)), ("object", _phrase(objs[0]))]
    out = []
    longs = [_phrase(o) for o in objs]
    out.append(("list", ", ".join(longs[:-1]) + " and " + longs[-1]))
    pairs = [(i, j) for i in range(len(objs)) for j in range(len(objs))
             if i != j and phrases[i][1] is not None and phrases[j][1] is not None]
    if pairs:
        i, j = pairs[int(rng.integers(len(pairs)))]
        rel = relation(objs[i], objs[j])
        texts = dict.fromkeys(f"{phrases[i][k]} {rel} {phrases[j][k]}" for k in (0, 1))
        out += [("relation", t) for t in texts]
    for category in dict.fromkeys(o["category"] for o in objs):
        group = [o for o in objs if o["category"] == category]
        textures = {o["texture"] for o in group}
        if len(group) < 2 or len(textures) > 1 or len(group) >= len(NUMBERS):
            continue
        colours = {o["colour"] for o in group}
        words = [NUMBERS[len(group)]] + (list(colours) if len(colours) == 1 else [])
        words += [t for t in textures if t != "plain"] + [_plural(category)]
        out.append(("count", " ".join(words)))
    return out


@fill_doc
def caption_for(objects: Sequence[Mapping] | Any, *, random_state: int | np.random.Generator | None = 0) -> list[str]:
    """The captions of one scene from its object annotations (see the module's grammar).

    Parameters
    ----------
    objects : pandas.DataFrame or sequence of mappings
        The scene's objects, in drawing order, with ``category``, ``colour``, ``texture``,
        ``size_name``, ``x`` and ``y`` (the rows of one scene in
        :attr:`WorldScenes.objects <neuroperception.world.WorldScenes.objects>`).
    %(random_state)s
        It picks which two objects the relation caption relates.

    Returns
    -------
    list of str
        Short captions before long ones within each kind.

    Examples
    --------
    >>> caption_for([dict(category="square", colour="green", texture="striped", size_name="small", x=5, y=5),
    ...              dict(category="square", colour="red", texture="striped", size_name="large", x=40, y=9)])[-1]
    'two striped squares'
    """
    if hasattr(objects, "to_dict") and hasattr(objects, "columns"):
        objects = objects.to_dict("records")
    objs = [dict(o) if isinstance(o, Mapping) else o for o in objects]
    if not objs:
        raise InputError("objects: received no objects; expected the annotations of a scene's objects")
    for o in objs:
        _attrs(o)
        if o.get("x") is None or o.get("y") is None:
            raise InputError("objects: an object has no x/y centre; expected the columns of WorldScenes.objects")
    return [text for _, text in _captions(objs, check_random_state(random_state))]
