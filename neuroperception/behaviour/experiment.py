"""Export triplet tables as a browser experiment (images, manifest, one HTML page) and read its responses.

The page needs nothing outside its folder: CSS and JavaScript are inline, the images are PNG files
next to it, and it runs from ``file://`` as well as from any static web server. A participant answers
with key presses; at the end the page downloads a CSV of the responses and also shows it in
``<pre id="results">``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._docs import fill_doc
from .._validation import check_images, describe, seed_from
from ..errors import AlignmentError, InputError
from ..stimuli import ImageSet
from ._page import render_page
from .choice import _check_table, _check_triplet_ids, _chose_a

__all__ = ["export_experiment", "load_experiment_responses", "RESPONSE_CSV_COLUMNS", "TASKS"]

TASKS = ("2afc", "odd_one_out")
_ROLES = ("ref", "option_a", "option_b")
#: Columns of the CSV written by the experiment page.
RESPONSE_CSV_COLUMNS = ("participant", "task", "trial_index", "triplet", "ref", "option_a", "option_b", "layout",
                        "key", "position", "chosen", "choice", "rt_ms", "timestamp")
_OWN_FILES = ("index.html", "manifest.csv", "manifest.json")

_INSTRUCTIONS = {
    "2afc": ("On each trial you see one image at the top (the reference) and two images below it.\n\n"
             "Which of the two lower images is more similar to the reference? Press the LEFT arrow key "
             "(or 1) for the left image, the RIGHT arrow key (or 2) for the right image. Answer "
             "spontaneously; there are no right or wrong answers."),
    "odd_one_out": ("On each trial you see three images.\n\nWhich image is the odd one out, the one least "
                    "similar to the other two? Press 1, 2 or 3 (or the LEFT, DOWN, RIGHT arrow keys) for "
                    "the left, middle or right image. Answer spontaneously; there are no right or wrong "
                    "answers."),
}
_KEYS = {"2afc": [["ArrowLeft", "1"], ["ArrowRight", "2"]],
         "odd_one_out": [["1", "ArrowLeft"], ["2", "ArrowDown"], ["3", "ArrowRight"]]}
_KEY_LABELS = {"2afc": ["← or 1", "→ or 2"], "odd_one_out": ["1", "2", "3"]}
_HINTS = {"2afc": "Which lower image is more similar to the top one?  ← left   → right",
          "odd_one_out": "Which image is the odd one out?  1 left   2 middle   3 right"}


def _one_image(x, name: str):
    """One image (``(3, H, W)`` float, ``(H, W, 3)`` uint8, PIL, ...) as a ``(1, 3, H, W)`` tensor."""
    if isinstance(x, torch.Tensor):
        floating = x.dtype != torch.uint8
    else:
        floating = isinstance(x, np.ndarray) and x.dtype != np.uint8
    if floating and x.ndim == 3 and x.shape[0] in (1, 3):
        x = x[None]
    out = check_images(x, name=name)
    if out.shape[0] != 1:
        raise InputError(f"{name}: received {describe(x)}; expected one image")
    return out


def _image_source(images, ids: list[str]) -> dict[str, np.ndarray]:
    """The images the trials need, as uint8 ``(H, W, 3)`` arrays keyed by id."""
    if isinstance(images, ImageSet):
        missing = [i for i in ids if i not in set(images.ids)]
        if missing:
            raise AlignmentError(f"images: {len(missing)} image ids of the triplet table are not in the ImageSet, "
                                 f"e.g. {missing[:5]}; expected every ref/option_a/option_b id among its ids "
                                 f"(which look like {images.ids[:3]})")
        tensor = images[ids].images
    elif isinstance(images, Mapping):
        missing = [i for i in ids if i not in images]
        if missing:
            raise AlignmentError(f"images: {len(missing)} image ids of the triplet table are not keys of the "
                                 f"mapping, e.g. {missing[:5]}; expected every ref/option_a/option_b id as a key")
        tensor = torch.cat([_one_image(images[i], f"images[{i!r}]") for i in ids])
    else:
        raise InputError(f"images: received {describe(images)}; expected an ImageSet or a mapping from image id "
                         "to image")
    arr = (tensor.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return dict(zip(ids, arr))


def _file_name(k: int, image_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", image_id).strip("._")[:60] or "image"
    return f"{k:04d}_{safe}.png"


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"out_dir: received {str(out_dir)!r}, which is a file; expected a folder path")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise InputError(f"out_dir: {str(out_dir)!r} already exists and is not empty; expected a new or empty "
                             "folder, or pass overwrite=True to replace a previous export there")
        for name in _OWN_FILES:
            (out_dir / name).unlink(missing_ok=True)
        for old in (out_dir / "images").glob("[0-9][0-9][0-9][0-9]*_*.png"):
            old.unlink()
    (out_dir / "images").mkdir(parents=True, exist_ok=True)


def _jsonable(value):
    """Plain JSON values (NaN/Inf become null, numpy scalars Python ones, other objects strings)."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@fill_doc
