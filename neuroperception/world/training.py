"""Train the world's models on a CPU, deterministically, and write their weight files.

Run ``python -m neuroperception.world.training [--model cnn|clip|all] [--out DIR]``. Every batch
of training scenes is rendered on the fly by :func:`~neuroperception.world.render_scenes` from its
own seeded stream (:func:`~neuroperception.world.evaluation.scene_stream` ``("train", step)``);
held-out scenes come from other streams. With the same seed, thread count and torch build, two
runs write the same weights. Each model trains in a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .evaluation import (PERTURBATIONS, caption_scores, normalise, perturb_caption, present_categories, probe_layers,
                         scene_stream, shape_accuracy)
from .models import WORLD_WORDS, WorldCLIP, WorldCNN, WorldTokenizer, shipped_weights_path
from .scenes import render_scenes
from .vocabulary import CATEGORIES

__all__ = ["TrainConfig", "CNN_CONFIG", "CLIP_CONFIG", "train_cnn", "train_clip", "save_weights", "WEIGHTS_VERSION"]

#: Version of the weight-file layout and training recipe (stored in each file's metadata).
WEIGHTS_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """A training recipe: steps of AdamW with a one-cycle learning rate on fresh scenes.

    Parameters
    ----------
    steps, batch_size, lr, weight_decay
        Optimisation.
    widths : tuple of 4 int
        Conv channels.
    embed_dim, hidden, context_length
        CLIP only: shared space, MLP/GRU width, tokens per caption.
    hard_negatives : tuple of str
        CLIP only: ways of making each caption false (see
        :data:`~neuroperception.world.evaluation.PERTURBATIONS`); two such false captions (the
        relation first, where the caption has one) join the captions its image must tell its own from.
    random_state : int
        Seeds the initialisation and the training scenes.
    n_test : int
        Held-out scenes for the final scores (100 for the CLIP: retrieval among 100).
    n_probe : int
        CNN only: single-object scenes of the per-layer linear probes (0: no probes).

    Examples
    --------
    >>> TrainConfig(steps=10).batch_size
    96
    """

    steps: int = 1500
    batch_size: int = 96
    lr: float = 3e-3
    weight_decay: float = 1e-4
    widths: tuple[int, ...] = (16, 32, 64, 128)
    embed_dim: int = 64
    hidden: int = 128
    context_length: int = 32
    hard_negatives: tuple[str, ...] = field(default_factory=tuple)
    random_state: int = 0
    n_test: int = 1000
    n_probe: int = 1200


#: The recipe of the shipped ``world_cnn.pt``.
CNN_CONFIG = TrainConfig(steps=1000, batch_size=64, lr=3e-3, widths=(16, 32, 64, 128), n_test=1000)
#: The recipe of the shipped ``world_clip.pt``.
CLIP_CONFIG = TrainConfig(steps=1500, batch_size=96, lr=2e-3, widths=(16, 32, 64, 128), hidden=128,
                          hard_negatives=PERTURBATIONS, n_test=100)


@contextmanager
def _deterministic(random_state: int):
    """Seeded, deterministic torch for the block; the caller's RNG state and settings come back after."""
    was = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)


def _batch(step: int, config: TrainConfig):
    return render_scenes(config.batch_size, random_state=scene_stream("train", step, config.random_state))


def _optimiser(model: torch.nn.Module, config: TrainConfig):
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.15)
    return opt, sched


def _report(progress: Callable[[str], None] | None, step: int, config: TrainConfig, loss: float, t0: float) -> None:
    if progress is not None and (step % 100 == 0 or step == config.steps - 1):
        progress(f"step {step + 1}/{config.steps}  loss {loss:.4f}  {time.perf_counter() - t0:.0f} s")


