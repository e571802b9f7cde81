"""Keep freed memory in the process for reuse, instead of handing it back to the kernel.

glibc's malloc serves every block over its mmap threshold (at most 32 MiB: every feature map of
the super-resolution, 64-134 MB at 512^2) with a fresh mapping and unmaps it on free, so the
next map of the same size is faulted in again a 4 KiB page at a time, and the kernel zeroes
each page. PyTorch's CPU allocator does not cache, so a generator pays this on every large
tensor: on a 2-core machine an elementwise pass over a 128 x 512^2 map took 166 ms, of which
128 ms were page faults. Here malloc takes every block from its heap and never trims it,
so a freed map is reused as it is. Results are bit for bit the same; the price is that the
process's resident memory stays at its peak (a render's or a fit's working set).

The heap takes a few rounds of the same work to settle (a fit's first two steps): PyTorch
allocates with ``posix_memalign``, and glibc 2.36's aligned malloc asks for the block plus 96
bytes of slack, so a freed block is reused only once it has merged with a free neighbour (a
plain ``malloc`` of the same size would reuse it at once).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

log = logging.getLogger("panorig.kernels")

# mallopt parameters (malloc.h) and glibc's defaults, to undo the switch
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
NEVER_TRIM = 2**31 - 1


@functools.cache
def _glibc():
    """glibc's handle, or None on another C library or platform (the switch then does nothing)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only (not musl)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory(enabled: bool = True) -> bool:
    """Switch glibc's malloc to keeping freed blocks (``enabled``) or back to its defaults.
    Returns whether the switch took effect (False where the C library is not glibc)."""
    libc = _glibc()
    if libc is None:
        log.info("keep_freed_memory: not glibc here; malloc is left as it is")
        return False
    trim = NEVER_TRIM if enabled else DEFAULT_TRIM_THRESHOLD
    mmaps = 0 if enabled else DEFAULT_MMAP_MAX
    return bool(libc.mallopt(M_MMAP_MAX, mmaps)) and bool(libc.mallopt(M_TRIM_THRESHOLD, trim))
