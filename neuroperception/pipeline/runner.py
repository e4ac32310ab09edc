"""``run_pipeline``: images -> features -> (per subject) encoding fit -> scores and brain maps, resumable.

Order of work: the config is validated, the model and its layers, the response files and the
scheduler are checked, and an existing output folder is checked to hold the same config, all
before anything is computed or written. Then each stage runs, printing a one-line header, and
resumes from what exists: the feature store resumes where it stopped (``extract(store=)``), and a
subject whose ``result.nc`` carries the same config digest is read back instead of refitted.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._distributed import client_context
from .._progress import check_progress
from ..encoding import EncodingResult
from ..errors import InputError
from . import stages
from .config import load_config
from .record import config_digest, dump_config, versions

__all__ = ["run_pipeline", "PipelineResult"]


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` made: the output folder, per-subject results, the score table.

    Attributes
    ----------
    out : Path
        The output folder.
    config : dict
        The validated config that ran (:func:`~neuroperception.pipeline.load_config`).
    digest : str
        Its digest (:func:`~neuroperception.pipeline.config_digest`), recorded in every result.
    results : dict of str to EncodingResult
        Per subject, its held-out scores (read back from ``result.nc`` for skipped subjects).
    scores : pandas.DataFrame
        ``scores.csv``: median scores per subject, layer and ROI.
    skipped : list of str
        Subjects whose result was already on disk with the same digest.
    timings : dict of str to float
        Seconds per stage.

    Examples
    --------
    >>> r = PipelineResult(Path("out"), {}, "0" * 16, {}, pd.DataFrame(), [], {})
    >>> r.skipped, r.digest[:4]
    ([], '0000')
    """

    out: Path
    config: dict
    digest: str
    results: dict[str, EncodingResult]
    scores: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def _scheduler(address: str | None):
    """None, or a connected ``distributed.Client`` (closed afterwards); an unreachable one fails here."""
    if address is None:
        yield None
        return
    with ExitStack() as stack:
        try:
            client = stack.enter_context(client_context(address))
        except ImportError as err:
            raise InputError(f"run.scheduler: received {address!r}, which needs dask.distributed; expected it "
                             "installed (pip install 'neuroperception[dist]') or no scheduler key") from err
        except InputError as err:
            raise InputError(f"run.scheduler: {str(err).removeprefix('client: ')}") from err
        yield client


