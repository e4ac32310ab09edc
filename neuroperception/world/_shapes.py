"""Analytic inside-tests of the shape categories and the texture patterns, on normalised coordinates.

Every shape lives in the square ``u, v`` in ``[-1, 1]`` (``u`` to the right, ``v`` down) that spans the
object's diameter; the tests are plain array expressions, so one call covers any number of objects.
"""

from __future__ import annotations

import numpy as np

_COS36, _SIN36 = np.cos(np.pi / 5), np.sin(np.pi / 5)
_STAR_INNER = 0.5
_RING_INNER = 0.55
_SQUARE_HALF = 0.82
_CROSS_HALF = 0.3
#: Texture periods across the diameter (stripes) and dot-grid cells across the diameter.
_STRIPE_PERIODS = 3.5
_DOT_CELLS = 3.5


def _star(u, v):
    r = np.hypot(u, v)
    phi = np.arctan2(u, -v)  # 0 = up, clockwise
    b = np.abs(np.mod(phi, 2 * np.pi / 5) - np.pi / 5)  # 0 at an inner vertex, pi/5 at a tip
    px, py = r * np.cos(b), r * np.sin(b)
    ex, ey = _COS36 - _STAR_INNER, _SIN36  # edge from the inner vertex (ri, 0) to the tip
    # inside when the point lies on the origin's side of the edge line
    return ex * py - ey * (px - _STAR_INNER) >= 0.0


def _heart(u, v):
    x, y = u * 1.14, 0.118 - 1.118 * v  # the classic implicit heart fills the box
    return (x * x + y * y - 1.0) ** 3 - x * x * y ** 3 <= 0.0


def inside(category: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether each point ``(u, v)`` lies inside the shape ``category``."""
    if category == "circle":
        return u * u + v * v <= 1.0
    if category == "square":
        return (np.abs(u) <= _SQUARE_HALF) & (np.abs(v) <= _SQUARE_HALF)
    if category == "triangle":  # apex up, base down, centred in the box
        return (v <= 0.8) & (np.abs(u) * 1.7 <= v + 0.9)
    if category == "star":
        return _star(u, v)
    if category == "ring":
        rr = u * u + v * v
        return (rr <= 1.0) & (rr >= _RING_INNER ** 2)
    if category == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 1.0) & (av <= _CROSS_HALF)) | ((au <= _CROSS_HALF) & (av <= 1.0))
    if category == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if category == "heart":
        return _heart(u, v)
    raise KeyError(category)  # unreachable: names are validated before drawing


def shaded(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where the texture ``texture`` darkens the object's colour (bool, same shape as ``u``)."""
    if texture == "plain":
        return np.zeros(np.broadcast(u, v).shape, bool)
    if texture == "striped":  # diagonal bands (down-left to up-right), half dark
        return np.mod((u + v) * (_STRIPE_PERIODS / (2 * np.sqrt(2))), 1.0) < 0.5
    if texture == "dotted":  # dots of a third of a grid cell on a square grid
        cell = 2.0 / _DOT_CELLS
        du = np.mod(u, cell) - cell / 2
        dv = np.mod(v, cell) - cell / 2
        return du * du + dv * dv <= (0.3 * cell) ** 2
    raise KeyError(texture)

