"""WS-Discovery (UDP 3702, group 239.255.255.250): typed Probe builder, ProbeMatch/Hello parser.

ONVIF devices answer a Probe with a ProbeMatch and announce themselves with Hello. The scopes carry
what fingerprints use: onvif://www.onvif.org/name/HIKVISION%20DS-2CD2385G1-I, hardware/<model>,
MAC/<mac>, location/..., and on Dahua firmware (and its OEM rebrands) extension/unique_identifier.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from hikscan.errors import MalformedInput
from hikscan.protocols.safexml import child_text, find_local, local, parse_xml
from hikscan.report.model import Evidence

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
MAX_WSD_BYTES = 64 * 1024
NVT = "dn:NetworkVideoTransmitter"
DEVICE = "tds:Device"
_TYPES = re.compile(r"^(?:(?:dn|tds):[A-Za-z]{1,64}(?: |$)){0,8}$")
_MAX_ITEMS = 64
_ONVIF_SCOPE = "onvif://www.onvif.org/"
_KINDS = {"probematch": "ProbeMatch", "hello": "Hello", "bye": "Bye"}


def build_probe(types: str = NVT, message_id: str | None = None) -> bytes:
    """A WS-Discovery Probe for the given types ("dn:NetworkVideoTransmitter", "tds:Device", both
    space-separated, or "" for an untyped probe) with a fresh MessageID."""
    if not _TYPES.match(types):
        raise ValueError(f"unsupported probe types {types!r}")
    mid = message_id or f"uuid:{uuid.uuid4()}"
    if not re.fullmatch(r"(?:urn:)?uuid:[0-9a-fA-F-]{36}", mid):
        raise ValueError("message_id must be uuid:<uuid>")
    types_el = f"<d:Types>{types}</d:Types>" if types else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'
        ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        "<s:Header>"
        f"<a:MessageID>{mid}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
        "</s:Header>"
        f"<s:Body><d:Probe>{types_el}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


@dataclass(frozen=True, slots=True)
class WsdMatch:
    """One ProbeMatch / Hello / Bye: endpoint address, types, scopes and service addresses."""

    kind: str
    endpoint: str | None
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: str | None = None

    def scope_values(self, category: str) -> list[str]:
        return scope_values(self.scopes, category)

    @property
    def name(self) -> str | None:
        values = self.scope_values("name")
        return values[0] if values else None

    @property
    def hardware(self) -> str | None:
        values = self.scope_values("hardware")
        return values[0] if values else None

    @property
    def mac(self) -> str | None:
        values = self.scope_values("mac")
        return values[0].lower() if values else None

    @property
    def location(self) -> str | None:
        """The location scope after 'location/', e.g. 'city/hangzhou' or 'country/china'."""
        values = self.scope_values("location")
        return values[0] if values else None

    @property
    def is_video_transmitter(self) -> bool:
        return any(t.rsplit(":", 1)[-1] == "NetworkVideoTransmitter" for t in self.types)


def scope_values(scopes: tuple[str, ...] | list[str], category: str) -> list[str]:
    """URL-decoded values of onvif://www.onvif.org/<category>/<value> scopes (category case-insensitive)."""
    want = category.lower() + "/"
    out = []
    for scope in scopes:
        if not scope.lower().startswith(_ONVIF_SCOPE):
            continue
        rest = scope[len(_ONVIF_SCOPE) :]
        if rest.lower().startswith(want):
            value = unquote(rest[len(want) :], errors="replace")
            if value:
                out.append(value)
    return out


def _split(text: str | None) -> tuple[str, ...]:
    items = tuple((text or "").split())
    if len(items) > _MAX_ITEMS:
        raise MalformedInput(f"WS-Discovery: more than {_MAX_ITEMS} items in a list")
    return items


def parse_probe_match(data: bytes) -> WsdMatch:
    """First ProbeMatch, Hello or Bye in an envelope (or in a bare Body fragment)."""
    matches = parse_probe_matches(data)
    if not matches:
        raise MalformedInput("WS-Discovery: no ProbeMatch, Hello or Bye element")
    return matches[0]


def parse_probe_matches(data: bytes) -> list[WsdMatch]:
    """Every ProbeMatch/Hello/Bye in the message (a ProbeMatches element may hold several)."""
    root = parse_xml(data, MAX_WSD_BYTES)
    out = []
    for el in root.iter():
        kind = _KINDS.get(local(el.tag).lower())
        if kind is None:
            continue
        epr = find_local(el, "EndpointReference")
        address = child_text(epr, "Address") if epr is not None else None
        out.append(
            WsdMatch(
                kind=kind,
                endpoint=address or None,
                types=_split(child_text(el, "Types")),
                scopes=_split(child_text(el, "Scopes")),
                xaddrs=_split(child_text(el, "XAddrs")),
                metadata_version=child_text(el, "MetadataVersion"),
            )
        )
        if len(out) > _MAX_ITEMS:
            raise MalformedInput("WS-Discovery: too many matches")
    return out


def evidence(match: WsdMatch, source: str = "wsdiscovery") -> list[Evidence]:
    """`onvif.endpoint`, `onvif.types`, one `onvif.scope` per scope, one `onvif.xaddr` per address."""
    out = []
    if match.endpoint:
        out.append(Evidence(source, "onvif.endpoint", match.endpoint))
    if match.types:
        out.append(Evidence(source, "onvif.types", " ".join(match.types)))
    out += [Evidence(source, "onvif.scope", s) for s in match.scopes]
    out += [Evidence(source, "onvif.xaddr", x) for x in match.xaddrs]
    return out
