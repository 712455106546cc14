"""hikscan.allocator: once a large block was freed, the next large blocks still get their own mapping."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from hikscan.allocator import MMAP_THRESHOLD, return_large_blocks
from hikscan.capture.base import CHUNK


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _glibc(), reason="glibc's allocator only")

# In a fresh process: free one 16 MiB block (glibc then raises its mmap threshold to 16 MiB by default),
# then allocate 4 MiB; print how many bytes glibc holds in mappings of their own (mallinfo2().hblkhd)
# before and after it.
PROBE = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    from hikscan.allocator import return_large_blocks
    assert return_large_blocks()
big = bytes(16 * 2**20)
del big
before = libc.mallinfo2().hblkhd
block = bytes(4 * 2**20)
print(before, libc.mallinfo2().hblkhd)
"""


def _mapped_growth(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    return after - before


def test_a_large_block_after_a_freed_one_is_mapped_on_its_own() -> None:
    assert _mapped_growth("tuned") >= 4 * 2**20


def test_without_it_glibc_carves_that_block_from_the_heap() -> None:
    """The behaviour the module exists for (if glibc stops doing this, the module can go)."""
    assert _mapped_growth("default") == 0


def test_it_is_idempotent() -> None:
    assert return_large_blocks() and return_large_blocks()


def test_the_readers_chunks_come_from_the_heap() -> None:
    """A chunk, and a chunk with the tail of a jumbo frame's record before it, stay below the threshold:
    reading reuses heap memory rather than faulting in a fresh mapping for every chunk."""
    assert CHUNK + 9_018 + 16 < MMAP_THRESHOLD
