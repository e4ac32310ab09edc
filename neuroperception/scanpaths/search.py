"""Target-driven visual search: an eccNET-style model (Gupta et al. 2021) and a random-search baseline.

:class:`VisualSearch` follows eccNET (itself built on IVSN, Zhang et al. 2018):

1. **Eccentricity-dependent pooling.** Every pooling layer of the backbone is wrapped so that, at
   output positions far from the current fixation, its input is first averaged over a window that
   grows with eccentricity: half-width ``round(slope * max(0, r - fovea_radius) / stride)`` input
   units, where ``r`` is the distance to the fixation in image pixels and ``stride`` the layer's
   input stride. Inside the fovea the backbone's own pooling is untouched. eccNET's slopes for
   VGG-16's five pooling layers are ``(0, 0, 0.07, 0.16, 0.32)``, the default here (the last three
   go to the last three pooling layers of any backbone).
2. **Top-down target modulation.** The target image goes through the same network; its feature maps
   at the top blocks (default: the outputs of the last three pooling layers), cropped to the
   target's own extent, are used as convolution kernels on the search image's maps. Each layer's
   response is min-max normalised to ``[0, 1]``, upsampled to the image and averaged (weights
   ``layer_weights``) into the attention map.
3. **Winner-take-all** picks the next fixation at the attention map's maximum among locations not
   inhibited; **inhibition of return** removes a disc of ``ior_radius`` pixels around every fixation
   (or, given item boxes, the whole inspected item, and fixations land on item centres as in
   eccNET's array experiments).
4. Search **stops** when a fixation falls inside the target's box grown by ``target_radius`` pixels,
   or after ``max_fixations``.

The first fixation is the image centre (fixation 0, not counted); ``n_fixations`` is the number of
fixations after it up to and including the one that lands on the target (NaN when not found).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._docs import fill_doc
from .._validation import check_random_state, describe, seed_from
from ..errors import InputError, ShapeError
from ..features import FeatureModel, load_model
from ..features.hooks import record
from ._search_loop import SearchModel, as_images

__all__ = ["VisualSearch", "RandomSearch", "ECCNET_SLOPES"]

ECCNET_SLOPES = (0.0, 0.0, 0.07, 0.16, 0.32)
_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


class _Context:
    """Per-forward state shared by the eccentricity pooling wrappers."""

    def __init__(self):
        self.enabled = False
        self.fixations: torch.Tensor | None = None  # (B, 2) x, y in pixels of the network's input
        self.image_hw = (1, 1)
        self.fovea_radius = 0.0


class _BoxMeans:
    """Means over ``(2h+1)``-square windows (the part inside the map) for any ``h``, from one integral image."""

    def __init__(self, x: torch.Tensor, h_max: int):
        self.p, self.hw = h_max + 1, x.shape[-2:]
        self.c = F.pad(x, (self.p, h_max, self.p, h_max)).cumsum(-1).cumsum(-2)

    def __call__(self, h: int) -> torch.Tensor:
        (n_y, n_x), p, c = self.hw, self.p, self.c
        hi, lo = slice(p + h, p + h + n_y), slice(p - h - 1, p - h - 1 + n_y)
        hi_x, lo_x = slice(p + h, p + h + n_x), slice(p - h - 1, p - h - 1 + n_x)
        total = c[..., hi, hi_x] - c[..., lo, hi_x] - c[..., hi, lo_x] + c[..., lo, lo_x]
        iy, ix = torch.arange(n_y, device=c.device), torch.arange(n_x, device=c.device)
        cy = (iy + h).clamp(max=n_y - 1) - (iy - h).clamp(min=0) + 1
        cx = (ix + h).clamp(max=n_x - 1) - (ix - h).clamp(min=0) + 1
        return total / (cy[:, None] * cx[None, :]).to(total.dtype)


def _same_conv(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Cross-correlation with zero padding that keeps the map's size (any kernel size)."""
    kh, kw = k.shape[-2:]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    return F.conv2d(F.pad(x, (left, kw - 1 - left, top, kh - 1 - top)), k)