def _fit(build: Callable[[], torch.nn.Module], step_loss: Callable[[torch.nn.Module, int], torch.Tensor],
         config: TrainConfig, progress: Callable[[str], None] | None,
         after_step: Callable[[torch.nn.Module], None] | None = None) -> tuple[torch.nn.Module, dict[str, float]]:
    """Build the model and optimise it under a seeded, deterministic torch; the model (eval mode) and the
    wall-clock and CPU seconds it took."""
    with _deterministic(config.random_state):
        model = build()
        opt, sched = _optimiser(model, config)
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        for step in range(config.steps):
            loss = step_loss(model, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step(model)
            _report(progress, step, config, loss.item(), t0)
    seconds = {"train_seconds": round(time.perf_counter() - t0, 1),
               "train_cpu_seconds": round(time.process_time() - c0, 1)}
    return model.eval(), seconds


def train_cnn(config: TrainConfig = CNN_CONFIG, *, progress: Callable[[str], None] | None = print):
    """Train a :class:`WorldCNN` to name the shapes present in world scenes.

    The target of a scene is the set of its objects' categories; the loss is binary
    cross-entropy per category.

    Parameters
    ----------
    config : TrainConfig
        Default :data:`CNN_CONFIG` (the shipped recipe).
    progress : callable or None
        Called with a line of text every 100 steps.

    Returns
    -------
    model : WorldCNN
        In eval mode.
    metrics : dict
        Held-out ``exact_set`` and ``per_label`` accuracy, training seconds, and per-layer probes.

    Examples
    --------
    >>> model, metrics = train_cnn(TrainConfig(steps=2, batch_size=4, n_test=8, n_probe=0), progress=None)
    >>> type(model).__name__, sorted(metrics)[:2]
    ('WorldCNN', ['exact_set', 'n_scenes'])
    """
    def step_loss(model: WorldCNN, step: int) -> torch.Tensor:
        scenes = _batch(step, config)
        target = torch.from_numpy(present_categories(scenes.objects, list(scenes.images.ids))).float()
        return F.binary_cross_entropy_with_logits(model(normalise(scenes.images.images)), target)

    model, seconds = _fit(lambda: WorldCNN(config.widths), step_loss, config, progress)
    test = render_scenes(config.n_test, random_state=scene_stream("test", 0, config.random_state))
    metrics: dict[str, Any] = {**shape_accuracy(model, test), **seconds}
    if config.n_probe:
        probe = probe_layers(model, n_scenes=config.n_probe, random_state=config.random_state)
        metrics["probe"] = {layer: {k: float(v) for k, v in row.items()} for layer, row in probe.iterrows()}
    return model, metrics


def _swap_phrases(caption: str) -> str | None:
    """``"A above B"`` → ``"B above A"`` (as false as reversing the relation), or None without a relation."""
    words = caption.split()
    for i, w in enumerate(words):
        if w in ("above", "below") or (w in ("left", "right") and words[i + 1 : i + 2] == ["of"]):
            n = 1 if w in ("above", "below") else 2
            return " ".join(words[i + n :] + words[i : i + n] + words[:i])
    return None


def _hard_negatives(texts: list[str], kinds: tuple[str, ...], rng: np.random.Generator) -> list[list[str]]:
    """Two false captions per caption ("" where none applies): the relation made false where the caption
    has one (the relation reversed or the two phrases swapped, at random), else one of the other ``kinds``;
    then one of the other kinds."""
    first, second = [], []
    for text in texts:
        options = {kind: perturb_caption(text, kind, rng) for kind in kinds}
        if options.get("relation") is not None and rng.random() < 0.5:
            options["relation"] = _swap_phrases(text)
        valid = [kind for kind, false in options.items() if false is not None]
        lead = "relation" if "relation" in valid else (valid[int(rng.integers(len(valid)))] if valid else None)
        rest = [kind for kind in valid if kind != lead]
        first.append(options[lead] if lead else "")
        second.append(options[rest[int(rng.integers(len(rest)))]] if rest else "")
    return [first, second]


def _clip_loss(model: WorldCLIP, images: torch.Tensor, tokens: torch.Tensor, negatives: list[torch.Tensor],
               valid: list[torch.Tensor]) -> torch.Tensor:
    """Symmetric InfoNCE; each image also tells its caption from its own hard negatives (where it has them)."""
    img, txt, scale = model(images, tokens)
    logits = scale * img @ txt.T
    target = torch.arange(images.shape[0])
    hard = [(scale * (img * model.encode_text(t, normalize=True)).sum(1, keepdim=True)).masked_fill(~v[:, None],
                                                                                                  float("-inf"))
            for t, v in zip(negatives, valid)]
    i2t = torch.cat([logits, *hard], dim=1)
    return (F.cross_entropy(i2t, target) + F.cross_entropy(logits.T, target)) / 2


def train_clip(config: TrainConfig = CLIP_CONFIG, *, progress: Callable[[str], None] | None = print):
    """Train a :class:`WorldCLIP` contrastively on world scenes and their captions.

    Each step renders a batch of scenes, takes one of each scene's captions at random, and
    minimises the symmetric InfoNCE loss. Each image also has to tell its caption from two false
    ones (hard negatives, NegCLIP-style): a relation caption reversed (``"above"`` → ``"below"``)
    or with its two phrases swapped, else the caption with one colour or one shape changed; then
    one more change of another kind.

    Parameters
    ----------
    config : TrainConfig
        Default :data:`CLIP_CONFIG` (the shipped recipe).
    progress : callable or None
        Called with a line of text every 100 steps.

    Returns
    -------
    model : WorldCLIP
        In eval mode.
    tokenizer : WorldTokenizer
    metrics : dict
        Held-out retrieval (top-1 among ``config.n_test`` scenes, both directions), the
        colour / shape / relation discrimination accuracies, and training seconds.

    Examples
    --------
    >>> model, tok, metrics = train_clip(TrainConfig(steps=2, batch_size=4, n_test=8), progress=None)
    >>> type(model).__name__, "relation" in metrics
    ('WorldCLIP', True)
    """
    tokenizer = WorldTokenizer(WORLD_WORDS, context_length=config.context_length)

    def step_loss(model: WorldCLIP, step: int) -> torch.Tensor:
        scenes = _batch(step, config)
        rng = scene_stream("captions", step, config.random_state)
        caps = scenes.captions.iloc[rng.permutation(len(scenes.captions))].drop_duplicates("stimulus_id")
        caps = caps.set_index("stimulus_id")["caption"]
        texts = [str(caps[sid]) for sid in scenes.images.ids]
        negs = _hard_negatives(texts, config.hard_negatives, rng) if config.hard_negatives else []
        return _clip_loss(model, normalise(scenes.images.images), tokenizer(texts), [tokenizer(n) for n in negs],
                          [torch.tensor([bool(t) for t in n]) for n in negs])

    def clamp(model: WorldCLIP) -> None:
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100.0))  # as CLIP: a temperature of at least 1/100

    def build() -> WorldCLIP:
        return WorldCLIP(tokenizer.vocab_size, embed_dim=config.embed_dim, widths=config.widths, hidden=config.hidden)

    model, seconds = _fit(build, step_loss, config, progress, after_step=clamp)
    test = render_scenes(config.n_test, random_state=scene_stream("test", 0, config.random_state))
    metrics: dict[str, Any] = {**caption_scores(model, tokenizer, test, random_state=config.random_state),
                               "n_scenes": config.n_test, **seconds}
    return model, tokenizer, metrics