def export_experiment(triplets: pd.DataFrame, images, out_dir, task: str = "2afc", *, randomize: bool = True,
                      random_state: int | np.random.Generator | None = 0, instructions: str | None = None,
                      title: str = "Image similarity",
                      iti_ms: int = 300, overwrite: bool = False) -> Path:
    """Write a self-contained browser experiment for a triplet table.

    ``out_dir`` receives ``images/`` (one PNG per image the trials use), ``manifest.csv`` and
    ``manifest.json`` (one row per trial in presentation order: the triplet columns, the image paths
    and the on-screen layout) and ``index.html``, a page with inline CSS/JavaScript and no external
    URL. Open it in a browser (``file://`` works), enter a participant id, press Enter, and answer
    each trial with a key press. Choice and response time are recorded; at the end the page
    downloads ``responses_<participant>.csv`` and shows the same CSV in ``<pre id="results">``.

    ``task="2afc"`` shows the reference above the two options (keys ← / → or 1 / 2: which option is
    more similar to the reference). ``task="odd_one_out"`` shows the three images in a row (keys 1 / 2
    / 3: which is the odd one out); picking option B as the odd one out counts as choosing A (the
    reference and A stay together), picking A counts as choosing B, picking the reference gives no
    A/B choice.

    For automated checks the page accepts URL parameters: ``?participant=ID`` pre-fills the id,
    ``?autorun=Enter,ArrowLeft,...`` presses the listed keys (``Space`` for the space bar) one every
    ``autorun_delay`` ms (default 400) as soon as the images are loaded, without the automatic
    download; ``?download=0`` turns the automatic download off.

    Parameters
    ----------
    triplets : pandas.DataFrame
        A triplet table with at least ``triplet``, ``ref``, ``option_a``, ``option_b``; its other
        columns are copied to the manifest.
    images : ImageSet or mapping
        The images by id (an :class:`~neuroperception.stimuli.ImageSet`, or a mapping from id to an
        image ``(3, H, W)``/``(H, W, 3)`` uint8 or float in [0, 1]).
    out_dir : str or Path
        Output folder; must be new or empty unless ``overwrite``.
    task : {"2afc", "odd_one_out"}
        The trial layout and question.
    randomize : bool
        Shuffle the trial order and the on-screen position of each image (seeded); otherwise table
        order, A on the left (2afc) or reference, A, B from left to right (odd-one-out).
    %(random_state)s
        It seeds the randomisation; the page's settings record the seed (for a Generator or None,
        the one drawn from it).
    instructions : str, optional
        Text of the first screen (paragraphs separated by blank lines); a default per task.
    title : str
        Page title.
    iti_ms : int
        Blank interval between trials in milliseconds.
    overwrite : bool
        Replace a previous export in a non-empty ``out_dir`` (its own files only).

    Returns
    -------
    Path
        ``out_dir/index.html``.

    Raises
    ------
    InputError
        Unknown task, missing columns, a non-empty ``out_dir`` without ``overwrite``, a triplet that
        uses the same image twice.
    AlignmentError
        Duplicated triplet numbers, or image ids missing from ``images``.

    Examples
    --------
    >>> import tempfile, torch, pandas as pd
    >>> from neuroperception.stimuli import ImageSet
    >>> imgs = ImageSet.from_array(torch.rand(3, 3, 16, 16), stimulus_id=["r", "a", "b"])
    >>> t = pd.DataFrame({"triplet": [0], "ref": ["r"], "option_a": ["a"], "option_b": ["b"]})
    >>> page = export_experiment(t, imgs, tempfile.mkdtemp() + "/exp")
    >>> sorted(p.name for p in page.parent.iterdir())
    ['images', 'index.html', 'manifest.csv', 'manifest.json']
    """
    if task not in TASKS:
        raise InputError(f"task: received {task!r}; expected one of {list(TASKS)}")
    _check_table(triplets, ("triplet",) + _ROLES, "triplets")
    trip_ids = _check_triplet_ids(triplets, "triplets")
    if isinstance(iti_ms, bool) or not isinstance(iti_ms, (int, np.integer)) or iti_ms < 0:
        raise InputError(f"iti_ms: received {iti_ms!r}; expected an int >= 0 (milliseconds)")
    seed = seed_from(random_state)
    roles = triplets[list(_ROLES)].astype(str)
    same = (roles["ref"] == roles["option_a"]) | (roles["ref"] == roles["option_b"]) | (
        roles["option_a"] == roles["option_b"])
    if same.any():
        raise InputError(f"triplets: triplet(s) {trip_ids[same.to_numpy()][:5].tolist()} use the same image twice; "
                         "expected three different images per triplet")
    needed = list(dict.fromkeys(roles.to_numpy().ravel().tolist()))
    pixels = _image_source(images, needed)
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    paths = {}
    for k, image_id in enumerate(needed):
        from PIL import Image

        rel = f"images/{_file_name(k, image_id)}"
        Image.fromarray(pixels[image_id]).save(out / rel)
        paths[image_id] = rel

    rng = np.random.default_rng(seed)
    n = len(triplets)
    order = rng.permutation(n) if randomize else np.arange(n)
    shown = ["option_a", "option_b"] if task == "2afc" else list(_ROLES)
    layouts = [list(rng.permutation(shown)) if randomize else list(shown) for _ in range(n)]
    manifest = triplets.iloc[order].reset_index(drop=True).copy()
    manifest.insert(0, "trial_index", np.arange(n))
    for role in _ROLES:
        manifest[f"{role}_path"] = [paths[i] for i in roles[role].to_numpy()[order]]
    manifest["layout"] = [" ".join(lay) for lay in layouts]
    manifest.to_csv(out / "manifest.csv", index=False)

    trials = [{"trial_index": int(k), "triplet": int(trip_ids[j]),
               "ids": {r: str(roles[r].iloc[j]) for r in _ROLES},
               "paths": {r: paths[str(roles[r].iloc[j])] for r in _ROLES}, "layout": [str(x) for x in lay]}
              for k, (j, lay) in enumerate(zip(order, layouts))]
    config = {"task": task, "keys": _KEYS[task], "key_labels": _KEY_LABELS[task], "hint": _HINTS[task],
              "iti_ms": int(iti_ms), "trials": trials}
    text = _INSTRUCTIONS[task] if instructions is None else str(instructions)
    (out / "manifest.json").write_text(json.dumps({
        "task": task, "title": title, "instructions": text, "randomize": bool(randomize),
        "random_state": seed, "keys": _KEYS[task], "iti_ms": int(iti_ms),
        "triplet_attrs": _jsonable(dict(triplets.attrs)),
        "trials": _jsonable(manifest.to_dict(orient="records")),
    }, indent=1, allow_nan=False), encoding="utf-8")
    page = out / "index.html"
    page.write_text(render_page(config, title, text), encoding="utf-8")
    return page


