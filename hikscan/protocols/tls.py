"""TLS ClientHello: the server name (SNI) a device asks for, read with the bounds-checked Reader."""

from __future__ import annotations

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


def parse_client_hello_sni(payload: bytes | memoryview, allow_partial: bool = False) -> str | None:
    """The host_name from the SNI extension of a ClientHello record, or None when it has no SNI.

    The ClientHello must fit in this payload; with allow_partial=True a record cut short by a TCP
    segment boundary is read as far as it goes (the SNI usually comes early), and only a cut before
    the SNI is an error. Anything that is not a ClientHello, or whose lengths overrun, raises
    MalformedInput.
    """
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
