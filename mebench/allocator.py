"""Keep freed memory in the process instead of returning it to the system after every tensor.

glibc's malloc serves large blocks (torch's activations and gradients) with mmap and gives them
back on free, so every training step pays page faults and the kernel zeroes the pages again. On
the 2-vCPU development machine that was an eighth to a quarter of a CPU training step, and two worker
processes slowed each other down in the kernel (the `allocator:` and `ceiling:` lines of
`benchmarks/grid_throughput.py` measure both). Raising the mmap and trim thresholds keeps those
blocks in the heap for reuse: a process holds on to its peak memory, and results do not change
(only where the memory comes from).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
KEEP_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap and stay there after free

_tuned = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for this process (once); False where the C library is not glibc."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    _tuned = bool(mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
    return _tuned
