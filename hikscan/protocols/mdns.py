"""mDNS / DNS-SD (RFC 6762/6763): the services, instance names, host names and TXT a device announces.

Records are walked with dnspython's bounded wire parser (`dns.wire.Parser`) rather than
`dns.message.from_wire`, because mDNS sets the top bit of the class (cache-flush / unicast-response)
and dnspython then keeps PTR/SRV/TXT as opaque data. What a sender claims about itself is in the
answer and additional sections of a response and in the authority section of a query (probing);
a query's answer section lists what it already knows about *others* and is ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire

from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

MAX_MDNS = 9000  # RFC 6762 §17: messages up to the jumbo-frame size
MAX_RECORDS = 256
MAX_ITEMS = 32  # values kept per kind
MAX_TEXT = 255
_PTR, _SRV, _TXT, _A, _AAAA = (
    dns.rdatatype.PTR,
    dns.rdatatype.SRV,
    dns.rdatatype.TXT,
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
)
_KEEP = frozenset({_PTR, _SRV, _TXT, _A, _AAAA})
_IN = dns.rdataclass.IN


@dataclass(frozen=True, slots=True)
class MdnsAnnouncement:
    """What one mDNS message says about its sender (names without `.local`, lower-cased service types)."""

    is_response: bool
    services: tuple[str, ...]  # "_http._tcp"
    instances: tuple[str, ...]  # "D-Link DCS-935L Configuration Utility"
    hostnames: tuple[str, ...]  # "DCS-935L-B0C554255B0E"
    txt: tuple[str, ...]  # "model_number=DCS-935L"
    queries: tuple[str, ...]  # names asked ("_hap._tcp.local")


def _clean(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text.strip())[:MAX_TEXT]


def _labels(name: dns.name.Name) -> list[str]:
    return [label.decode("utf-8", "replace") for label in name.labels if label]


def _strip_local(labels: list[str]) -> list[str]:
    return labels[:-1] if labels and labels[-1].lower() == "local" else labels


def _split_instance(labels: list[str]) -> tuple[str, str] | None:
    """("Instance Name", "_http._tcp") from Instance Name._http._tcp(.local), else None."""
    for i in range(1, len(labels) - 1):
        if labels[i].startswith("_") and labels[i + 1].lower() in ("_tcp", "_udp"):
            if labels[i] == "_services":
                return None
            return ".".join(labels[:i]), f"{labels[i]}.{labels[i + 1]}".lower()
    return None


class _Collect:
    def __init__(self) -> None:
        self.services: dict[str, None] = {}
        self.instances: dict[str, None] = {}
        self.hostnames: dict[str, None] = {}
        self.txt: dict[str, None] = {}

    @staticmethod
    def _put(table: dict[str, None], value: str) -> None:
        value = _clean(value)
        if value and len(table) < MAX_ITEMS:
            table.setdefault(value, None)

    def service_name(self, labels: list[str]) -> None:
        split = _split_instance(labels)
        if split is not None:
            self._put(self.instances, split[0])
            self._put(self.services, split[1])
        elif len(labels) >= 2 and labels[-1].lower() in ("_tcp", "_udp") and labels[-2].startswith("_"):
            self._put(self.services, f"{labels[-2]}.{labels[-1]}".lower())

    def record(self, owner: dns.name.Name, rdtype: int, rdata: dns.rdata.Rdata) -> None:
        labels = _strip_local(_labels(owner))
        if rdtype in (_A, _AAAA):
            if labels and not labels[-1].lower().endswith("arpa"):
                self._put(self.hostnames, ".".join(labels))
        elif rdtype == _PTR:
            target = _strip_local(_labels(rdata.target))  # type: ignore[attr-defined]
            if labels and labels[-1].lower() == "arpa":
                self._put(self.hostnames, ".".join(target))  # reverse mapping to its own name
            elif labels[:1] != ["_services"]:
                self.service_name(target)
        elif rdtype == _SRV:
            self.service_name(labels)
            self._put(self.hostnames, ".".join(_strip_local(_labels(rdata.target))))  # type: ignore[attr-defined]
        elif rdtype == _TXT:
            self.service_name(labels)
            for blob in rdata.strings:  # type: ignore[attr-defined]
                self._put(self.txt, blob.decode("utf-8", "replace"))


def _name(parser: dns.wire.Parser) -> dns.name.Name:
    """An owner or question name; compression allowed (dnspython >= 2.8 asks for it explicitly)."""
    try:
        return parser.get_name(None, True)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # older dnspython: no `decompress` argument, always allowed
        return parser.get_name()


def parse_mdns(payload: bytes | memoryview) -> MdnsAnnouncement:
    """Parse one mDNS message; MalformedInput on truncated or inconsistent wire data."""
    data = bytes(payload)
    if len(data) > MAX_MDNS:
        raise MalformedInput(f"mDNS message longer than {MAX_MDNS} bytes")
    try:
        return _parse(data)
    except (dns.exception.DNSException, ValueError, UnicodeError, IndexError, KeyError, struct.error) as exc:
        raise MalformedInput(f"bad mDNS message: {type(exc).__name__}: {exc}") from None


def _parse(data: bytes) -> MdnsAnnouncement:
    parser = dns.wire.Parser(data)
    _id, flags, qd, an, ns, ar = parser.get_struct("!HHHHHH")
    if qd + an + ns + ar > MAX_RECORDS:
        raise MalformedInput(f"mDNS message claims {qd + an + ns + ar} records")
    is_response = bool(flags & 0x8000)
    queries: dict[str, None] = {}
    for _ in range(qd):
        name = _name(parser)
        parser.get_struct("!HH")
        if len(queries) < MAX_ITEMS:
            queries.setdefault(_clean(name.to_text(omit_final_dot=True).lower()), None)
    found = _Collect()
    for section, count in ((1, an), (2, ns), (3, ar)):
        own = section != 1 or is_response  # a query's answers are known answers about others
        for _ in range(count):
            owner = _name(parser)
            rdtype, _rdclass, _ttl, rdlen = parser.get_struct("!HHIH")
            if rdtype not in _KEEP or not own:
                parser.get_bytes(rdlen)
                continue
            with parser.restrict_to(rdlen):
                rdata = dns.rdata.from_wire_parser(_IN, rdtype, parser)
            found.record(owner, rdtype, rdata)
    return MdnsAnnouncement(
        is_response=is_response,
        services=tuple(found.services),
        instances=tuple(found.instances),
        hostnames=tuple(found.hostnames),
        txt=tuple(found.txt),
        queries=tuple(queries),
    )


def evidence(msg: MdnsAnnouncement, source: str = "mdns") -> list[Evidence]:
    """`mdns.service`, `mdns.instance`, `mdns.hostname`, `mdns.txt` of what the sender announces."""
    out = [Evidence(source, "mdns.service", s) for s in msg.services]
    out += [Evidence(source, "mdns.instance", s) for s in msg.instances]
    out += [Evidence(source, "mdns.hostname", s) for s in msg.hostnames]
    out += [Evidence(source, "mdns.txt", s) for s in msg.txt if s]
    return out
