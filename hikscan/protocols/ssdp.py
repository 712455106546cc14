"""SSDP (UPnP discovery over UDP 1900): a device's NOTIFY announcements and its M-SEARCH responses.

Both carry SERVER (OS, UPnP version, product), USN, NT or ST and LOCATION. An M-SEARCH request is a
client looking for devices and says nothing about the sender's product except its User-Agent.
The head is HTTP-shaped and parsed by the bounded `httpmsg` head reader.
"""

from __future__ import annotations

from dataclasses import dataclass

from hikscan.errors import MalformedInput
from hikscan.protocols import httpmsg
from hikscan.report.model import Evidence

MAX_SSDP = 8192
MAX_VALUE = 512


@dataclass(frozen=True, slots=True)
class SsdpMessage:
    kind: str  # "notify", "response" or "search"
    server: str | None
    usn: str | None
    nt: str | None  # NT of a NOTIFY, ST of a response or search
    nts: str | None
    location: str | None
    user_agent: str | None

    @property
    def from_device(self) -> bool:
        return self.kind != "search"  # a byebye NOTIFY still names the device that leaves


def _get(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    value = httpmsg.header(headers, name)
    return value[:MAX_VALUE] if value else None


def parse_ssdp(payload: bytes | memoryview) -> SsdpMessage:
    """Parse one SSDP datagram; MalformedInput if it is no NOTIFY, M-SEARCH or 200 response."""
    if len(payload) > MAX_SSDP:
        raise MalformedInput(f"SSDP message longer than {MAX_SSDP} bytes")
    lines, _ = httpmsg.split_head(payload, MAX_SSDP)
    first = lines[0].strip()
    if first.startswith("NOTIFY * HTTP/1."):
        kind = "notify"
    elif first.startswith("M-SEARCH * HTTP/1."):
        kind = "search"
    elif first.startswith("HTTP/1.") and first[9:12] == "200":
        kind = "response"
    else:
        raise MalformedInput(f"not an SSDP start line: {first[:60]!r}")
    headers = httpmsg.parse_headers(lines[1:])
    nts = _get(headers, "nts")
    return SsdpMessage(
        kind=kind,
        server=_get(headers, "server"),
        usn=_get(headers, "usn"),
        nt=_get(headers, "nt") or _get(headers, "st"),
        nts=nts.lower() if nts else None,
        location=_get(headers, "location"),
        user_agent=_get(headers, "user-agent"),
    )


def evidence(msg: SsdpMessage, source: str = "ssdp") -> list[Evidence]:
    """`ssdp.server|usn|nt|location` of a device's announcement; `http.user_agent` of a search."""
    if not msg.from_device:
        return [Evidence(source, "http.user_agent", msg.user_agent)] if msg.user_agent else []
    fields = (("server", msg.server), ("usn", msg.usn), ("nt", msg.nt), ("location", msg.location))
    return [Evidence(source, f"ssdp.{name}", value) for name, value in fields if value]
