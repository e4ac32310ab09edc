"""glibc's allocator knobs, set from inside the process (a no-op off glibc).

Two settings matter for the package's long runs:

* ``M_TRIM_THRESHOLD``: dask's nanny starts worker processes with ``MALLOC_TRIM_THRESHOLD_=65536``,
  which also freezes the mmap threshold at 128 kB: every activation is mmapped, freed and faulted in
  again; a torch forward pass ran 35 % slower so (AlexNet, 64 images, one thread: 3.36 s against
  2.48 s). Feature extraction on a worker serves blocks up to 32 MiB from the heap and keeps up to
  256 MiB of it.
* ``M_MMAP_THRESHOLD``: glibc raises it each time a large block is freed, after which blocks of that
  size come from the heap and stay in the process; reading a lazy store chunk by chunk then looks like
  holding most of it. The pipeline fixes it at 1 MiB for lazy runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "mallopt"]

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def mallopt(param: int, value: int) -> bool:
    """glibc's ``mallopt(param, value)``; True where it was applied (False off Linux/glibc).

    Examples
    --------
    >>> isinstance(mallopt(M_MMAP_THRESHOLD, 1 << 20), bool)
    True
    """
    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not name:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(int(param), int(value)))
    except (OSError, AttributeError):
        return False