def save_weights(model: torch.nn.Module, path, *, name: str, config: TrainConfig, metrics: dict,
                 tokenizer: WorldTokenizer | None = None) -> Path:
    """Write a float16 state dict and its metadata (version, vocabulary, metrics, seed, config).

    Examples
    --------
    >>> import tempfile
    >>> from neuroperception.world.models import build_world_model
    >>> p = save_weights(WorldCNN(), tempfile.mkdtemp() + "/cnn.pt", name="cnn", config=TrainConfig(), metrics={})
    >>> build_world_model("cnn", p)[2]["version"]
    1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    meta = {"version": WEIGHTS_VERSION, "model": name, "categories": list(CATEGORIES), "metrics": metrics,
            "random_state": config.random_state, "config": cfg, "torch": str(torch.__version__)}
    if tokenizer is not None:
        meta["vocabulary"] = list(tokenizer.words)
    torch.save({"state_dict": state, "meta": meta}, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: train the chosen model(s), print the scores, write the weight files."""
    parser = argparse.ArgumentParser(prog="python -m neuroperception.world.training",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("cnn", "clip", "all"), default="all")
    parser.add_argument("--out", default=None, help="folder for world_<model>.pt (default: the package's weights/)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the shipped weights: 1, which gives the same result on any machine "
                             "with the same torch build)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's number of steps")
    args = parser.parse_args(argv)
    if args.threads < 1:
        raise InputError(f"--threads: received {args.threads}; expected a positive int")
    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else shipped_weights_path("cnn").parent
    for name in (("cnn", "clip") if args.model == "all" else (args.model,)):
        config = CNN_CONFIG if name == "cnn" else CLIP_CONFIG
        if args.steps is not None:
            config = TrainConfig(**{**asdict(config), "steps": args.steps})
        print(f"training world:{name} ({config.steps} steps of {config.batch_size} scenes)", flush=True)
        if name == "cnn":
            model, metrics = train_cnn(config, progress=lambda s: print(s, flush=True))
            tok = None
        else:
            model, tok, metrics = train_clip(config, progress=lambda s: print(s, flush=True))
        metrics["threads"] = args.threads
        path = save_weights(model, out / f"world_{name}.pt", name=name, config=config, metrics=metrics, tokenizer=tok)
        print(f"world:{name} held-out scores: {metrics}", flush=True)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
