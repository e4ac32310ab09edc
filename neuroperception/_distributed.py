"""The one way the package reaches dask: lazy imports with the extra named, and the client helper.

Feature extraction (``extract(client=...)``), lazy feature stores (``open_features(lazy=True)``)
and encoding fits (``fit_encoding_model(client=...)``) all run on dask; they import it through
these functions so that a missing install says which extra to add.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

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


@contextmanager
def client_context(client: Any):
    """Yield a ``distributed.Client``: the one given, or for ``"local"`` a LocalCluster closed afterwards.

    ``"local"`` starts a thread-based ``LocalCluster`` (``processes=False``: the linear algebra and
    torch release the GIL, and nothing has to be pickled). For several processes or machines, start
    the cluster yourself and pass its client.

    Examples
    --------
    >>> with client_context("local") as c:
    ...     len(c.scheduler_info()["workers"]) >= 1
    True
    """
    distributed = import_distributed()
    if isinstance(client, str):
        if client != "local":
            raise InputError(f"client: received {client!r}; expected a dask.distributed.Client or 'local'")
        with distributed.LocalCluster(processes=False, threads_per_worker=1, dashboard_address=None) as cluster:
            with distributed.Client(cluster) as owned:
                yield owned
        return
    if not isinstance(client, distributed.Client):
        raise InputError(f"client: received {describe(client)}; expected a dask.distributed.Client or 'local'")
    yield client
