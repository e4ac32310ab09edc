"""What a run records: the config digest, the config as TOML, and the versions it ran with."""

from __future__ import annotations

import hashlib
import json
import platform
import re
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from ..errors import InputError
from .config import load_config, tomllib  # noqa: F401  (tomllib: used by the examples)

__all__ = ["config_digest", "dump_config", "versions"]

_VERSIONED = ("neuroperception", "torch", "torchvision", "numpy", "scipy", "scikit-learn", "xarray", "pandas", "zarr",
              "dask", "distributed", "nilearn", "h5netcdf")


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of what decides the results: all but ``[run]``, the store's path and ``lazy``.

    Parameters
    ----------
    config : dict
        A config as :func:`load_config` returns it.

    Returns
    -------
    str

    Examples
    --------
    >>> c = load_config({"features": {"model": "gabor", "layers": ["scale1"]}, "responses": {"simulated": {}}})
    >>> d = config_digest(c)
    >>> c["run"]["scheduler"] = "local"                   # where it runs does not change the results
    >>> config_digest(c) == d, len(d)
    (True, 16)
    """
    decisive = {k: v for k, v in config.items() if k != "run"}
    decisive["features"] = {k: v for k, v in decisive["features"].items() if k not in ("store", "lazy")}
    text = json.dumps(_drop_none(decisive), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(k: Any) -> str:
    k = str(k)
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise InputError(f"config: received {v!r} of type {type(v).__name__}; expected TOML values")


def dump_config(config: Mapping[str, Any]) -> str:
    """The config as TOML text (None values left out): what ``config.toml`` in the output folder holds.

    Parameters
    ----------
    config : dict
        A config as :func:`load_config` returns it.

    Returns
    -------
    str

    Examples
    --------
    >>> c = load_config({"features": {"model": "gabor", "layers": ["scale1"]}, "responses": {"simulated": {}}})
    >>> text = dump_config(c)
    >>> tomllib.loads(text)["features"]["layers"]
    ['scale1']
    """
    lines = []
    for section, table in _drop_none(config).items():
        lines.append(f"[{section}]")
        lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in table.items()]
        lines.append("")
    return "\n".join(lines)


def versions(digest: str) -> dict[str, Any]:
    """Python's and the main packages' versions (None: not installed), with the config digest.

    Parameters
    ----------
    digest : str
        The run's :func:`config_digest`.

    Returns
    -------
    dict

    Examples
    --------
    >>> v = versions("0" * 16)
    >>> v["config_digest"], "numpy" in v and "torch" in v and "dask" in v
    ('0000000000000000', True)
    """
    out: dict[str, Any] = {"config_digest": digest, "python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