_STR_COLUMNS = ("participant", "task", "ref", "option_a", "option_b", "layout", "key", "chosen", "choice",
                "timestamp")
_REQUIRED = ("participant", "task", "triplet", "choice", "rt_ms")


def _read_one(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"csv: {str(path)!r} does not exist; expected a responses CSV written by the experiment "
                         "page (responses_<participant>.csv)")
    try:  # utf-8-sig: a spreadsheet that re-saves the file puts a byte-order mark before "participant"
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"csv: {str(path)!r} could not be read as CSV ({err}); expected the responses CSV "
                         "written by the experiment page") from err
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"csv: {str(path)!r} has columns {list(df.columns)}; missing {missing} (expected the "
                         f"experiment page's columns {list(RESPONSE_CSV_COLUMNS)})")
    df["source"] = path.name
    return df


def _expected_choice(task: str, chosen: str) -> str:
    """The page's ``choice`` for a clicked role: 2AFC names the chosen option; odd-one-out the one kept with the ref."""
    if task == "2afc":
        return {"option_a": "A", "option_b": "B"}.get(chosen, "?")
    return {"option_b": "A", "option_a": "B", "ref": ""}.get(chosen, "?")


def _check_page_rows(df: pd.DataFrame) -> None:
    """The page's columns agree with each other: task, layout/position -> chosen -> choice; no row twice."""
    bad_task = sorted(set(df["task"]) - set(TASKS))
    if bad_task:
        raise InputError(f"csv: column 'task' has values {bad_task[:5]}; expected one of {list(TASKS)}")
    line = (df.groupby("source").cumcount() + 2).to_numpy()  # line in its file, after the header
    if {"layout", "position", "chosen"} <= set(df.columns):
        shown = [lay.split() for lay in df["layout"].astype(str)]
        at = [lay[p - 1] if 1 <= p <= len(lay) else None for lay, p in zip(shown, df["position"])]
        off = [k for k, (a, c) in enumerate(zip(at, df["chosen"])) if a != c]
        if off:
            k = off[0]
            raise InputError(f"csv: {len(off)} rows whose 'chosen' is not the image at 'position' of 'layout', e.g. "
                             f"line {line[k]} of {df['source'].iloc[k]}: layout {df['layout'].iloc[k]!r}, position "
                             f"{df['position'].iloc[k]}, chosen {df['chosen'].iloc[k]!r}; expected the page's own rows")
        want = [_expected_choice(t, c) for t, c in zip(df["task"], df["chosen"])]
        got = df["choice"].astype(str).str.strip().str.upper()
        off = [k for k, (w, g) in enumerate(zip(want, got)) if w != g]
        if off:
            k = off[0]
            raise InputError(f"csv: {len(off)} rows whose 'choice' does not follow from 'task' and 'chosen', e.g. "
                             f"line {line[k]} of {df['source'].iloc[k]}: task {df['task'].iloc[k]!r}, chosen "
                             f"{df['chosen'].iloc[k]!r}, choice {df['choice'].iloc[k]!r} (expected {want[k]!r})")
    key = [c for c in ("participant", "task", "trial_index", "triplet", "timestamp") if c in df.columns]
    twice = df.duplicated(subset=key, keep="first")
    if twice.any():
        first = df.loc[twice, key].iloc[0].to_dict()
        raise AlignmentError(f"csv: {int(twice.sum())} responses appear twice (same {', '.join(key)}), e.g. {first} "
                             f"in {sorted(set(df.loc[twice, 'source']))[:3]}; expected each response once (was a file "
                             "passed twice?)")


