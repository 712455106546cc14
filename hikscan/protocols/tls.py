"""TLS ClientHello: the server name (SNI) a device asks for, read with the bounds-checked Reader."""

from __future__ import annotations

from typing import cast

from hikscan.errors import MalformedInput
from hikscan.protocols.wire import Reader
from hikscan.report.model import Evidence

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_HOST_NAME = 0
MAX_RECORD = 16384 + 2048  # RFC 8446: a TLSCiphertext record never exceeds 2^14 + 2048
_MAX_NAME = 255


def is_client_hello(payload: bytes | memoryview) -> bool:
    """Cheap pre-check for the hot path: a handshake record whose first message is a ClientHello."""
    return len(payload) >= 6 and payload[0] == _HANDSHAKE and payload[1] == 3 and payload[5] == _CLIENT_HELLO


def parse_client_hello_sni(
    payload: bytes | memoryview, allow_partial: bool = False, slow: bool = False
) -> str | None:
    """The host_name from the SNI extension of a ClientHello record, or None when it has no SNI.

    The ClientHello must fit in this payload; with allow_partial=True a record cut short by a TCP
    segment boundary is read as far as it goes (the SNI usually comes early), and only a cut before
    the SNI is an error. Anything that is not a ClientHello, or whose lengths overrun, raises
    MalformedInput.

    A whole, well-formed record is read by `_fast_sni` (plain index arithmetic); anything else, and
    every input with slow=True, by the bounds-checked Reader walk below, which is the definition:
    the fast path answers only where every read of that walk would have stayed in bounds.
    """
    if not slow:
        found = _fast_sni(payload if isinstance(payload, bytes) else bytes(payload))
        if found is not _DEFER:
            return cast("str | None", found)
    if len(payload) >= 3 and payload[0] & 0x80 and payload[2] == _CLIENT_HELLO:
        _check_sslv2_hello(payload)
        return None
    rec = Reader(payload)
    if rec.u8() != _HANDSHAKE:
        raise MalformedInput("TLS: not a handshake record")
    major = rec.u8()
    rec.u8()
    if major != 3:
        raise MalformedInput(f"TLS: record version major {major}")
    length = rec.u16()
    if length > MAX_RECORD or length < 4:
        raise MalformedInput(f"TLS: record length {length}")
    if length > rec.remaining():
        if not allow_partial:
            raise MalformedInput(f"TLS: record length {length} overruns {rec.remaining()} bytes")
        length = rec.remaining()
    body = rec.sub(length)
    if body.u8() != _CLIENT_HELLO:
        raise MalformedInput("TLS: handshake is not a ClientHello")
    hs_len = (body.u8() << 16) | body.u16()
    if hs_len > body.remaining():
        if not allow_partial:
            raise MalformedInput(f"TLS: ClientHello length {hs_len} overruns the record")
        hs_len = body.remaining()
    hello = body.sub(hs_len)
    hello.skip(2 + 32)  # legacy_version, random
    hello.skip(hello.u8())  # session id
    suites = hello.u16()
    if suites % 2:
        raise MalformedInput("TLS: odd cipher suites length")
    hello.skip(suites)
    hello.skip(hello.u8())  # compression methods
    if hello.remaining() == 0:
        return None  # no extensions at all (TLS 1.0 style)
    exts = _sub(hello, hello.u16(), allow_partial)
    while exts.remaining():
        ext_type = exts.u16()
        ext = _sub(exts, exts.u16(), allow_partial and ext_type != _EXT_SERVER_NAME)
        if ext_type == _EXT_SERVER_NAME:
            return _server_name(ext)
    return None


_DEFER = object()  # _fast_sni: "not a plain case, ask the Reader walk"


