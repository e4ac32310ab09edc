"""The one way the package reaches dask: lazy imports with the extra named, and the client helper.

Feature extraction (``extract(client=...)``), lazy feature stores (``open_features(lazy=True)``)
and encoding fits (``fit_encoding_model(client=...)``) all run on dask; they import it through
these functions so that a missing install says which extra to add.
"""

from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ._validation import describe
from .errors import InputError

__all__ = ["client_context", "import_dask_array", "import_distributed"]


def import_distributed():
    """``dask.distributed``, or an ImportError naming the ``dist`` extra."""
    try:
        import distributed
    except ImportError as err:
        raise ImportError("client= needs dask.distributed; install the 'dist' extra: "
                          "pip install 'neuroperception[dist]'") from err
    return distributed


def import_dask_array():
    """``dask.array``, or an ImportError naming the ``dist`` extra."""
    try:
        import dask.array as da
    except ImportError as err:
        raise ImportError("lazy arrays need dask; install the 'dist' extra: "
                          "pip install 'neuroperception[dist]'") from err
    return da


def _reachable(address: str) -> None:
    """Fail at once on a refused ``tcp://host:port`` (dask would retry until its timeout)."""
    parts = urlsplit(address)
    if parts.scheme in ("tcp", "tls") and parts.hostname and parts.port:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()


@contextmanager
def client_context(client: Any):
    """Yield a ``distributed.Client``: the one given, or one made for the block and closed afterwards.

    ``"local"`` starts a thread-based ``LocalCluster`` (``processes=False``: the linear algebra and
    torch release the GIL, and nothing has to be pickled). A scheduler address
    (``"tcp://host:8786"``) connects to a running cluster; an unreachable one fails at once. For
    several processes on this machine, start a ``LocalCluster`` yourself and pass its client.

    Examples
    --------
    >>> with client_context("local") as c:
    ...     len(c.scheduler_info()["workers"]) >= 1
    True
    >>> with client_context("tcp://127.0.0.1:1") as c:
    ...     pass
    Traceback (most recent call last):
    neuroperception.errors.InputError: client: could not connect to 'tcp://127.0.0.1:1' (...); expected ...
    """
    distributed = import_distributed()
    if isinstance(client, str) and client == "local":
        with distributed.LocalCluster(processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
            with distributed.Client(cluster) as owned:
                yield owned
        return
    if isinstance(client, str) and "://" in client:
        try:
            _reachable(client)
            owned = distributed.Client(client, timeout="10s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(f"client: could not connect to {client!r} ({type(err).__name__}: {err}); expected the "
                             "address of a running dask scheduler, 'local', or a dask.distributed.Client") from err
        try:
            yield owned
        finally:
            owned.close()
        return
    if not isinstance(client, distributed.Client):
        raise InputError(f"client: received {describe(client)}; expected a dask.distributed.Client, 'local' or a "
                         "scheduler address such as 'tcp://host:8786'")
    yield client
