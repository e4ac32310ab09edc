"""Drawing: backgrounds and objects onto a batch of images, with the exact owner of every pixel.

Everything is vectorised over images and objects: each object's shape is tested on a small patch
around it (one array expression per category), and the patches are painted in depth order, one depth
at a time (one object per image per depth, so no two writes meet).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._shapes import inside, shaded
from .vocabulary import CATEGORIES, COLOURS, SHADE, TEXTURES

_BASE = np.asarray(list(COLOURS.values()), dtype=np.float32)
_DARK = (_BASE * np.float32(SHADE)).astype(np.float32)
#: Backgrounds: grey levels, colour tint spread and low-contrast noise amplitude of "varied".
_GREY = (0.3, 0.7)
_TINT = 0.06
_NOISE = 0.04
_N_WAVES = 2
PLAIN_GREY = 0.5


@dataclass
class Objects:
    """Flat per-object arrays (``M`` objects over all images), the input of :func:`draw`."""

    image: np.ndarray      # int (M,): image index
    depth: np.ndarray      # int (M,): drawing order within its image (0 first, later on top)
    category: np.ndarray   # int (M,): index into CATEGORIES
    colour: np.ndarray     # int (M,): index into COLOURS
    texture: np.ndarray    # int (M,): index into TEXTURES
    x: np.ndarray          # float (M,): centre, pixels, to the right
    y: np.ndarray          # float (M,): centre, pixels, down
    diameter: np.ndarray   # float (M,): pixels
    alpha: np.ndarray      # float (M,): opacity in [0, 1]

    def take(self, index: np.ndarray, shift: int = 0) -> "Objects":
        """The objects at ``index``, their image indices lowered by ``shift``."""
        return Objects(self.image[index] - shift, *(getattr(self, f)[index] for f in
                                                    ("depth", "category", "colour", "texture", "x", "y", "diameter",
                                                     "alpha")))


@dataclass
class Drawn:
    """What :func:`draw` returns."""

    images: np.ndarray      # float32 (N, 3, H, W)
    owner: np.ndarray       # int8 (N, H, W): depth of the object a pixel's colour comes from, -1 = background
    full_pixels: np.ndarray  # int (M,): pixels of each object's whole shape (before occlusion)


# ------------------------------------------------------------------------------------ backgrounds
def draw_background_params(n: int, kind: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random parameters of ``n`` backgrounds (``kind`` "varied" or "plain")."""
    if kind == "plain":
        grey = np.full((n, 3), PLAIN_GREY)
        return dict(colour_from=grey, colour_to=grey.copy(), angle=np.zeros(n), noise=np.zeros(n),
                    waves=np.zeros((n, _N_WAVES, 3)))
    colours = []
    for _ in range(2):
        tint = rng.uniform(-_TINT, _TINT, (n, 3))
        colours.append(rng.uniform(*_GREY, (n, 1)) + tint - tint.mean(axis=1, keepdims=True))
    waves = np.concatenate([rng.uniform(-4.0, 4.0, (n, _N_WAVES, 2)),  # cycles per image along x, y
                            rng.uniform(0.0, 2 * np.pi, (n, _N_WAVES, 1))], axis=2)
    return dict(colour_from=colours[0], colour_to=colours[1], angle=rng.uniform(0.0, 360.0, n),
                noise=rng.uniform(0.0, _NOISE, n), waves=waves)


