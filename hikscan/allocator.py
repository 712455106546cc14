"""The C allocator's setting for a long analysis: large blocks go back to the system when they are freed.

glibc's malloc serves a block of 128 KiB or more from its own mapping and unmaps it when freed, but the first
time such a block is freed it raises that threshold to the block's size (up to 32 MiB): from then on the
engine's large tables (the flow dict, the hot loop's direction cache, SQLite's pages, the reader's chunks)
are carved from the heap, and as they grow, shrink and move they leave holes the heap never gives back.
On the 10M-packet bench capture that was 10–18 MiB of free heap held for nothing. Fixing the threshold
(`mallopt(M_MMAP_THRESHOLD)`, which also turns the raising off) keeps those blocks in their own mappings:
peak RSS 100 -> 93 MiB there, 94 -> 90.5 MiB at 3M packets. The reader's chunks are kept below the threshold
(capture.base.CHUNK): at 2 MiB each was a fresh mapping to fault in, ~15% of a LAN analysis.

Elsewhere than glibc (musl, macOS) there is no such call and nothing changes.
"""

from __future__ import annotations

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's default, kept fixed

_done = False


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold for this process (once); False where there is no glibc."""
    global _done
    if _done:
        return True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except (OSError, ImportError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: mallopt is absent or does nothing
        return False
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    _done = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return _done
