"""Payload inspection on the passive path: names (DNS, SNI, Host), device evidence, cloud signatures.

Called for every packet that carries a payload, so the cheap tests (ports, first bytes) come first and
a full parse runs only where they say it is worth it. Parsers raise MalformedInput on hostile bytes:
that is counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hikscan.errors import MalformedInput
from hikscan.knowledge.rules import RuleSet
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet, ip_text
from hikscan.passive.naming import DnsCache, NameBook
from hikscan.protocols import dhip, dns, httpmsg, rtsp, sadp, tls, wsdiscovery
from hikscan.report.model import Evidence

TCP, UDP = 6, 17
HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"OPTIONS ", b"DELETE ", b"PATCH ")
MAX_SIGNATURE_HITS = 100_000
# A server's banner does not change between responses, nor a client's Host header between requests:
# after this many parses per (host, protocol) the rest are skipped. Keeps the hot path fast on
# captures that are mostly camera streams and NVR polling.
PARSES_PER_HOST = 8

# Discovery protocols a device announces itself with, by UDP port: a cheap byte test that the message
# is a device's (not a client's probe), the parser, and a check on the parsed result.
Announcement = tuple[bytes, Callable[[bytes], Any], Callable[[Any], bool], Callable[[Any], list[Evidence]]]
ANNOUNCEMENTS: dict[int, Announcement] = {
    37020: (b"<", sadp.parse_sadp, lambda r: r.kind.lower() in ("probematch", "hello"), sadp.evidence),
    3702: (b"Match", wsdiscovery.parse_probe_match, lambda r: r.kind != "Bye", wsdiscovery.evidence),
    37810: (b"notifyDevInfo", dhip.parse_dhip, lambda r: bool(r.info), dhip.evidence),
}


class Inspector:
    """Turns payloads into names, device evidence and signature hits; tracks which addresses are internal."""

    def __init__(self, rules: RuleSet, names: NameBook, attribution: Attribution) -> None:
        self.rules = rules
        self.names = names
        self.attribution = attribution
        self.policy = rules.policy
        self.signature_hits: dict[tuple[str, str], str] = {}
        self.malformed: dict[str, int] = {}
        self._text: dict[bytes, str] = {}
        self._internal: dict[str, bool] = {}
        self._internal_packed: dict[bytes, bool] = {}
        self._dns_cache = DnsCache()
        self._parses: dict[tuple[bytes, bytes, str], int] = {}

    # -- addresses -----------------------------------------------------------------------------
    def text(self, packed: bytes) -> str:
        text = self._text.get(packed)
        if text is None:
            text = ip_text(packed)
            if len(self._text) < 1_000_000:
                self._text[packed] = text
        return text

    def is_internal(self, ip: str) -> bool:
        internal = self._internal.get(ip)
        if internal is None:
            internal = self.policy.is_internal(ip)
            if len(self._internal) < 1_000_000:
                self._internal[ip] = internal
        return internal

    def is_internal_packed(self, packed: bytes) -> bool:
        """is_internal by the packed address: no text conversion for the many packets that stop here."""
        internal = self._internal_packed.get(packed)
        if internal is None:
            internal = self.is_internal(self.text(packed))
            if len(self._internal_packed) < 1_000_000:
                self._internal_packed[packed] = internal
        return internal

    def _worth_parsing(self, a: bytes, b: bytes, kind: str) -> bool:
        key = (a, b, kind)
        seen = self._parses.get(key, 0)
        if seen >= PARSES_PER_HOST:
            return False
        if seen or len(self._parses) < 1_000_000:
            self._parses[key] = seen + 1
        return True

    def _bad(self, what: str) -> None:
        self.malformed[what] = self.malformed.get(what, 0) + 1

    # -- the per-payload entry point -------------------------------------------------------------
    def on_payload(self, pkt: Packet) -> None:
        if pkt.frag == 1:
            return  # the first fragment of a datagram: inspected whole once reassembled (frag 3)
        payload = pkt.payload
        if pkt.proto == UDP:
            self._udp(pkt, payload)
        elif pkt.proto == TCP:
            self._tcp(pkt, payload)

    def _udp(self, pkt: Packet, payload: bytes | memoryview) -> None:
        sport, dport = pkt.sport, pkt.dport
        if sport == 53 or sport == 5353:
            self._dns(pkt, payload)
            return
        announce = ANNOUNCEMENTS.get(sport) or ANNOUNCEMENTS.get(dport)
        if announce is not None:
            self._announcement(pkt, payload, announce)
            return
        self._signature(pkt, payload)

    def _tcp(self, pkt: Packet, payload: bytes | memoryview) -> None:
        first = payload[0]
        if first == 0x16 and tls.is_client_hello(payload):
            if not self._worth_parsing(pkt.src, pkt.dst, "tls"):
                return
            try:
                sni = tls.parse_client_hello_sni(payload, allow_partial=True)
            except MalformedInput:
                self._bad("tls")
                return
            if sni:
                self.names.add_sni(self.text(pkt.src), self.text(pkt.dst), sni)
            return
        head = bytes(payload[:8])
        if head.startswith(HTTP_METHODS):
            if self._worth_parsing(pkt.src, pkt.dst, "http-request"):
                self._http_request(pkt, payload)
        elif head.startswith(b"HTTP/1."):
            if self._worth_parsing(pkt.src, b"", "http"):
                self._response(pkt, payload, "http")
        elif head.startswith(b"RTSP/1."):
            if self._worth_parsing(pkt.src, b"", "rtsp"):
                self._response(pkt, payload, "rtsp")
        else:
            self._signature(pkt, payload)

    # -- handlers -------------------------------------------------------------------------------
    def _dns(self, pkt: Packet, payload: bytes | memoryview) -> None:
        """Answers to the same question repeat byte for byte but for the message id: parse each once."""
        key = DnsCache.key(payload)
        if key in self._dns_cache:
            answers = self._dns_cache[key]
        else:
            try:
                message = dns.parse_dns(payload)
                answers = message.answers if message.is_response else None
            except MalformedInput:
                self._bad("dns")
                answers = None
            self._dns_cache.put(key, answers)
        if answers:
            client = self.text(pkt.dst)
            for asked, address, _ttl in answers:
                self.names.add_dns_answer(client, asked, address)

    def _announcement(self, pkt: Packet, payload: bytes | memoryview, announce: Announcement) -> None:
        marker, parse, from_device, to_evidence = announce
        data = bytes(payload)
        if not self.is_internal_packed(pkt.src) or (marker not in data and b"Hello" not in data):
            return
        src = self.text(pkt.src)
        try:
            result = parse(data)
        except MalformedInput:
            self._bad(parse.__module__.rsplit(".", 1)[-1])
            return
        if from_device(result):
            self.attribution.add(src, to_evidence(result))

    def _http_request(self, pkt: Packet, payload: bytes | memoryview) -> None:
        try:
            request = httpmsg.parse_request(payload)
        except MalformedInput:
            self._bad("http")
            return
        client, server = self.text(pkt.src), self.text(pkt.dst)
        if request.host:
            self.names.add_http_host(client, server, request.host)
        if request.user_agent and self.is_internal(client):
            self.attribution.add(client, [Evidence("capture", "http.user_agent", request.user_agent)])

    def _response(self, pkt: Packet, payload: bytes | memoryview, kind: str) -> None:
        if not self.is_internal_packed(pkt.src):
            return
        server = self.text(pkt.src)
        try:
            if kind == "http":
                self.attribution.add(
                    server, httpmsg.evidence(httpmsg.parse_response(payload), source="capture")
                )
            else:
                self.attribution.add(
                    server, rtsp.evidence(rtsp.parse_rtsp_response(payload), source="capture")
                )
        except MalformedInput:
            self._bad(kind)

    def _signature(self, pkt: Packet, payload: bytes | memoryview) -> None:
        if self.is_internal_packed(pkt.dst):
            return
        signature = self.rules.signature_for(pkt.proto, pkt.dport, bytes(payload[:64]))
        if signature is None:
            return
        key = (self.text(pkt.src), self.text(pkt.dst))
        if key not in self.signature_hits and len(self.signature_hits) < MAX_SIGNATURE_HITS:
            self.signature_hits[key] = signature.id