def _fast_sni(p: bytes) -> object:
    """The Reader walk of parse_client_hello_sni for whole records only, as index arithmetic: the same
    reads in the same order, returning _DEFER at the first read or check the walk would raise on or
    read partially (the caller then runs the walk itself, for its exact answer or error)."""
    n = len(p)
    if n < 9 or p[0] != _HANDSHAKE or p[1] != 3:
        return _DEFER  # also SSLv2 hellos (first byte has the high bit set)
    length = p[3] << 8 | p[4]
    if length > MAX_RECORD or length < 4 or length > n - 5 or p[5] != _CLIENT_HELLO:
        return _DEFER
    hs_len = p[6] << 16 | p[7] << 8 | p[8]
    end = 9 + hs_len
    if hs_len > length - 4:
        return _DEFER
    pos = 9 + 2 + 32  # legacy_version, random
    if pos >= end:
        return _DEFER
    pos += 1 + p[pos]  # session id
    if pos + 2 > end:
        return _DEFER
    suites = p[pos] << 8 | p[pos + 1]
    pos += 2 + suites
    if suites % 2 or pos >= end:
        return _DEFER
    pos += 1 + p[pos]  # compression methods
    if pos > end:
        return _DEFER
    if pos == end:
        return None  # no extensions at all
    if pos + 2 > end:
        return _DEFER
    exts_end = pos + 2 + (p[pos] << 8 | p[pos + 1])
    pos += 2
    if exts_end > end:
        return _DEFER
    while pos < exts_end:
        if pos + 4 > exts_end:
            return _DEFER
        ext_type = p[pos] << 8 | p[pos + 1]
        ext_end = pos + 4 + (p[pos + 2] << 8 | p[pos + 3])
        if ext_end > exts_end:
            return _DEFER
        if ext_type == _EXT_SERVER_NAME:
            return _fast_server_name(p, pos + 4, ext_end)
        pos = ext_end
    return None


def _fast_server_name(p: bytes, pos: int, end: int) -> object:
    """_server_name over p[pos:end] as index arithmetic; _DEFER where it would raise."""
    if pos + 2 > end or pos + 2 + (p[pos] << 8 | p[pos + 1]) != end:
        return _DEFER  # the list overruns the extension, or bytes follow it
    pos += 2
    while pos < end:
        if pos + 3 > end:
            return _DEFER
        name_type, size = p[pos], p[pos + 1] << 8 | p[pos + 2]
        pos += 3 + size
        if pos > end:
            return _DEFER
        if name_type != _HOST_NAME:
            continue
        if not size or size > _MAX_NAME:
            return _DEFER
        raw = p[pos - size : pos]
        if not raw.isascii():
            return _DEFER
        text = raw.decode("ascii")
        if not text.isprintable() or " " in text:
            return _DEFER
        return text.rstrip(".").lower()
    return None


def _sub(r: Reader, n: int, partial: bool) -> Reader:
    """r.sub(n), or in partial mode whatever of it this payload holds."""
    return r.sub(min(n, r.remaining()) if partial else n)


def _check_sslv2_hello(payload: bytes | memoryview) -> None:
    """Validate an SSLv2-format ClientHello (old clients still send it); it cannot carry an SNI."""
    rec = Reader(payload)
    length = rec.u16() & 0x7FFF
    if length > rec.remaining():
        raise MalformedInput(f"SSLv2: record length {length} overruns {rec.remaining()} bytes")
    hello = rec.sub(length)
    hello.skip(1 + 2)  # msg type, version
    suites, session, challenge = hello.u16(), hello.u16(), hello.u16()
    if suites % 3 or session not in (0, 16) or not 16 <= challenge <= 32:
        raise MalformedInput("SSLv2: bad ClientHello field lengths")
    hello.skip(suites + session + challenge)
    if hello.remaining():
        raise MalformedInput("SSLv2: bytes after the ClientHello")


def _server_name(ext: Reader) -> str | None:
    names = ext.sub(ext.u16())
    if ext.remaining():
        raise MalformedInput("TLS: bytes after the server name list")
    while names.remaining():
        name_type = names.u8()
        raw = names.bytes(names.u16())
        if name_type != _HOST_NAME:
            continue
        if not raw or len(raw) > _MAX_NAME:
            raise MalformedInput(f"TLS: SNI host name of {len(raw)} bytes")
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedInput("TLS: SNI host name is not ASCII") from None
        if not text.isprintable() or " " in text:
            raise MalformedInput("TLS: SNI host name has control characters or spaces")
        return text.rstrip(".").lower()
    return None


def evidence(sni: str | None, source: str = "tls") -> list[Evidence]:
    """`tls.sni` when the ClientHello named a server."""
    return [Evidence(source, "tls.sni", sni)] if sni else []
