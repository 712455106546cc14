"""One bounds-checked reader for every binary format hikscan parses (after dnspython's wirebase)."""

from __future__ import annotations

import struct

from hikscan.errors import MalformedInput

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


class Reader:
    """Reads big-endian fields from a buffer; every read past the end raises MalformedInput."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes | memoryview, start: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = start
        self.end = len(buf) if end is None else min(end, len(buf))
        if start > self.end:
            raise MalformedInput("reader starts past the end of its buffer")

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        if n < 0 or self.pos + n > self.end:
            raise MalformedInput(
                f"truncated: need {n} bytes at offset {self.pos}, have {self.end - self.pos}"
            )
        start = self.pos
        self.pos += n
        return start

    def u8(self) -> int:
        return _U8.unpack_from(self.buf, self._need(1))[0]

    def u16(self) -> int:
        return _U16.unpack_from(self.buf, self._need(2))[0]

    def u32(self) -> int:
        return _U32.unpack_from(self.buf, self._need(4))[0]

    def bytes(self, n: int) -> bytes:
        start = self._need(n)
        return bytes(self.buf[start : start + n])

    def skip(self, n: int) -> None:
        self._need(n)

    def sub(self, n: int) -> Reader:
        """A reader confined to the next n bytes; this reader moves past them."""
        start = self._need(n)
        return Reader(self.buf, start, start + n)
