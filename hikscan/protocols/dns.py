"""DNS (and mDNS) messages: which names were asked and which addresses they resolved to.

The analyser names remote servers from DNS answers, so an address reached through a CNAME chain
(litedev.hik-connect.com -> d1234.cloudfront.net -> 203.0.113.7) is mapped back to the name the
device asked for. Parsing is dnspython's; its exceptions become MalformedInput.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

MAX_DNS_BYTES = 65535 + 2
_MAX_CHAIN = 16  # CNAME hops followed before giving up (loops end here too)
_A, _AAAA, _CNAME = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME


@dataclass(frozen=True, slots=True)
class DnsAnswers:
    """A parsed DNS message.

    questions: names asked (lower case, no trailing dot). answers: (name_asked, ip_text, ttl), where
    name_asked is the question name the address answers after following CNAMEs (or the record's own
    owner name when no question leads to it, as in unsolicited mDNS announcements).
    cnames: (alias, target) pairs seen in the answer section.
    """

    id: int
    is_response: bool
    rcode: int
    questions: tuple[str, ...]
    answers: tuple[tuple[str, str, int], ...]
    cnames: tuple[tuple[str, str], ...]

    @property
    def cname_targets(self) -> tuple[str, ...]:
        return tuple(target for _, target in self.cnames)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _address(rdtype: int, rdata: object) -> str | None:
    """Address text of an A/AAAA rdata, also for mDNS records whose class has the cache-flush bit."""
    address = getattr(rdata, "address", None)
    if isinstance(address, str):
        return address
    blob = getattr(rdata, "data", None)  # GenericRdata: class 0x8001 is not IN to dnspython
    if isinstance(blob, bytes):
        if rdtype == _A and len(blob) == 4:
            return str(ipaddress.IPv4Address(blob))
        if rdtype == _AAAA and len(blob) == 16:
            return str(ipaddress.IPv6Address(blob))
    return None


def _generic_name(rdata: object) -> str | None:
    """CNAME target of a GenericRdata (mDNS cache-flush class) — uncompressed names only."""
    blob = getattr(rdata, "data", None)
    if not isinstance(blob, bytes):
        return None
    try:
        return _text(dns.name.from_wire(blob, 0)[0])
    except (dns.exception.DNSException, ValueError, IndexError):
        return None


def parse_dns(payload: bytes | memoryview, tcp: bool = False) -> DnsAnswers:
    """Parse one DNS message (UDP payload, or with tcp=True a TCP segment with the 2-byte length)."""
    data = bytes(payload)
    if len(data) > MAX_DNS_BYTES:
        raise MalformedInput(f"DNS message too large: {len(data)} bytes")
    if tcp:
        if len(data) < 2:
            raise MalformedInput("DNS over TCP: no length prefix")
        (length,) = struct.unpack_from("!H", data)
        if length > len(data) - 2:
            raise MalformedInput(f"DNS over TCP: length {length} overruns {len(data) - 2} bytes")
        data = data[2 : 2 + length]
    try:
        msg = dns.message.from_wire(data, ignore_trailing=False, one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, UnicodeError, IndexError, KeyError, struct.error) as exc:
        raise MalformedInput(f"bad DNS message: {type(exc).__name__}: {exc}") from None
    questions = tuple(dict.fromkeys(_text(rrset.name) for rrset in msg.question))

    cname_of: dict[str, str] = {}
    addresses: list[tuple[str, str, int]] = []
    for rrset in msg.answer:
        owner = _text(rrset.name)
        for rdata in rrset:
            if rrset.rdtype == _CNAME:
                target = getattr(rdata, "target", None)
                target_text = _text(target) if target is not None else _generic_name(rdata)
                if target_text:
                    cname_of.setdefault(owner, target_text)
            elif rrset.rdtype in (_A, _AAAA):
                ip = _address(rrset.rdtype, rdata)
                if ip is not None:
                    addresses.append((owner, ip, rrset.ttl))

    # Map each owner name back to the question that leads to it through the CNAME chain.
    asked_for: dict[str, str] = {}
    for question in questions:
        current = question
        for _ in range(_MAX_CHAIN):
            asked_for.setdefault(current, question)
            nxt = cname_of.get(current)
            if nxt is None or nxt in asked_for:
                break
            current = nxt
    answers = tuple(dict.fromkeys((asked_for.get(owner, owner), ip, ttl) for owner, ip, ttl in addresses))
    return DnsAnswers(
        id=msg.id,
        is_response=bool(msg.flags & dns.flags.QR),
        rcode=int(msg.rcode()),
        questions=questions,
        answers=answers,
        cnames=tuple(cname_of.items()),
    )


def evidence(result: DnsAnswers, source: str = "dns") -> list[Evidence]:
    """`dns.query` per question and `dns.answer` per resolved address ("name ip")."""
    out = [Evidence(source, "dns.query", q) for q in result.questions]
    out += [Evidence(source, "dns.answer", f"{name} {ip}") for name, ip, _ in result.answers]
    return out
