"""The executors' allocator setting keeps freed blocks in the process (glibc only)."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                                reason="mallopt is glibc's; elsewhere keep_freed_memory does nothing")

# A fresh process frees a 256 MiB block and prints how much of it is still resident.
SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    from mebench.allocator import keep_freed_memory

    if sys.argv[1] == "keep":
        assert keep_freed_memory() and keep_freed_memory()  # once is enough; again is harmless
    page = os.sysconf("SC_PAGE_SIZE")
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
    before = rss()
    block = np.ones(256 << 20, dtype=np.uint8)
    del block
    print((rss() - before) / (256 << 20))
""")


def resident_after_free(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_freed_memory_stays_in_the_process_only_when_asked():
    assert resident_after_free("default") < 0.1  # glibc unmaps a block this large on free
    assert resident_after_free("keep") > 0.9  # kept in the heap for the next tensor
