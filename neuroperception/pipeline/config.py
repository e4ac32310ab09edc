"""The pipeline's configuration: one TOML file (or dict), parsed and validated in one place.

:func:`load_config` reads the file, checks every key (an error names the key, what was received and
what is expected), fills the defaults and resolves relative paths against the config file's folder.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config", "DEFAULTS"]

#: Every section and key with its default (None: no default, the key is optional or required by rule).
DEFAULTS: dict[str, dict[str, Any]] = {
    "images": {"source": None, "folder": None, "size": None, "n": None, "random_state": 0},
    "features": {"model": None, "weights": None, "options": {}, "layers": None, "pooling": "avg", "batch_size": 32,
                 "device": "cpu", "store": "features.zarr", "lazy": False, "reduce": None, "fit_on": None, "random_state": 0},
    "responses": {"simulated": None, "files": None},
    "encoding": {"alphas": None, "cv": 5, "test": 0.25, "random_state": 0, "per_layer": True, "min_ceiling": 0.1},
    "run": {"out": "encode-out", "scheduler": None, "figures": True},
}
#: ``responses.simulated`` keys; None: the library function's own default (not passed).
SIMULATED = {"n_subjects": 1, "n_voxels": None, "snr": None, "n_repeats": None, "rois": None, "random_state": 0,
             "content": None, "n_components": None, "shared": None, "driven_by": None}
_SOURCES = ("world", "samples", "folder")
_WORLD_DEFAULTS = {"n": 160, "size": 64}


def _fail(key: str, value: Any, expected: str) -> None:
    raise InputError(f"{key}: received {value!r}; expected {expected}")


def _check_keys(section: str, table: Any, allowed: Mapping[str, Any]) -> dict:
    if not isinstance(table, Mapping):
        _fail(section, table, f"a table with keys among {sorted(allowed)}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise InputError(f"{section}.{unknown[0]}: unknown key (received {table[unknown[0]]!r}); expected one of "
                         f"{sorted(allowed)}")
    return {**{k: v for k, v in allowed.items()}, **dict(table)}


def _int(key: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        _fail(key, value, f"an integer >= {low}")
    return int(value)


def _float(key: str, value: Any, low: float = 0.0, high: float = math.inf, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or value > high or (open_low and value == low):
        bound = f"{'>' if open_low else '>='} {low:g}" if high == math.inf else \
            f"in {'(' if open_low else '['}{low:g}, {high:g}]"
        _fail(key, value, f"a number {bound}")
    return float(value)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        _fail(key, value, "a non-empty string")
    return value


def _path(key: str, value: Any, base: Path) -> str:
    p = Path(_str(key, value)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _images(table: Any, base: Path) -> dict:
    c = _check_keys("images", table, DEFAULTS["images"])
    source = c["source"] or ("folder" if c["folder"] is not None else "world")
    if source not in _SOURCES:
        _fail("images.source", source, f"one of {list(_SOURCES)}")
    if source == "folder":
        if c["folder"] is None:
            _fail("images.folder", None, "a folder of images (png/jpg/webp) when images.source is 'folder'")
        c["folder"] = _path("images.folder", c["folder"], base)
        if not Path(c["folder"]).is_dir():
            _fail("images.folder", c["folder"], "an existing folder of images")
    elif c["folder"] is not None:
        _fail("images.folder", c["folder"], f"no folder when images.source is {source!r} (or source 'folder')")
    if source == "world":
        c["n"] = _WORLD_DEFAULTS["n"] if c["n"] is None else c["n"]
        c["size"] = _WORLD_DEFAULTS["size"] if c["size"] is None else c["size"]
    if source == "samples" and c["size"] is None:
        c["size"] = 224
    if c["n"] is not None:
        c["n"] = _int("images.n", c["n"], 6)
        if source == "folder":
            _fail("images.n", c["n"], "no count for a folder (every image in it is used)")
    if c["size"] is not None:
        c["size"] = _int("images.size", c["size"], 8)
    c["random_state"] = _int("images.random_state", c["random_state"], 0)
    c["source"] = source
    return c


def _pooling(key: str, value: Any) -> Any:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and value and all(isinstance(v, str) and v for v in value.values()):
        return dict(value)
    _fail(key, value, "a pooling string ('avg', 'max', 'avg:K', 'srp:D', 'pca:K', 'none') or a table of one per layer")


def _features(table: Any, base: Path) -> dict:
    c = _check_keys("features", table, DEFAULTS["features"])
    if c["model"] is not None:
        _str("features.model", c["model"])
        layers = c["layers"]
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, list) or not layers or not all(isinstance(x, str) and x for x in layers):
            _fail("features.layers", c["layers"], "a non-empty list of layer names (see `neuroperception layers`)")
        c["layers"] = layers
    elif c["layers"] is not None and (not isinstance(c["layers"], list) or not c["layers"]):
        _fail("features.layers", c["layers"], "a non-empty list of layer names of the store, or no key (all)")
    if c["weights"] is not None:
        _str("features.weights", c["weights"])
        if c["weights"] not in ("random", "DEFAULT") and ("/" in c["weights"] or c["weights"].endswith((".pt", ".pth"))):
            c["weights"] = _path("features.weights", c["weights"], base)
    if not isinstance(c["options"], Mapping):
        _fail("features.options", c["options"], "a table of keyword arguments for load_model, e.g. {input_size = 64}")
    c["options"] = dict(c["options"])
    c["pooling"] = _pooling("features.pooling", c["pooling"])
    c["batch_size"] = _int("features.batch_size", c["batch_size"])
    c["device"] = _str("features.device", c["device"])
    c["random_state"] = _int("features.random_state", c["random_state"], 0)
    if not isinstance(c["lazy"], bool):
        _fail("features.lazy", c["lazy"], "true (read the store as dask arrays) or false (into memory)")
    if c["reduce"] is not None:
        kind, _, k = str(c["reduce"]).partition(":")
        if kind not in ("pca", "srp") or not k.isdigit() or int(k) < 1:
            _fail("features.reduce", c["reduce"], "'pca:K' or 'srp:D' (K, D positive integers)")
    if c["fit_on"] is not None:
        if c["reduce"] is None:
            _fail("features.fit_on", c["fit_on"], "no fit_on without features.reduce")
        c["fit_on"] = _int("features.fit_on", c["fit_on"], 2)
    return c


def _simulated(value: Any) -> dict:
    c = _check_keys("responses.simulated", value, SIMULATED)
    key = "responses.simulated."
    c["n_subjects"] = _int(key + "n_subjects", c["n_subjects"])
    c["random_state"] = _int(key + "random_state", c["random_state"], 0)
    for name in ("n_voxels", "n_repeats", "n_components"):
        if c[name] is not None:
            c[name] = _int(key + name, c[name])
    if c["snr"] is not None:
        c["snr"] = _float(key + "snr", c["snr"], open_low=True)
    if c["shared"] is not None:
        c["shared"] = _float(key + "shared", c["shared"], 0.0, 1.0, open_low=True)
    if c["content"] is not None and not isinstance(c["content"], bool):
        _fail(key + "content", c["content"], "true or false")
    if c["rois"] is not None and (not isinstance(c["rois"], list) or not all(isinstance(r, str) for r in c["rois"])):
        _fail(key + "rois", c["rois"], "a list of ROI names such as ['V1', 'V4', 'IT']")
    if c["driven_by"] not in (None, "scenes", "features"):
        _fail(key + "driven_by", c["driven_by"], "'scenes' (world images only) or 'features'")
    one = c["n_subjects"] == 1
    for name in ("n_components", "shared") if one else ("content",):
        if c[name] is not None:
            _fail(key + name, c[name], "no value: it is an argument of "
                  + ("simulate_subjects (n_subjects > 1)" if one else "simulate_brain (n_subjects = 1)"))
    return c


def _files(value: Any, base: Path) -> dict:
    if not isinstance(value, Mapping) or not value:
        _fail("responses.files", value, "a table of subject = responses file (.nc or .zarr from save_responses), "
                                         "or subject = {reader = ..., ...}")
    out = {}
    for subject, entry in value.items():
        key = f"responses.files.{subject}"
        if isinstance(entry, str):
            entry = {"reader": "responses", "path": entry}
        if not isinstance(entry, Mapping) or "path" not in entry and entry.get("reader", "responses") == "responses":
            _fail(key, entry, "a file path, or a table {reader = 'responses'|'nifti'|'surface'|'nsd', ...}")
        entry = dict(entry)
        entry.setdefault("reader", "responses")
        if "path" in entry:
            entry["path"] = _path(f"{key}.path", entry["path"], base)
            if not Path(entry["path"]).exists():
                _fail(f"{key}.path", entry["path"], "an existing responses file")
        out[str(subject)] = entry
    return out


def _responses(table: Any, base: Path) -> dict:
    c = _check_keys("responses", table, DEFAULTS["responses"])
    if (c["simulated"] is None) == (c["files"] is None):
        _fail("responses", dict(table), "exactly one of 'simulated' (the simulated brain) and 'files' (per subject)")
    if c["simulated"] is not None:
        c["simulated"] = _simulated(c["simulated"])
    else:
        c["files"] = _files(c["files"], base)
    return c


def _encoding(table: Any) -> dict:
    c = _check_keys("encoding", table, DEFAULTS["encoding"])
    if c["alphas"] is not None:
        if not isinstance(c["alphas"], list) or not c["alphas"]:
            _fail("encoding.alphas", c["alphas"], "a non-empty list of positive numbers")
        c["alphas"] = [_float("encoding.alphas", a, open_low=True) for a in c["alphas"]]
    c["cv"] = _int("encoding.cv", c["cv"], 2)
    test = c["test"]
    if isinstance(test, list):
        if len(test) < 2 or not all(isinstance(t, str) for t in test):
            _fail("encoding.test", test, "a fraction in (0, 1) or a list of at least 2 stimulus ids")
    elif isinstance(test, bool) or not isinstance(test, (int, float)) or not 0 < test < 1:
        _fail("encoding.test", test, "a fraction in (0, 1) or a list of at least 2 stimulus ids")
    else:
        c["test"] = float(test)
    c["random_state"] = _int("encoding.random_state", c["random_state"], 0)
    if not isinstance(c["per_layer"], bool):
        _fail("encoding.per_layer", c["per_layer"], "true (one model per layer) or false (one joint model)")
    c["min_ceiling"] = _float("encoding.min_ceiling", c["min_ceiling"], 0.0, 1.0)
    return c


def _run(table: Any, base: Path) -> dict:
    c = _check_keys("run", table, DEFAULTS["run"])
    c["out"] = _path("run.out", c["out"], base)
    if not isinstance(c["figures"], bool):
        _fail("run.figures", c["figures"], "true (write brain-map and ROI figures) or false")
    s = c["scheduler"]
    if s is not None and (not isinstance(s, str) or not (s == "local" or "://" in s)):
        _fail("run.scheduler", s, "no key (this process), 'local' (a LocalCluster) or a scheduler address "
                                  "such as 'tcp://host:8786'")
    return c


def load_config(config: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a pipeline config: a TOML file, or the same content as a dict.

    Every key is checked here, once; defaults are filled in and relative paths are resolved against
    the config file's folder (the working folder for a dict). ``features.store`` defaults to
    ``features.zarr`` inside ``run.out``. The reference of every key is in the user guide
    (``docs/pipeline.md``).

    Parameters
    ----------
    config : str, Path or dict
        The path of a TOML file, or its content as a dict of sections.

    Returns
    -------
    dict
        The sections ``images``, ``features``, ``responses``, ``encoding`` and ``run``, complete.

    Raises
    ------
    InputError
        A missing file, bad TOML, an unknown key or a value of the wrong kind: the message names the
        key, what was received and what is expected.

    Examples
    --------
    >>> c = load_config({"features": {"model": "gabor", "layers": ["scale1"]},
    ...                  "responses": {"simulated": {"n_voxels": 30}}})
    >>> c["images"]["source"], c["images"]["n"], c["encoding"]["test"], c["run"]["scheduler"]
    ('world', 160, 0.25, None)
    >>> load_config({"features": {"model": "gabor", "layers": ["scale1"], "batch_size": 0},
    ...              "responses": {"simulated": {}}})
    Traceback (most recent call last):
    neuroperception.errors.InputError: features.batch_size: received 0; expected an integer >= 1
    """
    if isinstance(config, (str, Path)):
        path = Path(config).expanduser()
        if not path.is_file():
            _fail("config", str(config), "an existing TOML file")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"config: {path} is not valid TOML ({err}); expected a TOML file") from err
        base = path.resolve().parent
    elif isinstance(config, Mapping):
        raw, base = dict(config), Path.cwd()
    else:
        _fail("config", type(config).__name__, "a path to a TOML file or a dict")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise InputError(f"{unknown[0]}: unknown section; expected sections among {list(DEFAULTS)}")
    for section in ("features", "responses"):
        if section not in raw:
            raise InputError(f"{section}: missing section; expected a [{section}] table")
    out = {"images": _images(raw.get("images", {}), base), "features": _features(raw["features"], base),
           "responses": _responses(raw["responses"], base), "encoding": _encoding(raw.get("encoding", {})),
           "run": _run(raw.get("run", {}), base)}
    f = out["features"]
    if f["model"] is None and "store" not in raw["features"]:
        _fail("features", dict(raw["features"]), "a 'model' (with 'layers') to extract, or a 'store' to read")
    f["store"] = _path("features.store", f["store"], Path(out["run"]["out"]))
    if f["model"] is None and not Path(f["store"]).exists():
        _fail("features.store", f["store"], "an existing feature store (written by extract) when no model is given")
    sim = out["responses"]["simulated"]
    if sim is not None:
        if sim["driven_by"] is None:
            sim["driven_by"] = "scenes" if out["images"]["source"] == "world" and sim["n_subjects"] == 1 else "features"
        if sim["driven_by"] == "scenes" and (out["images"]["source"] != "world" or sim["n_subjects"] > 1):
            _fail("responses.simulated.driven_by", "scenes", "'features' unless images.source is 'world' and "
                                                             "n_subjects is 1 (the brain that sees the scenes)")
    return out
