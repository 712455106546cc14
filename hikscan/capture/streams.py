"""Byte streams a capture can come from: a file, a pipe, or one of them compressed (gzip, xz, bzip2, zstd).

The compression is found by magic bytes, never by the file name. Decompression is streamed (memory
bounded by the format: gzip's 32 KiB window, bzip2's 900 kB blocks, xz's dictionary under
`XZ_MEMLIMIT`, zstd's window under `ZSTD_MAX_WINDOW`) and the decompressed size is bounded: at most
`MAX_RATIO` times the compressed bytes read so far (plus `RATIO_SLACK`), and never past
`MAX_DECOMPRESSED`. Past the bound, reading raises MalformedInput naming the file.
Corrupt or cut compressed data ends the stream early; `problem` says why (the reader reports it as
truncation; zstd's reader ends a cut frame quietly, so there only a record cut in two shows it).
Every stream here offers `read(n)` only: readers must not seek.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import Any, BinaryIO, Protocol

from hikscan.errors import MalformedInput

#: Decompressed bytes allowed per compressed byte read (real captures compress ~2-20:1; gzip can reach
#: 1032:1 and xz/bzip2/zstd far more on crafted input).
MAX_RATIO = 256
#: Decompressed bytes always allowed before the ratio applies (small files of padded frames).
RATIO_SLACK = 16 * 2**20
#: Hard ceiling on what one compressed capture may decompress to.
MAX_DECOMPRESSED = 64 * 2**30
#: xz/lzma decoder memory (xz -9 needs 65 MiB; a forged header may ask for 1.5 GiB).
XZ_MEMLIMIT = 256 * 2**20
#: Largest zstd window accepted (zstd's own default limit; `zstd --long=27`).
ZSTD_MAX_WINDOW = 2**27
#: Compressed bytes read at a time.
READ_SIZE = 256 * 1024

MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),  # legacy .lzma (lzma_alone), default properties
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
#: Bytes needed to tell every magic here and pcap/pcapng apart.
MAGIC_BYTES = 6


def compression_of(head: bytes) -> str | None:
    """'gzip', 'xz', 'lzma', 'bzip2', 'zstd' or None, from the first bytes of a stream."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and (len(head) < 4 or not 0x31 <= head[3] <= 0x39):
                continue  # "BZh" + block size digit 1-9
            return name
    return None


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class Prefixed:
    """A stream whose first bytes were already read (to look at the magic): give them back first."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                out, self._head = self._head + self._rest.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._rest.read(n)


class Counting:
    """Counts the bytes read through it (compressed bytes consumed, for progress and the ratio bound)."""

    def __init__(self, raw: Readable) -> None:
        self._raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        return data


class _Chained:
    """xz/lzma/bzip2 decoding of concatenated streams, at most n bytes out per read (never a whole bomb)."""

    def __init__(self, raw: Readable, new: Any) -> None:
        self._raw = raw
        self._new = new
        self._dec = new()
        self._pending = b""
        self._done = False

    def read(self, n: int = -1) -> bytes:
        n = READ_SIZE if n < 0 else n
        while not self._done:
            if self._dec.eof:
                rest = self._dec.unused_data or self._raw.read(READ_SIZE)
                if not rest.strip(b"\0"):  # end, or xz stream padding
                    self._done = True
                    break
                self._dec = self._new()
                self._pending = rest
            if not self._pending and self._dec.needs_input:
                self._pending = self._raw.read(READ_SIZE)
                if not self._pending:
                    raise EOFError("compressed data ends before its end-of-stream marker")
            out = self._dec.decompress(self._pending, max_length=n)
            self._pending = b""
            if out:
                return out
        return b""


def _zstd(raw: Readable) -> Readable:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - a declared dependency
        raise MalformedInput("zstd-compressed capture, but the zstandard package is not installed") from None
    dec = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    reader: Readable = dec.stream_reader(raw, read_size=READ_SIZE, read_across_frames=True)  # type: ignore[arg-type]
    return reader


def _decoder(kind: str, raw: Readable) -> Readable:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]
    if kind == "bzip2":
        return _Chained(raw, bz2.BZ2Decompressor)
    if kind == "zstd":
        return _zstd(raw)
    fmt = lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
    return _Chained(raw, lambda: lzma.LZMADecompressor(format=fmt, memlimit=XZ_MEMLIMIT))


def _decode_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [EOFError, OSError, lzma.LZMAError, zlib.error, ValueError]
    try:
        import zstandard

        errors.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


class Decompressed:
    """Decompressed bytes of `raw`, bounded in size; corrupt or cut data ends the stream (see `problem`)."""

    def __init__(self, raw: Readable, kind: str, name: str, limit: int = MAX_DECOMPRESSED) -> None:
        self.kind = kind
        self.name = name
        self.limit = limit
        self.problem: str | None = None
        self.out = 0
        self._counting = Counting(raw)
        self._stream = _decoder(kind, self._counting)
        # One decoder step at a time: a step that fails loses only its own bytes, not a whole read.
        self._step = getattr(self._stream, "read1", self._stream.read)
        self._errors = _decode_errors()

    @property
    def compressed_read(self) -> int:
        return self._counting.count

    def read(self, n: int = -1) -> bytes:
        if self.problem is not None:
            return b""
        want = READ_SIZE if n < 0 else n
        chunks = []
        got = 0
        while got < want:  # GzipFile and zstd may return less than asked: fill like a file would
            try:
                data = self._step(min(want - got, READ_SIZE))
            except MemoryError:
                raise MalformedInput(f"{self.name}: {self.kind} data needs too much memory") from None
            except self._errors as exc:
                self.problem = f"{self.kind} data is corrupt or cut ({_why(exc)}); read up to there"
                break
            if not data:
                break
            chunks.append(data)
            got += len(data)
        self.out += got
        bound = min(self.limit, RATIO_SLACK + MAX_RATIO * self._counting.count)
        if self.out > bound:
            raise MalformedInput(
                f"{self.name}: {self.kind} data decompresses past {self.out} bytes from "
                f"{self._counting.count} (limit {MAX_RATIO}:1 and {self.limit} bytes): a decompression bomb?"
            )
        return b"".join(chunks)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:120]


def open_stream(fh: BinaryIO, name: str) -> tuple[Readable, bytes, Decompressed | None]:
    """The capture bytes of `fh` (decompressed if its magic says so), their first MAGIC_BYTES, and the
    decompressor if any. Reads only forward, so pipes work."""
    head = _read_full(fh, MAGIC_BYTES)
    kind = compression_of(head)
    stream: Readable = Prefixed(head, fh)
    if kind is None:
        return stream, head, None
    dec = Decompressed(stream, kind, name)
    inner = _read_full(dec, MAGIC_BYTES)
    if not inner and dec.problem:
        raise MalformedInput(f"{name}: {dec.problem.split(';')[0]}")
    return Prefixed(inner, dec), inner, dec


def _read_full(fh: Readable, n: int) -> bytes:
    out = b""
    while len(out) < n:
        more = fh.read(n - len(out))
        if not more:
            break
        out += more
    return out
