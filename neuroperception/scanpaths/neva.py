"""Task-driven scanpaths by optimisation through a foveated view: NeVA and NevaClip.

NeVA (Schwinn et al. 2022, "Behind the machine's gaze") picks each next fixation as the position
that, added to the fixations made so far, makes a task network do best on the foveated image
(:func:`~neuroperception.scanpaths.foveation.foveate`). NevaClip (Zanca et al. 2023) takes CLIP
as the task: the image foveated at (previous fixations + candidate) should match a caption, i.e.
have a high image-text cosine similarity. The search is the papers': sign-gradient steps on the
candidate's normalised coordinates, keeping the best position seen; a candidate whose step did not
improve on its best jumps to a fresh random position (the papers' random restarts). All images
(and ``restarts`` candidates per image) are optimised at once in one batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .._docs import fill_doc
from .._progress import check_progress, progress_bar
from .._validation import check_device, describe, seed_from
from ..errors import InputError, ShapeError
from ..features import FeatureModel, load_model
from ..features.hooks import first_tensor
from .foveation import DEFAULT_BLUR_LEVELS, DEFAULT_SIGMA, _blend, _blur_stack, _check_options, _windows
from .saliency_models import _images_and_ids, _model_input
from .table import Scanpaths

__all__ = ["NevaClip", "NeVA"]


def _as_callable(model: Any, name: str, device) -> tuple[Callable[[torch.Tensor], torch.Tensor], str, Any, str]:
    """A differentiable ``images -> tensor`` function, a label, the model's device (moved to ``device``)
    and where its weights came from."""
    if isinstance(model, str):
        model = load_model(model)
    if isinstance(model, FeatureModel):
        fm = model.to(device)
        return ((lambda z: first_tensor(fm.module(_model_input(fm.preprocess, z)), "output")), fm.spec, fm.device,
                fm.weights)
    if isinstance(model, nn.Module):
        model.to(device)
        param = next(iter(model.parameters()), None)
        return ((lambda z: first_tensor(model(z), "output")), type(model).__name__,
                param.device if param is not None else None,
                f"unknown ({type(model).__name__} passed as a torch.nn.Module)")
    raise InputError(f"{name}: received {type(model).__name__}; expected a registry spec such as "
                     "'torchvision:resnet18', a FeatureModel or a torch.nn.Module")


class _NevaSearch:
    """Shared settings and the batched fixation search of NeVA and NevaClip."""

    _name = "NeVA"
    #: Where the task network's weights came from; ``attrs["weights"]`` of every scanpath table.
    weights = "none (pixels)"
    _network = "pixels"

    def __init__(self, n_fixations: int = 10, steps: int = 20, lr: float = 0.1, restarts: int = 1,
                 sigma: float = DEFAULT_SIGMA, blur_levels: Sequence[float] = DEFAULT_BLUR_LEVELS,
                 memory: float = 1.0, aggregate: str = "sum", random_state: int | np.random.Generator | None = 0,
                 device=None, progress: bool | None = None):
        for name, value in (("n_fixations", n_fixations), ("steps", steps), ("restarts", restarts)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name}: received {value!r}; expected a positive int")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise InputError(f"lr: received {lr!r}; expected a positive step in normalised coordinates "
                             "(the image spans [-1, 1])")
        self.sigma, self.blur_levels, self.memory, self.aggregate = _check_options(sigma, blur_levels, memory,
                                                                                   aggregate)
        self.n_fixations, self.steps, self.restarts = int(n_fixations), int(steps), int(restarts)
        self.lr, self.random_state, self.progress = float(lr), random_state, check_progress(progress)
        self._seed = seed_from(random_state)  # a Generator or None: drawn once, here
        self.device = check_device(device)

    def _search(self, x: torch.Tensor, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]):
        """Fixations ``(N, F, 2)`` in pixels and their losses ``(N, F)``; ``loss_fn(foveated, image_index)``."""
        n, _, h, w = x.shape
        r = self.restarts
        gen = torch.Generator(device=x.device).manual_seed(self._seed)
        sigma_px = self.sigma * max(h, w)
        scale = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=x.dtype, device=x.device)
        idx = torch.arange(n, device=x.device).repeat_interleave(r)
        stack = _blur_stack(x, self.blur_levels)[:, idx]
        memory = x.new_zeros(n, 1, h, w)
        path, losses = [], []

        def combine(mem: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
            return (mem + win).clamp(0.0, 1.0) if self.aggregate == "sum" else torch.maximum(mem, win)

        for _ in progress_bar(range(self.n_fixations), self.progress, desc=f"{self._name} fixations"):
            pos = torch.rand(n * r, 2, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
            pos.view(n, r, 2)[:, 0] = 0.0  # the first candidate of every image starts at the centre
            best_loss = torch.full((n * r,), float("inf"), dtype=x.dtype, device=x.device)
            best_pos = pos.clone()
            for _ in range(self.steps):
                pos.requires_grad_(True)
                win = _windows(((pos + 1) * scale)[:, None], h, w, sigma_px)
                loss = loss_fn(_blend(stack, combine(memory[idx], win)), idx)
                if loss.shape != (n * r,):
                    raise ShapeError(f"task loss: received shape {tuple(loss.shape)}; expected one value per "
                                     f"image ({n * r},)")
                (grad,) = torch.autograd.grad(loss.sum(), pos)
                with torch.no_grad():
                    loss = loss.detach()
                    better = loss < best_loss
                    best_loss = torch.where(better, loss, best_loss)
                    best_pos = torch.where(better[:, None], pos, best_pos)
                    fresh = torch.rand(n * r, 2, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
                    step = (pos - self.lr * grad.sign()).clamp(-1.0, 1.0)
                    pos = torch.where(better[:, None], step, fresh)
            k = best_loss.view(n, r).argmin(1)
            chosen = best_pos.view(n, r, 2)[torch.arange(n, device=x.device), k]
            with torch.no_grad():
                memory = combine(memory * self.memory, _windows(((chosen + 1) * scale)[:, None], h, w, sigma_px))
            path.append((chosen + 1) * scale)
            losses.append(best_loss.view(n, r).min(1).values)
        return torch.stack(path, 1).cpu().numpy().astype(float), torch.stack(losses, 1).cpu().numpy().astype(float)

    def _table(self, ids: list[str], xy: np.ndarray, losses: np.ndarray, tasks: list[str],
               size: tuple[int, int]) -> Scanpaths:
        rows = [{"scanpath": i, "fixation": j, "stimulus_id": ids[i], "subject": self._name, "task": tasks[i],
                 "x": xy[i, j, 0], "y": xy[i, j, 1], "loss": losses[i, j]}
                for i in range(len(ids)) for j in range(xy.shape[1])]
        scanpaths = Scanpaths(pd.DataFrame(rows), sizes={i: size for i in ids})
        scanpaths.table.attrs.update(model=f"{self._name}({self._network})", weights=self.weights)
        return scanpaths

    def _get_device(self, default: torch.device) -> torch.device:
        return self.device


@fill_doc
class NevaClip(_NevaSearch):
    """Caption-driven scanpaths: each fixation makes the foveated image match the caption for CLIP.

    Parameters
    ----------
    model : str or FeatureModel
        The CLIP model: ``"world:clip"`` (the miniature world's image-text model, trained weights shipped
        with the package: real effects on world scenes, offline), an ``open_clip:<arch>`` spec (a seeded
        random init, as :func:`~neuroperception.features.load_model` builds it, with a
        :class:`~neuroperception.errors.RandomWeightsWarning`) or a
        :class:`~neuroperception.features.FeatureModel` whose ``extras`` hold ``"clip"`` (anything with
        ``encode_image``/``encode_text``) and ``"tokenizer"``. For real scanpaths load pretrained
        weights: ``load_model("open_clip:RN50", weights="openai")``. Its ``weights`` are kept in
        :attr:`weights` and in the ``attrs`` of every scanpath table.
    n_fixations : int
        Fixations per scanpath.
    steps : int
        Sign-gradient steps per fixation.
    lr : float
        Step in normalised coordinates (the image spans ``[-1, 1]`` on both axes).
    restarts : int
        Candidates optimised in parallel per fixation (the first starts at the centre, the others at
        random); the best is kept.
    sigma, blur_levels, memory, aggregate
        The foveation (see :func:`~neuroperception.scanpaths.foveation.foveate`).
    %(random_state)s
        It seeds the random candidates (a Generator or None: through one seed drawn here); the same
        seed gives the same scanpaths on the same device.
    %(device)s
        The model is moved there.
    %(progress)s

    Examples
    --------
    A tiny CLIP architecture registered from a JSON config (random weights, no download):

    >>> import json, pathlib, tempfile, open_clip, torch
    >>> cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
    ...        "patch_size": 8}, "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16,
    ...        "heads": 2, "layers": 1}}
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "TinyDoc-ViT.json"
    >>> _ = f.write_text(json.dumps(cfg))
    >>> open_clip.add_model_config(str(f))
    >>> from neuroperception.features import load_model
    >>> clip = load_model("open_clip:TinyDoc-ViT", weights="random")      # random on purpose: no warning
    >>> model = NevaClip(clip, n_fixations=3, steps=2)
    >>> sp = model.predict(torch.rand(2, 3, 48, 48), ["a cat", "a dog"])
    >>> sp.n_fixations, list(sp.meta["task"]), sp.table.attrs["weights"]
    (6, ['a cat', 'a dog'], 'random-init(seed=0)')
    """

    _name = "NevaClip"

    def __init__(self, model: str | FeatureModel, n_fixations: int = 10, steps: int = 20,
                 lr: float = 0.1, restarts: int = 1, random_state: int | np.random.Generator | None = 0, device=None,
                 progress: bool | None = None,
                 sigma: float = DEFAULT_SIGMA, blur_levels: Sequence[float] = DEFAULT_BLUR_LEVELS,
                 memory: float = 1.0, aggregate: str = "sum"):
        super().__init__(n_fixations, steps, lr, restarts, sigma, blur_levels, memory, aggregate,
                         random_state, device, progress)
        fm = load_model(model) if isinstance(model, str) else model
        if not isinstance(fm, FeatureModel):
            raise InputError(f"model: received {type(model).__name__}; expected 'world:clip', an "
                             "'open_clip:<arch>' spec or a FeatureModel from load_model('open_clip:...')")
        clip = fm.extras.get("clip")
        if clip is None or not hasattr(clip, "encode_image") or not hasattr(clip, "encode_text") \
                or not callable(fm.extras.get("tokenizer")):
            raise InputError(f"model: received {fm.spec!r} without a CLIP text tower; expected a model whose "
                             "extras hold 'clip' (encode_image/encode_text) and 'tokenizer', e.g. 'world:clip' or 'open_clip:RN50'")
        self.model, self.weights, self._network = fm, fm.weights, fm.spec
        fm.to(self.device)

    def predict(self, images: Any, captions: str | Sequence[str] | Mapping[str, str],
                stimulus_id: Sequence[str] | None = None) -> Scanpaths:
        """Scanpaths, one per image, driven by its caption.

        Parameters
        ----------
        images : ImageSet, torch.Tensor or array
            ``(N, 3, H, W)`` in ``[0, 1]``; the whole image is resized to CLIP's input size.
        captions : str, sequence of str or mapping
            One caption for all images, one per image, or ``{stimulus_id: caption}``.
        stimulus_id : sequence of str, optional
            Ids for tensor input (an ImageSet has its own).

        Returns
        -------
        Scanpaths
            ``subject="NevaClip"``, ``task`` the caption, pixel ``x, y``, and a ``loss`` column
            (1 - cosine similarity at the chosen fixation); the table's ``attrs`` hold ``model``
            (``"NevaClip(<spec>)"``) and ``weights``.
        """
        fm = self.model
        device = self._get_device(fm.device)
        x, ids = _images_and_ids(images, stimulus_id)
        texts = _captions(captions, ids)
        x = x.to(device)
        clip = fm.extras["clip"]
        with torch.no_grad():
            tokens = fm.extras["tokenizer"](texts)
            text = F.normalize(clip.encode_text(tokens.to(device) if hasattr(tokens, "to") else tokens).float(),
                               dim=-1)

        def loss_fn(fov: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            emb = clip.encode_image(_model_input(fm.preprocess, fov))
            return 1.0 - F.cosine_similarity(emb.float(), text[idx], dim=-1)

        xy, losses = self._search(x, loss_fn)
        return self._table(ids, xy, losses, texts, tuple(x.shape[-2:]))


def _captions(captions: Any, ids: list[str]) -> list[str]:
    if isinstance(captions, str):
        return [captions] * len(ids)
    if isinstance(captions, Mapping):
        missing = [i for i in ids if i not in captions]
        if missing:
            raise InputError(f"captions: no caption for image ids {missing[:5]}; expected one per image")
        return [str(captions[i]) for i in ids]
    if isinstance(captions, Sequence) and len(captions) == len(ids) and all(isinstance(c, str) for c in captions):
        return list(captions)
    n = len(captions) if hasattr(captions, "__len__") else "?"
    raise InputError(f"captions: received {type(captions).__name__} of length {n}; expected a string, one string "
                     f"per image ({len(ids)}) or a mapping stimulus_id -> caption")


class NeVA(_NevaSearch):
    """Free-viewing scanpaths: each fixation makes a task network do best on the foveated image.

    Parameters
    ----------
    model : None, str, FeatureModel or torch.nn.Module
        The task network. For ``"reconstruction"``: None compares the foveated image with the original pixel by pixel
        (weight-free: fixations go where blur destroys most detail); a model compares its outputs on
        the foveated and the original image (e.g. ``"gabor"`` or a seeded conv net). For
        ``"classification"``: a classifier returning logits ``(N, classes)``. A model's weights are
        kept in :attr:`weights` and in the ``attrs`` of every scanpath table (``"unknown (...)"``
        for a plain ``torch.nn.Module``).
    objective : {"reconstruction", "classification"}
        Mean squared error to the original (or its representation), or cross-entropy to the labels
        (default: the classifier's own prediction on the unblurred image).
    **kwargs
        The search and foveation settings of :class:`NevaClip` (``n_fixations``, ``steps``,
        ``lr``, ``restarts``, ``random_state``, ``device``, ``progress``, ``sigma``, ``blur_levels``,
        ``memory``, ``aggregate``).

    Examples
    --------
    >>> import torch
    >>> img = torch.full((1, 3, 32, 32), 0.5)
    >>> img[0, :, 4:10, 20:28] = torch.rand(3, 6, 8, generator=torch.Generator().manual_seed(0))  # detail
    >>> sp = NeVA(n_fixations=1, steps=10, restarts=4).predict(img)
    >>> x, y = sp.arrays()[0][0]
    >>> bool(16 <= x <= 31 and y <= 14)
    True
    """

    _name = "NeVA"

    def __init__(self, model: Any = None, objective: str = "reconstruction", **kwargs):
        if objective not in ("reconstruction", "classification"):
            raise InputError(f"objective: received {objective!r}; expected 'reconstruction' or 'classification'")
        if objective == "classification" and model is None:
            raise InputError("model: received None for objective='classification'; expected a classifier "
                             "spec such as 'torchvision:resnet18', a FeatureModel or an nn.Module")
        super().__init__(**kwargs)
        self.objective = objective
        self.model = model
        self._fn, self._network, self._model_device, self.weights = \
            ((lambda z: z), "pixels", None, "none (pixels)") if model is None \
            else _as_callable(model, "model", self.device)

    def predict(self, images: Any, labels: Sequence[int] | None = None,
                stimulus_id: Sequence[str] | None = None) -> Scanpaths:
        """Scanpaths, one per image.

        Parameters
        ----------
        images : ImageSet, torch.Tensor or array
            ``(N, 3, H, W)`` in ``[0, 1]``.
        labels : sequence of int, optional
            Class per image for ``"classification"`` (default: the model's prediction on the original).
        stimulus_id : sequence of str, optional
            Ids for tensor input.

        Returns
        -------
        Scanpaths
            ``subject="NeVA"``, ``task`` the objective, pixel ``x, y`` and the ``loss`` per fixation;
            the table's ``attrs`` hold ``model`` (``"NeVA(<spec or module>)"``) and ``weights``
            (``"none (pixels)"`` without a task model).
        """
        x, ids = _images_and_ids(images, stimulus_id)
        x = x.to(self._get_device(self._model_device or x.device))
        with torch.no_grad():
            reference = self._fn(x).detach()
        if self.objective == "reconstruction":
            def loss_fn(fov: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
                return (self._fn(fov) - reference[idx]).pow(2).flatten(1).mean(1)
        else:
            if reference.ndim != 2:
                raise ShapeError(f"model: returned {describe(reference)}; expected logits (N, classes)")
            if labels is None:
                target = reference.softmax(-1)
            else:
                lab = np.asarray(labels)
                if lab.shape != (len(ids),) or not np.issubdtype(lab.dtype, np.integer) \
                        or lab.min() < 0 or lab.max() >= reference.shape[1]:
                    raise InputError(f"labels: received {describe(lab)}; expected one int in [0, "
                                     f"{reference.shape[1]}) per image ({len(ids)})")
                target = F.one_hot(torch.as_tensor(lab, device=x.device), reference.shape[1]).to(x.dtype)

            def loss_fn(fov: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
                return -(target[idx] * F.log_softmax(self._fn(fov), -1)).sum(-1)

        xy, losses = self._search(x, loss_fn)
        task = f"{self.objective}:{self._network}"
        return self._table(ids, xy, losses, [task] * len(ids), tuple(x.shape[-2:]))
