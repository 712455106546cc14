"""Payloads of the hostile lab devices: what a scanner's parsers must survive.

The XML payloads are small on the wire and only dangerous to a parser that expands entities or
resolves external ones; a defused parser rejects them.
"""

from __future__ import annotations

import re

# Billion laughs: 10 levels of 10 references each, 10^9 "lol"s (~3 GB) if expanded.
BOMB_DTD = (
    '<!DOCTYPE lolz [\r\n <!ENTITY lol "lol">\r\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\r\n' for i in range(1, 10)
    )
    + "]>\r\n"
)
BOMB_REF = "&lol9;"

# External entity: a parser that resolves it would read a local file (or fetch a URL).
XXE_DTD = '<!DOCTYPE r [\r\n <!ENTITY xxe SYSTEM "file:///etc/passwd">\r\n]>\r\n'
XXE_REF = "&xxe;"

FLOOD_COUNT = 1000  # replies to one SADP inquiry
HUGE_HEADER_BYTES = 4 * 1024 * 1024  # RTSP reply header size
_DECL = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def inject(xml: str, tag: str, behaviour: str) -> str:
    """Put the hostile DTD after the XML declaration and its entity reference into `tag`'s text.

    `tag` is the element's full (prefixed) name, e.g. "DeviceDescription" or "d:Scopes".
    """
    dtd, ref = (BOMB_DTD, BOMB_REF) if behaviour == "xml_bomb" else (XXE_DTD, XXE_REF)
    match = _DECL.match(xml)
    head, rest = (xml[: match.end()], xml[match.end() :]) if match else ("", xml)
    rest, n = re.subn(
        rf"(<{re.escape(tag)}>)([^<]*)(</{re.escape(tag)}>)", rf"\g<1>{ref}\g<3>", rest, count=1
    )
    if n != 1:
        raise ValueError(f"no <{tag}> element to inject into")
    return head + dtd + rest


def huge_rtsp_header(cseq: str | None) -> list[bytes]:
    """An RTSP reply whose header runs to HUGE_HEADER_BYTES, in 64 KiB chunks (never ends in CRLFCRLF)."""
    first = b"RTSP/1.0 200 OK\r\n" + (f"CSeq: {cseq}\r\n".encode() if cseq else b"")
    line = b"X-Padding: " + b"A" * 1011 + b"\r\n"  # 1024 bytes a line
    chunk = line * 64
    return [first] + [chunk] * (HUGE_HEADER_BYTES // len(chunk))