class _EccentricityPool(nn.Module):
    """A pooling layer whose input is averaged more the farther an output position is from fixation."""

    def __init__(self, pool: nn.Module, slope: float, context: _Context):
        super().__init__()
        self.pool = pool
        self.slope = float(slope)
        self.context = context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(x)
        ctx = self.context
        if not ctx.enabled or self.slope <= 0 or ctx.fixations is None:
            return out
        (hi, wi), (ho, wo) = ctx.image_hw, out.shape[-2:]
        stride_in = 0.5 * (hi / x.shape[-2] + wi / x.shape[-1])
        ys = (torch.arange(ho, dtype=torch.float32) + 0.5) * (hi / ho) - 0.5
        xs = (torch.arange(wo, dtype=torch.float32) + 0.5) * (wi / wo) - 0.5
        fix = ctx.fixations.to(torch.float32).cpu()
        r = torch.hypot(xs[None, None, :] - fix[:, 0, None, None], ys[None, :, None] - fix[:, 1, None, None])
        half = torch.round(self.slope * (r - ctx.fovea_radius).clamp(min=0) / stride_in).long()
        half = half.clamp(max=max(1, min(x.shape[-2:]) // 2)).to(out.device)
        sizes = [h for h in torch.unique(half).tolist() if h > 0]
        if not sizes:
            return out
        means = _BoxMeans(x, max(sizes))
        for h in sizes:
            out = torch.where((half == h)[:, None], self.pool(means(h)), out)
        return out


@fill_doc
class VisualSearch(SearchModel):
    """eccNET-style target-driven visual search on a feature backbone (see the module docstring).

    Parameters
    ----------
    model : str or FeatureModel
        The feature backbone: a :func:`~neuroperception.features.load_model` spec (default ``"torchvision:vgg16"``, as
        in eccNET) or a loaded model (its module is copied, not changed).
    weights : None, path or str
        Passed to ``load_model``: None is a seeded random init (with a
        :class:`~neuroperception.errors.RandomWeightsWarning`; ``"random"`` asks for it without one),
        a path a state dict (e.g. ImageNet VGG-16 weights), ``"DEFAULT"`` the cached torchvision
        weights. Recorded in :attr:`weights` and in the ``attrs`` of every scanpath table.
    layers : sequence of str, optional
        Layers whose maps are matched with the target's (default: the outputs of the last three
        pooling layers, for VGG-16 ``features.16``, ``features.23``, ``features.30``).
    eccentricity_pooling : bool
        Wrap the backbone's pooling layers with eccentricity-dependent pooling (False gives IVSN).
    ecc_slopes : sequence of float, optional
        One slope per pooling layer, in order (default: eccNET's last three slopes on the last three
        pooling layers, zero before).
    fovea_radius : float, optional
        Radius in pixels within which pooling is the backbone's own (default: 1/10 of the image width).
    ior_radius : float, optional
        Inhibition-of-return radius in pixels (default: 1/16 of the image width; with item boxes,
        none: whole items are inhibited instead).
    max_fixations : int
        Fixations after the first before giving up.
    similarity : {"dot", "cosine", "centered"}
        ``"dot"`` convolves with the raw target features (eccNET); ``"cosine"`` divides by the
        norms of the target and of each image patch; ``"centered"`` first subtracts each channel's
        mean over the search image from both (features the whole display shares do not count),
        then takes the cosine. With random-init backbones the last works best.
    layer_weights : sequence of float, optional
        Weights of the layers' normalised maps (default equal).
    target_radius : float
        A fixation this close (pixels) to the target's box finds it.
    batch_size : int
        Images searched together.
    %(device)s
    %(random_state)s
        It seeds the random init when ``weights`` is None or ``"random"`` (as in ``load_model``).

    Examples
    --------
    >>> from neuroperception.stimuli.search_arrays import search_array
    >>> arr = search_array("red", "green", set_size=6, size=96, n=2)
    >>> model = VisualSearch("torchvision:alexnet", weights="random", max_fixations=6)
    >>> scanpaths, n_fix = model.search(arr)
    >>> len(scanpaths), n_fix.shape, scanpaths.table.attrs["weights"]
    (2, (2,), 'random-init(seed=0)')
    """

    def __init__(self, model: str | FeatureModel = "torchvision:vgg16", weights=None, layers=None,
                 eccentricity_pooling: bool = True, ecc_slopes=None, fovea_radius: float | None = None,
                 ior_radius: float | None = None, max_fixations: int = 30, similarity: str = "dot",
                 layer_weights=None, target_radius: float = 0.0, batch_size: int = 16, device=None,
                 random_state: int | np.random.Generator | None = 0):
        super().__init__(ior_radius, max_fixations, target_radius, batch_size)
        check_random_state(random_state)  # checked even when a loaded model leaves it unused
        if similarity not in ("dot", "cosine", "centered"):
            raise InputError(f"similarity: received {similarity!r}; expected 'dot', 'cosine' or 'centered'")
        if fovea_radius is not None and (not np.isfinite(fovea_radius) or fovea_radius < 0):
            raise InputError(f"fovea_radius: received {fovea_radius!r}; expected a radius >= 0 pixels or None")
        if isinstance(model, FeatureModel):
            model = FeatureModel(copy.deepcopy(model.module), model.preprocess, model.spec,
                                 model.weights, device=device, extras={})
        elif isinstance(model, str):
            model = load_model(model, weights=weights, device=device, random_state=random_state)
        else:
            raise InputError(f"model: received {type(model).__name__}; expected a spec such as "
                             "'torchvision:vgg16' or a FeatureModel")
        self.model, self.similarity, self.fovea_radius = model, similarity, fovea_radius
        self.weights = model.weights
        self.eccentricity_pooling = bool(eccentricity_pooling)
        self.name = f"VisualSearch({model.spec})"
        self._context = _Context()
        self._strides: dict[tuple[int, int], int] = {}
        pools = [name for name, mod in model.module.named_modules() if isinstance(mod, _POOLS)]
        slopes = self._slopes(ecc_slopes, len(pools))
        for name, slope in zip(pools, slopes):
            parent, _, attr = name.rpartition(".")
            owner = model.module.get_submodule(parent) if parent else model.module
            setattr(owner, attr, _EccentricityPool(getattr(owner, attr), slope, self._context))
        self.ecc_slopes = slopes
        if layers is None:
            if not pools:
                raise InputError(f"layers: {model.spec} has no pooling layers to default to; expected layer "
                                 "names (see layer_names(model))")
            layers = pools[-3:]
        layers = [layers] if isinstance(layers, str) else list(layers)
        known = {name for name, _ in model.module.named_modules() if name}
        unknown = [la for la in layers if la not in known]
        if not layers or unknown:
            raise InputError(f"layers: received {layers!r}; {unknown} are not layers of {model.spec} "
                             "(expected names from layer_names(model), e.g. its pooling layers)")
        self.layers = layers
        if layer_weights is None:
            layer_weights = np.ones(len(layers))
        lw = np.asarray(layer_weights, dtype=float)
        if lw.shape != (len(layers),) or (lw < 0).any() or lw.sum() <= 0 or not np.isfinite(lw).all():
            raise InputError(f"layer_weights: received {layer_weights!r}; expected {len(layers)} non-negative "
                             "weights, not all zero")
        self.layer_weights = lw / lw.sum()

    @staticmethod
    def _slopes(ecc_slopes, n_pools: int) -> tuple[float, ...]:
        if ecc_slopes is None:
            tail = ECCNET_SLOPES[-min(3, n_pools):] if n_pools else ()
            return tuple([0.0] * (n_pools - len(tail)) + list(tail))
        slopes = tuple(float(s) for s in ecc_slopes)
        if len(slopes) != n_pools or any(not np.isfinite(s) or s < 0 for s in slopes):
            raise InputError(f"ecc_slopes: received {ecc_slopes!r}; expected {n_pools} non-negative slopes, one "
                             "per pooling layer of the backbone")
        return slopes

    # ------------------------------------------------------------------ features
    def _features(self, x: torch.Tensor, fixations: torch.Tensor | None) -> list[torch.Tensor]:
        """The recorded layers' maps; eccentricity pooling around ``fixations`` (pixels of ``x``) if given."""
        ctx = self._context
        ctx.enabled = self.eccentricity_pooling and fixations is not None
        ctx.fixations = fixations
        ctx.image_hw = tuple(x.shape[-2:])
        mean = torch.tensor(self.model.preprocess.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.model.preprocess.std).view(1, -1, 1, 1)
        try:
            # copies are recorded (later in-place layers must not change them); the pass stops at the last layer
            with torch.no_grad(), record(self.model.module, list(self.layers), stop=True) as out:
                self.model.module(((x - mean) / std).to(self.model.device))
        except RuntimeError as err:
            raise InputError(f"images: {tuple(x.shape)} could not pass through {self.model.spec} ({err}); "
                             "expected larger images") from err
        finally:
            ctx.enabled, ctx.fixations = False, None
        missing = [la for la in self.layers if la not in out]
        if missing:
            raise InputError(f"layers: {missing} produced no output in {self.model.spec}'s forward pass; expected "
                             "layers that run on the image")
        return [out[la].float().cpu() for la in self.layers]

    def _stride(self, h: int, w: int) -> int:
        """The largest stride among the recorded layers for ``h x w`` input (cached)."""
        if (h, w) not in self._strides:
            probe = self._features(torch.zeros(1, 3, h, w), None)
            self._strides[(h, w)] = max(int(np.ceil(h / p.shape[-2])) for p in probe)
        return self._strides[(h, w)]

    @staticmethod
    def _pad(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
        """``x`` placed at (top, left) on a ``height x width`` canvas of its own border's median colour."""
        border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], -1)
        canvas = border.median(dim=-1).values[:, :, None, None].expand(-1, -1, height, width).clone()
        canvas[..., top:top + x.shape[-2], left:left + x.shape[-1]] = x
        return canvas

    def _prepare(self, images, targets, index):
        """Target kernels: the target's maps cropped to its own extent, per image and layer."""
        side = self._stride(*images.shape[-2:])
        th, tw = targets.shape[-2:]
        pad_to = int(np.ceil(max(64, 2 * side, th + side, tw + side) / side) * side)
        y0, x0 = (pad_to - th) // 2, (pad_to - tw) // 2
        maps = self._features(self._pad(targets, y0, x0, pad_to, pad_to), None)
        kernels = []
        for fm in maps:
            stride = pad_to / fm.shape[-1]
            kh, kw = max(1, int(round(th / stride))), max(1, int(round(tw / stride)))
            cy, cx = (y0 + (th - 1) / 2) / stride, (x0 + (tw - 1) / 2) / stride
            ky, kx = int(round(cy - kh / 2)), int(round(cx - kw / 2))
            ky, kx = min(max(ky, 0), fm.shape[-2] - kh), min(max(kx, 0), fm.shape[-1] - kw)
            kernels.append(fm[..., ky:ky + kh, kx:kx + kw])
        return kernels

    def _static(self) -> bool:
        return not self.eccentricity_pooling or not any(s > 0 for s in self.ecc_slopes)

    def _match(self, s: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Response ``(1, 1, h, w)`` of one image's map ``s`` to one target kernel ``k``."""
        if self.similarity == "centered":
            mu = s.mean(dim=(2, 3), keepdim=True)
            s, k = s - mu, k - mu
        a = _same_conv(s, k)
        if self.similarity != "dot":
            energy = _same_conv((s * s).sum(1, keepdim=True), torch.ones(1, 1, *k.shape[-2:]))
            a = a / (k.norm() * energy.clamp(min=0).sqrt() + 1e-8)
        return a

    def _attention(self, images, state, fixations, step, rows):
        h, w = images.shape[-2:]
        m = self._stride(h, w)  # a margin of background keeps the network's zero padding off the display
        padded = self._pad(images, m, m, h + 2 * m, w + 2 * m)
        self._context.fovea_radius = w / 10.0 if self.fovea_radius is None else float(self.fovea_radius)
        maps = self._features(padded, None if fixations is None else fixations + m)
        total = torch.zeros(len(rows), h, w)
        idx = torch.as_tensor(rows)
        for fm, kernels, weight in zip(maps, state, self.layer_weights):
            k = kernels[idx]
            a = torch.cat([self._match(fm[b:b + 1], k[b:b + 1]) for b in range(fm.shape[0])])
            a = F.interpolate(a, size=(h + 2 * m, w + 2 * m), mode="bilinear", align_corners=False)
            a = a[:, 0, m:m + h, m:m + w]
            lo = a.amin(dim=(1, 2), keepdim=True)
            hi = a.amax(dim=(1, 2), keepdim=True)
            total += weight * (a - lo) / (hi - lo).clamp(min=1e-12)
        return total

    def attention_map(self, images, target_images, fixations=None) -> torch.Tensor:
        """The attention maps ``(N, H, W)`` in ``[0, 1]`` that guide the next fixation.

        Parameters
        ----------
        images, target_images
            As in :meth:`search`.
        fixations : array ``(N, 2)`` or ``(2,)``, optional
            Current fixations (pixels) for eccentricity pooling (default: the image centres).

        Examples
        --------
        >>> import torch
        >>> model = VisualSearch("torchvision:alexnet", weights="random")
        >>> model.attention_map(torch.rand(1, 3, 96, 96), torch.rand(1, 3, 16, 16)).shape
        torch.Size([1, 96, 96])
        """
        x, _ = as_images(images, "images")
        t, _ = as_images(target_images, "target_images")
        if t.shape[0] == 1 and x.shape[0] > 1:
            t = t.expand(x.shape[0], -1, -1, -1)
        if t.shape[0] != x.shape[0]:
            raise ShapeError(f"target_images: received {t.shape[0]} targets for {x.shape[0]} images; expected one "
                             "per image or a single one")
        h, w = x.shape[-2:]
        fix = np.tile([(w - 1) / 2.0, (h - 1) / 2.0], (x.shape[0], 1)) if fixations is None else np.asarray(
            fixations, dtype=float)
        fix = np.tile(fix, (x.shape[0], 1)) if fix.shape == (2,) else fix
        if fix.shape != (x.shape[0], 2):
            raise ShapeError(f"fixations: received {describe(fix)}; expected (2,) or ({x.shape[0]}, 2)")
        rows = np.arange(x.shape[0])
        return self._attention(x, self._prepare(x, t, rows), torch.tensor(fix, dtype=torch.float32), 1, rows)

    def __repr__(self) -> str:
        return (f"VisualSearch({self.model.spec!r}, weights={self.model.weights!r}, layers={self.layers}, "
                f"eccentricity_pooling={self.eccentricity_pooling}, similarity={self.similarity!r})")


@fill_doc
class RandomSearch(SearchModel):
    """Chance baseline: fixates random locations (or random unvisited items) with the same IOR and stop rule.

    Parameters
    ----------
    ior_radius, max_fixations, target_radius, batch_size
        As in :class:`VisualSearch`.
    %(random_state)s
        A Generator or None is drawn from once, here; every image then gets its own stream, so
        repeated searches give the same scanpaths.

    Examples
    --------
    >>> from neuroperception.stimuli.search_arrays import search_array
    >>> arr = search_array("Q", "O", set_size=4, size=96, n=3)
    >>> _, n_fix = RandomSearch(max_fixations=4, random_state=0).search(arr)
    >>> bool(((n_fix >= 1) & (n_fix <= 4)).all())
    True
    """

    name = "RandomSearch"

    def __init__(self, ior_radius: float | None = None, max_fixations: int = 30, target_radius: float = 0.0,
                 batch_size: int = 16, random_state: int | np.random.Generator | None = 0):
        super().__init__(ior_radius, max_fixations, target_radius, batch_size)
        self.random_state = random_state
        self._seed = seed_from(random_state)

    def _prepare(self, images, targets, index):
        return [np.random.default_rng([self._seed, int(i)]) for i in index]

    def _attention(self, images, state, fixations, step, rows):
        h, w = images.shape[-2:]
        return torch.from_numpy(np.stack([state[i].random((h, w)) for i in rows]))