def load_experiment_responses(csv, triplets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read the responses CSV(s) written by an exported experiment page.

    The columns are those the page writes (:data:`RESPONSE_CSV_COLUMNS`, quoted where a value holds
    a comma, quote or line break); a file re-saved by a spreadsheet with a byte-order mark reads
    too. Every row is checked against the page's own rules: ``chosen`` is the image at ``position``
    of ``layout``, and ``choice`` follows from ``task`` and ``chosen`` (2AFC: the chosen option;
    odd-one-out: the option kept with the reference, empty when the reference was picked).

    Parameters
    ----------
    csv : str, Path or sequence of them
        One file per participant session (concatenated in the given order).
    triplets : pandas.DataFrame, optional
        The triplet table the experiment was exported from. Its columns are joined to every
        response by ``triplet``, after checking that each response's ``ref``/``option_a``/``option_b``
        are the table's images for that triplet.

    Returns
    -------
    pandas.DataFrame
        One row per response with the page's columns (ids as strings; ``triplet``, ``trial_index`` and
        ``position`` as ints; ``rt_ms`` as float), ``chose_a`` (1.0 when A was chosen, 0.0 for B, NaN
        when there is no A/B choice), ``source`` (the file name), and the triplet table's columns.

    Raises
    ------
    InputError
        A file that is missing, not CSV, without the page's columns, without responses, or with
        invalid values: an unknown ``task``, a ``chosen`` that is not the image at ``position`` of
        ``layout``, a ``choice`` that does not follow from ``task`` and ``chosen``.
    AlignmentError
        Responses to triplets that are not in ``triplets``, or with other images than the table's;
        the same response twice (same participant, task, trial, triplet and timestamp).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "responses_p1.csv"
    >>> _ = p.write_text("participant,task,trial_index,triplet,ref,option_a,option_b,layout,key,position,"
    ...                  "chosen,choice,rt_ms,timestamp\\n"
    ...                  "p1,2afc,0,7,r,a,b,option_b option_a,ArrowRight,2,option_a,A,812.5,2024-01-01T00:00:00Z\\n")
    >>> r = load_experiment_responses(p)
    >>> print(r[["triplet", "choice", "chose_a", "rt_ms"]].to_string(index=False))
     triplet choice  chose_a  rt_ms
           7      A      1.0  812.5
    """
    paths = [Path(csv)] if isinstance(csv, (str, Path)) else [Path(p) for p in csv] if isinstance(
        csv, Sequence) else None
    if not paths:
        raise InputError(f"csv: received {csv!r}; expected a path or a non-empty list of paths to responses CSVs")
    df = pd.concat([_read_one(p) for p in paths], ignore_index=True)
    if len(df) == 0:
        raise InputError(f"csv: {[str(p) for p in paths]} hold no responses (header only); expected at least one "
                         "answered trial")
    for col in ("triplet", "trial_index", "position"):
        if col in df.columns:
            values = pd.to_numeric(df[col], errors="coerce")
            if values.isna().any() or (values % 1 != 0).any():
                bad = df[col][values.isna() | (values % 1 != 0)].tolist()[:5]
                raise InputError(f"csv: column {col!r} has non-integer values {bad}; expected integers")
            df[col] = values.astype(np.int64)
    rt = pd.to_numeric(df["rt_ms"].replace("", np.nan), errors="coerce")
    if (rt.isna() & (df["rt_ms"] != "")).any() or (rt < 0).any():
        raise InputError(f"csv: column 'rt_ms' has invalid values {df['rt_ms'][rt.isna() | (rt < 0)].tolist()[:5]}; "
                         "expected response times in milliseconds >= 0")
    df["rt_ms"] = rt.astype(float)
    df["chose_a"] = _chose_a(df)
    _check_page_rows(df)
    for col in _STR_COLUMNS:
        if col in df.columns:
            df[col] = df[col].astype(object)
    if triplets is None:
        return df
    _check_table(triplets, ("triplet",), "triplets")
    ids = _check_triplet_ids(triplets, "triplets")
    table = triplets.assign(triplet=ids)
    unknown = sorted(set(df["triplet"]) - set(ids.tolist()))
    if unknown:
        raise AlignmentError(f"responses: {len(unknown)} triplet numbers are not in triplets, e.g. {unknown[:5]}; "
                             "expected responses to an export of this triplet table")
    shared = [r for r in _ROLES if r in df.columns and r in table.columns]
    if shared:
        expected = table.set_index("triplet").loc[df["triplet"], shared].astype(str).to_numpy()
        differ = (df[shared].astype(str).to_numpy() != expected).any(axis=1)
        if differ.any():
            bad = sorted(set(df.loc[differ, "triplet"].tolist()))
            raise AlignmentError(f"responses: the images of triplet(s) {bad[:5]} differ from the triplet table's "
                                 "(ref/option_a/option_b); expected responses to an export of this table")
    extra = [c for c in table.columns if c == "triplet" or c not in df.columns]
    return df.merge(table[extra], on="triplet", how="left", validate="many_to_one")
