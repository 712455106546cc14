"""What every capture reader shares: the Record it yields, link-type numbers, limits, chunked input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hikscan.errors import MalformedInput

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_BSD = 12  # DLT_RAW on some BSDs
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

#: Largest captured length we accept for one record (Wireshark's own ceiling is 256 KiB).
MAX_CAPLEN = 262_144
#: Largest non-packet pcapng block we skip by seeking; larger ones are taken as corruption.
MAX_SKIP_BLOCK = 64 * 2**20
#: Timestamps at or past this (year 10000) cannot be shown as dates; pcapng's 64-bit ones can reach it.
MAX_TS = 253_402_300_800.0
#: Bytes read from the file at a time: below glibc's fixed 128 KiB mmap threshold (hikscan/allocator.py) with
#: the tail of the last chunk, so each read reuses heap memory instead of faulting in a fresh mapping (2 MiB
#: chunks cost ~15% of a LAN analysis that way).
CHUNK = 64 * 1024


class Record:
    """One captured frame: ts (float seconds, UTC epoch), link type, captured bytes, length on the wire."""

    __slots__ = ("data", "linktype", "ts", "wirelen")

    def __init__(self, ts: float, linktype: int, data: bytes, wirelen: int) -> None:
        self.ts = ts
        self.linktype = linktype
        self.data = data
        self.wirelen = wirelen

    def __repr__(self) -> str:
        return f"Record(ts={self.ts!r}, linktype={self.linktype}, len={len(self.data)}, wire={self.wirelen})"


class CaptureReader:
    """Base of the pcap and pcapng readers: iterate for Records; then look at truncated/warnings."""

    format = "?"

    def __init__(self, path: Path, fh: Any, size: int, seekable: bool = True, source: Any = None) -> None:
        """fh offers read(n) (and seek when `seekable`); `source` is the decompressor or None."""
        self.path = path
        self.size = size
        self.truncated = False
        self.warnings: list[str] = []
        self.records = 0
        self._fh = fh
        self._seekable = seekable
        self._source = source
        self._closers: list[Any] = [fh.close] if hasattr(fh, "close") else []
        self._buf = b""
        self._pos = 0
        self._base = 0  # file offset of _buf[0]
        self._eof = False

    # -- chunked input -------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """File offset up to which records have been consumed (for progress bars)."""
        return self._base + self._pos

    @property
    def position(self) -> int:
        """Bytes of the input file consumed (compressed bytes for a compressed capture): for progress."""
        if self._source is not None:
            return int(self._source.compressed_read)
        return self.bytes_read

    def _fill(self, n: int) -> bool:
        """Make at least n unread bytes available in _buf from _pos; False if the file ends first."""
        while len(self._buf) - self._pos < n:
            if self._eof:
                return False
            more = self._fh.read(max(CHUNK, n))
            if not more:
                self._eof = True
                problem = getattr(self._source, "problem", None)
                if problem:
                    self.truncated = True
                    self._warn(problem)
                return False
            self._base += self._pos
            self._buf = self._buf[self._pos :] + more
            self._pos = 0
        return True

    def _skip(self, n: int) -> bool:
        """Move past n bytes without holding them in memory; False if the file ends first."""
        have = len(self._buf) - self._pos
        if n <= have:
            self._pos += n
            return True
        rest = n - have
        self._base += len(self._buf) + rest
        self._buf = b""
        self._pos = 0
        if not self._seekable:  # a pipe or a decompressed stream: read past, CHUNK at a time
            while rest:
                got = len(self._fh.read(min(rest, CHUNK)))
                if not got:
                    self._base -= rest
                    self._eof = True
                    return False
                rest -= got
            return True
        if self._base > self.size:
            self._base = self.size
            self._eof = True
            return False
        self._fh.seek(self._base)
        return True

    def _leftover(self) -> int:
        return len(self._buf) - self._pos

    # -- reporting -----------------------------------------------------------------------------
    def _warn(self, msg: str) -> None:
        if len(self.warnings) < 50:
            self.warnings.append(f"{self.path.name}: {msg}")

    def _cut(self, what: str) -> None:
        """The file ends inside a record or header: keep what was read and say so."""
        self.truncated = True
        self._warn(f"capture is truncated: file ends inside {what} at offset {self.bytes_read}")

    def _corrupt(self, what: str) -> None:
        """A length field that cannot be true: stop reading here, like a truncated file."""
        self.truncated = True
        self._warn(f"stopped at offset {self.bytes_read}: {what}")

    def _not_capture(self, why: str) -> MalformedInput:
        return MalformedInput(f"{self.path} is not a pcap or pcapng file ({why})")

    def close(self) -> None:
        for close in self._closers:
            close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Record]:  # pragma: no cover - overridden
        raise NotImplementedError
