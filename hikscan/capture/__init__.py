"""Streamed capture reading: `open_capture(path)` picks pcap or pcapng by magic, never by extension."""

from __future__ import annotations

import os
from pathlib import Path

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
    "open_capture",
]

_PCAP_MAGICS = {m.to_bytes(4, o) for m in (MAGIC_US, MAGIC_NS) for o in ("little", "big")}


def open_capture(path: str | os.PathLike[str]) -> CaptureReader:
    """Open a pcap or pcapng file for streamed reading (pcap.gz is not supported).

    Raises MalformedInput naming the file when it is not a capture, UsageError-free: an unreadable
    path raises OSError as usual.
    """
    p = Path(path)
    fh = p.open("rb")
    try:
        size = os.fstat(fh.fileno()).st_size
        magic = fh.read(4)
        fh.seek(0)
        reader: CaptureReader
        if magic in _PCAP_MAGICS:
            reader = PcapReader(p, fh, size)
        elif magic == SHB.to_bytes(4, "little"):
            reader = PcapngReader(p, fh, size)
        else:
            why = "empty file" if not magic else f"unknown magic {magic.hex()}"
            raise MalformedInput(f"{p} is not a pcap or pcapng file ({why})")
        reader._open()  # type: ignore[attr-defined]
        return reader
    except BaseException:
        fh.close()
        raise
