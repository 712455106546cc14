"""Streamed capture reading: `open_capture(path)` picks pcap or pcapng (and any compression) by magic."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from hikscan.capture.base import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    MAX_CAPLEN,
    CaptureReader,
    Record,
)
from hikscan.capture.pcap import MAGIC_NS, MAGIC_US, PcapReader
from hikscan.capture.pcapng import SHB, PcapngReader
from hikscan.capture.streams import compression_of, open_stream
from hikscan.errors import MalformedInput

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "MAX_CAPLEN",
    "CaptureReader",
    "PcapReader",
    "PcapngReader",
    "Record",
    "capture_kind",
    "open_capture",
]

_PCAP_MAGICS = {m.to_bytes(4, o) for m in (MAGIC_US, MAGIC_NS) for o in ("little", "big")}
STDIN = "-"


def capture_kind(head: bytes) -> str | None:
    """'pcap', 'pcapng', a compression name ('gzip', 'xz', …) or None, from a file's first bytes."""
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    if head[:4] == SHB.to_bytes(4, "little"):
        return "pcapng"
    return compression_of(head)


def open_capture(path: str | os.PathLike[str]) -> CaptureReader:
    """Open a pcap or pcapng capture for streamed reading; `-` is standard input.

    The format and any compression (gzip, xz, bzip2, zstd) are found by magic bytes, not the name;
    pipes and FIFOs are read forward only. Raises MalformedInput naming the file when it is not a
    capture (or decompresses past the bound); an unreadable path raises OSError as usual.
    """
    stdin = os.fspath(path) == STDIN
    p = Path("<stdin>") if stdin else Path(path)
    fh: BinaryIO = sys.stdin.buffer if stdin else p.open("rb")
    closers = [] if stdin else [fh.close]
    try:
        st = os.fstat(fh.fileno())
        regular = stat.S_ISREG(st.st_mode)
        stream, magic, source = open_stream(fh, str(p))
        if source is not None:
            closers.insert(0, source.close)
        elif regular:
            fh.seek(0)
            stream = fh
        reader: CaptureReader
        args = (p, stream, st.st_size if regular else 0, regular and source is None, source)
        if magic[:4] in _PCAP_MAGICS:
            reader = PcapReader(*args)
        elif magic[:4] == SHB.to_bytes(4, "little"):
            reader = PcapngReader(*args)
        else:
            inside = f"{source.kind}-compressed, " if source is not None else ""
            why = "empty file" if not magic else f"unknown magic {magic[:4].hex()}"
            raise MalformedInput(f"{p} is not a pcap or pcapng file ({inside}{why})")
        reader._closers = closers
        reader._open()  # type: ignore[attr-defined]
        return reader
    except BaseException:
        for close in closers:
            close()
        raise