def draw_backgrounds(params: dict[str, np.ndarray], height: int, width: int,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Backgrounds ``(N, 3, H, W)`` float32 from their parameters: a linear colour gradient plus waves.

    The gradient runs from ``colour_from`` to ``colour_to`` along ``angle`` (degrees, counter-clockwise
    from rightward) across the image; the noise is ``noise`` times the mean of plane waves of luminance
    (``waves``: cycles per image along x and y, and phase), the same in every channel. Each channel is
    a sum of separable terms, so one batched product ``(H, r) @ (r, W)`` per image draws it.
    """
    c0 = np.asarray(params["colour_from"], np.float64)
    c1 = np.asarray(params["colour_to"], np.float64)
    th = np.deg2rad(np.asarray(params["angle"], np.float64))
    waves = np.asarray(params["waves"], np.float64)
    amp = np.asarray(params["noise"], np.float64) / max(waves.shape[1], 1)
    n = len(th)
    xs = (np.arange(width) - (width - 1) / 2) / max(height, width)
    ys = (np.arange(height) - (height - 1) / 2) / max(height, width)
    # gradient position in [0, 1] along the direction (y is down, so "up" is -y): gy(y) + gx(x)
    gx = np.cos(th)[:, None] * xs[None] / np.sqrt(2) + 0.5
    gy = -np.sin(th)[:, None] * ys[None] / np.sqrt(2)
    dc = c1 - c0
    # left factors (N, 3, H, r) and right factors (N, 1, r, W) of every channel
    left = [c0[:, :, None] + dc[:, :, None] * gy[:, None, :], np.broadcast_to(dc[:, :, None], (n, 3, height))]
    right = [np.ones((n, width)), gx]
    fx_all = 2 * np.pi * (np.arange(width) / width)
    fy_all = 2 * np.pi * (np.arange(height) / height)
    for k in range(waves.shape[1]):
        fx, fy, ph = (waves[:, k, j] for j in range(3))
        ax = fx[:, None] * fx_all[None] + ph[:, None]
        ay = fy[:, None] * fy_all[None]
        left += [np.broadcast_to(np.cos(ay)[:, None], (n, 3, height)),
                 np.broadcast_to(-np.sin(ay)[:, None], (n, 3, height))]
        right += [amp[:, None] * np.cos(ax), amp[:, None] * np.sin(ax)]
    lhs = torch.from_numpy(np.stack(left, axis=-1).astype(np.float32))          # (N, 3, H, r)
    rhs = torch.from_numpy(np.stack(right, axis=1).astype(np.float32))[:, None]  # (N, 1, r, W)
    if out is None:
        return torch.matmul(lhs, rhs).numpy()
    torch.matmul(lhs, rhs, out=torch.from_numpy(out))
    return out


# ------------------------------------------------------------------------------------ objects
def _pixels(obj: Objects, sel: np.ndarray, width: int, height: int):
    """The pixels inside each object of ``sel``: (object, y, x, shaded) arrays, tested on one patch size."""
    size = int(np.ceil(obj.diameter[sel].max())) + 2
    half = obj.diameter[sel] / 2
    # the patch holds the object's box and lies inside the image (objects fit in the image)
    ox = np.clip(np.floor(obj.x[sel] - half).astype(np.int64), 0, max(width - size, 0))
    oy = np.clip(np.floor(obj.y[sel] - half).astype(np.int64), 0, max(height - size, 0))
    steps = np.arange(size)
    u = (((ox[:, None] + steps[None]) - obj.x[sel, None]) / half[:, None]).astype(np.float32)  # (m, P) along x
    v = (((oy[:, None] + steps[None]) - obj.y[sel, None]) / half[:, None]).astype(np.float32)  # (m, P) along y
    ins = np.zeros((len(sel), size, size), bool)
    dark = np.zeros((len(sel), size, size), bool)
    for c, name in enumerate(CATEGORIES):
        part = np.flatnonzero(obj.category[sel] == c)
        if len(part):
            ins[part] = inside(name, u[part, None, :], v[part, :, None])
    for t, name in enumerate(TEXTURES):
        part = np.flatnonzero(obj.texture[sel] == t)
        if len(part) and name != "plain":
            dark[part] = shaded(name, u[part, None, :], v[part, :, None])
    j, r, c = np.nonzero(ins)
    return sel[j], oy[j] + r, ox[j] + c, dark[j, r, c]


def draw(obj: Objects, images: np.ndarray) -> Drawn:
    """Paint ``obj`` in depth order onto the backgrounds ``images`` ``(N, 3, H, W)``, in place.

    Every object fits in the image. Objects are tested on patches of two sizes (the larger and the
    smaller half of the diameters), and only the pixels inside a shape are written.
    """
    n, _, height, width = images.shape
    owner = np.full((n, height, width), -1, np.int8)
    if not len(obj.x):
        return Drawn(images, owner, np.zeros(0, np.int64))
    order = np.argsort(obj.diameter, kind="stable")
    groups = [g for g in np.array_split(order, 2) if len(g)]
    parts = [_pixels(obj, g, width, height) for g in groups]
    who, ys, xs, dark = (np.concatenate(a) for a in zip(*parts))
    full = np.bincount(who, minlength=len(obj.x))
    keep = obj.alpha[who] > 0
    who, ys, xs, dark = who[keep], ys[keep], xs[keep], dark[keep]
    depth = obj.depth[who]
    by_depth = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[by_depth], np.arange(int(depth.max(initial=0)) + 2))
    flat_img, flat_owner = images.reshape(-1), owner.reshape(-1)
    hw = height * width
    for d in range(len(bounds) - 1):
        q = by_depth[bounds[d]:bounds[d + 1]]
        if not len(q):
            continue
        g = who[q]
        pix = obj.image[g] * hw + ys[q] * width + xs[q]
        colour = np.where(dark[q, None], _DARK[obj.colour[g]], _BASE[obj.colour[g]])  # (q, 3)
        alpha = obj.alpha[g].astype(np.float32)
        flat_owner[pix] = d
        for ch in range(3):
            idx = pix + (obj.image[g] * 2 + ch) * hw  # (image * 3 + ch) * hw + y * width + x
            value = colour[:, ch]
            if (alpha < 1).any():
                value = np.where(alpha == 1, value, alpha * value + (1 - alpha) * flat_img[idx])
            flat_img[idx] = value
    return Drawn(images, owner, full)


def render(obj: Objects, params: dict[str, np.ndarray], height: int, width: int, chunk: int = 256) -> Drawn:
    """Backgrounds from ``params`` and the objects on them, ``chunk`` images at a time (objects sorted by
    image), written straight into the output so no full-size temporary is made."""
    n = len(params["angle"])
    images = np.empty((n, 3, height, width), np.float32)
    owner = np.empty((n, height, width), np.int8)
    full = np.zeros(len(obj.x), np.int64)
    if len(obj.image) and (np.diff(obj.image) < 0).any():
        raise ValueError("objects must be sorted by image")  # internal invariant
    edges = np.searchsorted(obj.image, np.arange(0, n + chunk, chunk))
    for k, a in enumerate(range(0, n, chunk)):
        b = min(a + chunk, n)
        index = np.arange(edges[k], edges[k + 1])
        draw_backgrounds({key: v[a:b] for key, v in params.items()}, height, width, out=images[a:b])
        drawn = draw(obj.take(index, a), images[a:b])
        owner[a:b] = drawn.owner
        full[index] = drawn.full_pixels
    return Drawn(images, owner, full)


def visible_pixels(owner: np.ndarray, n_objects: int) -> np.ndarray:
    """Visible pixel counts ``(N, K)`` from the owner map (without building the masks)."""
    return np.stack([(owner == k).sum(axis=(1, 2)) for k in range(n_objects)], axis=1)


def masks_and_boxes(owner: np.ndarray, n_objects: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visible masks ``(N, K, H, W)``, tight boxes ``(N, K, 4)`` (x0, y0, x1, y1; zeros when empty) and
    visible pixel counts ``(N, K)`` from the owner map, ``chunk`` images at a time."""
    n, height, width = owner.shape
    masks = np.empty((n, n_objects, height, width), bool)
    boxes = np.zeros((n, n_objects, 4), np.int64)
    counts = np.zeros((n, n_objects), np.int64)
    labels = np.arange(n_objects, dtype=np.int8)[None, :, None, None]
    for a in range(0, n, chunk):
        m = masks[a:a + chunk]
        np.equal(owner[a:a + chunk, None], labels, out=m)
        rows, cols = m.any(axis=3), m.any(axis=2)
        seen = rows.any(axis=2)
        box = np.stack([cols.argmax(axis=2), rows.argmax(axis=2), width - cols[..., ::-1].argmax(axis=2),
                        height - rows[..., ::-1].argmax(axis=2)], axis=-1)
        boxes[a:a + chunk] = np.where(seen[..., None], box, 0)
        counts[a:a + chunk] = m.sum(axis=(2, 3))
    return masks, boxes, counts