def _diff(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    keys = [k for k in dict.fromkeys([*old, *new]) if not (prefix == "" and k == "run")]
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b and not (prefix == "features." and k in ("store", "lazy")):
            out.append(f"{prefix}{k} was {a!r}, now {b!r}")
    return out


def _check_out(out: Path, config: dict, digest: str) -> None:
    """An output folder that holds another config's results is an error, never overwritten."""
    written = out / "config.toml"
    if not written.exists():
        return
    try:
        old = load_config(written)
    except InputError as err:
        old, why = None, str(err)
    if old is not None and config_digest(old) == digest:
        return
    changes = "; ".join(_diff(old, config)[:5]) if old is not None else f"its config.toml does not load ({why})"
    raise InputError(f"run.out: {out} holds the results of another config ({changes}); expected the same config to "
                     "resume it. To start fresh, give a new run.out or delete that folder")


def _read_back(path: Path, digest: str) -> EncodingResult:
    done = EncodingResult.from_netcdf(path)
    if done.dataset.attrs.get("config_digest") != digest:
        raise InputError(f"run.out: {path} was written by another config (digest "
                         f"{done.dataset.attrs.get('config_digest')!r}, this one {digest!r}); expected the same "
                         "config. To start fresh, give a new run.out or delete that folder")
    return done


def _header(step: int, text: str, quiet: bool) -> None:
    if not quiet:
        print(f"[{step}/5] {text}", file=sys.stderr, flush=True)


def run_pipeline(config: str | Path | Mapping[str, Any], progress: bool | None = None) -> PipelineResult:
    """Run images -> features -> per-subject encoding fit -> scores and brain maps, resuming what exists.

    Parameters
    ----------
    config : str, Path or dict
        A TOML config file or its content (see :func:`~neuroperception.pipeline.load_config` and the
        user guide's pipeline page for every key).
    progress : bool or None, default None
        Progress bars of the stages, by the package's rule (None: in an interactive session). Stage
        headers (one line each, on stderr) are printed unless it is False.

    Returns
    -------
    PipelineResult

    Raises
    ------
    InputError
        A bad config, a missing model, layer, store or response file, an unreachable scheduler, or an
        output folder that holds another config's results; all raised before any work.
    StoreMismatchError
        A feature store written with another model or settings (nothing in it is changed).

    Examples
    --------
    >>> import tempfile
    >>> config = {"images": {"n": 24, "size": 32},
    ...           "features": {"model": "gabor", "options": {"input_size": 32}, "layers": ["scale1"]},
    ...           "responses": {"simulated": {"n_voxels": 12, "snr": 2.0}},
    ...           "run": {"out": tempfile.mkdtemp(), "figures": False}}
    >>> result = run_pipeline(config, progress=False)
    >>> sorted(result.results), list(result.scores.columns[:4])
    (['subj01'], ['subject', 'layer', 'roi', 'n_voxels'])
    >>> run_pipeline(config, progress=False).skipped            # a second run reads the result back
    ['subj01']
    """
    check_progress(progress)
    quiet = progress is False
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    cfg = load_config(config)
    digest = config_digest(cfg)
    out = Path(cfg["run"]["out"])
    if cfg["features"]["lazy"]:
        stages.release_large_buffers()            # a lazy store read chunk by chunk keeps a few chunks
    model = stages.check_model(cfg["features"])
    _check_out(out, cfg, digest)
    with _scheduler(cfg["run"]["scheduler"]) as client:
        timings["check"] = time.perf_counter() - t0
        t = time.perf_counter()
        im = cfg["images"]
        _header(1, f"images: {im['source']}" + (f" {im['folder']}" if im["folder"] else "")
                + (f", n={im['n']}" if im["n"] else "") + (f", size {im['size']}" if im["size"] else ""), quiet)
        images, scenes = stages.make_images(im)
        timings["images"] = time.perf_counter() - t

        t = time.perf_counter()
        f = cfg["features"]
        _header(2, f"features: {f['model'] or 'store'} {f['layers'] or ''} -> {f['store']}"
                + (f", reduce {f['reduce']}" if f["reduce"] else ""), quiet)
        out.mkdir(parents=True, exist_ok=True)
        raw, feats = stages.make_features(model, images, f, client=client, progress=progress)
        (out / "config.toml").write_text(dump_config(cfg), encoding="utf-8")
        (out / "versions.json").write_text(json.dumps(versions(digest), indent=2) + "\n", encoding="utf-8")
        timings["features"] = time.perf_counter() - t

        t = time.perf_counter()
        results, skipped = {}, []
        for subject in stages.subject_names(cfg["responses"]):
            path = out / "subjects" / subject / "result.nc"
            if path.exists():
                results[subject] = _read_back(path, digest)
                skipped.append(subject)
        todo = [s for s in stages.subject_names(cfg["responses"]) if s not in results]
        _header(3, "responses: " + ("simulated" if cfg["responses"]["simulated"] else "files")
                + (f", {len(skipped)} subject(s) fitted before" if skipped else ""), quiet)
        responses = stages.make_responses(cfg["responses"], scenes, raw) if todo else {}
        timings["responses"] = time.perf_counter() - t

        t = time.perf_counter()
        _header(4, f"encoding: {len(todo)} subject(s) to fit, {len(feats)} layer(s)", quiet)
        for subject in todo:
            folder = out / "subjects" / subject
            folder.mkdir(parents=True, exist_ok=True)
            sizes = responses[subject].sizes
            _header(4, f"  {subject}: {sizes['stimulus']} stimuli x {sizes['voxel']} voxels", quiet)
            result = stages.fit_subject(feats, responses[subject], cfg["encoding"], client=client, progress=progress)
            stages.write_result(result, folder / "result.nc", digest)
            results[subject] = result
        results = {s: results[s] for s in stages.subject_names(cfg["responses"])}
        timings["encoding"] = time.perf_counter() - t

    t = time.perf_counter()
    _header(5, f"outputs: scores.csv{' and figures' if cfg['run']['figures'] else ''} in {out}", quiet)
    scores = pd.concat([stages.score_table(s, r) for s, r in results.items()], ignore_index=True)
    scores.to_csv(out / "scores.csv", index=False)
    for subject, result in results.items() if cfg["run"]["figures"] else ():
        stages.write_figures(result, out / "subjects" / subject, subject)
    timings["outputs"] = time.perf_counter() - t
    return PipelineResult(out, cfg, digest, results, scores, skipped, timings)
