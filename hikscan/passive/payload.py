"""Payload inspection on the passive path: hands each payload to the evidence source that claims it.

Called for the first payload packets of every flow, so the cheap tests (ports, first bytes) come first
and a full parse runs only where they say it is worth it. The sources (`hikscan.passive.sources`, one
module per protocol) turn payloads into server names (NameBook), evidence about LAN hosts (Attribution)
and cloud-protocol hits. Parsers raise MalformedInput on hostile bytes: that is counted, never fatal.
The Inspector also decides which addresses are local (`locality.Locality`), with caches by text and by
packed address.
"""

from __future__ import annotations

from collections.abc import Iterable

from hikscan.knowledge.rules import RuleSet
from hikscan.knowledge.ruleset import IpNet
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet, ip_text
from hikscan.passive.gate import Lane, PayloadGate
from hikscan.passive.locality import Locality
from hikscan.passive.naming import NameBook
from hikscan.passive.sources import FALLBACK, SOURCES, Source
from hikscan.passive.sources.base import TCP, UDP

# Addresses remembered as text and as internal or not (caches: past the bound they are worked out again
# each time, with the same answer): ~140 bytes an address over the three tables, ≤ ~2.2 MiB.
MAX_CACHE = 16_384
# A server's banner does not change between responses, nor a client's Host header between requests:
# after this many parses per (host, protocol) the rest are skipped. Keeps the hot path fast on
# captures that are mostly camera streams and NVR polling. Per (client, server) kinds are counted in
# the pair's NameBook cell; per server host here, for at most MAX_HOST_COUNTS hosts (~100 bytes each);
# past that a new host is always parsed and counted in `parse_counts_dropped`.
PARSES_PER_HOST = 8
MAX_HOST_COUNTS = 16_384


class Inspector:
    """Turns payloads into names, device evidence and signature hits; tracks which addresses are internal."""

    def __init__(
        self,
        rules: RuleSet,
        names: NameBook,
        attribution: Attribution,
        local_nets: Iterable[IpNet] = (),
    ) -> None:
        self.rules = rules
        self.names = names
        self.attribution = attribution
        self.policy = rules.policy
        self.locality = Locality(rules.policy, local_nets)
        names.external = lambda server: not self.is_internal(server)  # the report names external servers only
        self._learnt_prefixes = self.locality.prefixes  # the same set, filled as addresses are learnt
        self.malformed: dict[str, int] = {}
        self._text: dict[bytes, str] = {}
        self._internal: dict[str, bool] = {}
        self._internal_packed: dict[bytes, bool] = {}
        self._parses: dict[str, dict[bytes, int]] = {}  # worth_parsing's per-host counts: kind → host → n
        self._host_counts = 0
        self.parse_counts_dropped = 0
        self.sources: tuple[Source, ...] = tuple(make() for make in SOURCES)
        self.fallback: Source = FALLBACK()
        self._udp_ports: dict[int, Source] = {}
        for source in self.sources:
            for port in source.ports if source.proto == UDP else ():
                self._udp_ports.setdefault(port, source)
        # TCP sources by the payload's first byte, so binary streams (RTP, TLS records) skip them all.
        self._tcp_first: dict[int, tuple[Source, ...]] = {}
        for source in self.sources:
            if source.proto == TCP and not source.ports:
                for byte in source.first_bytes:
                    self._tcp_first[byte] = (*self._tcp_first.get(byte, ()), source)

    def gate(self) -> PayloadGate | None:
        """The payloads on_payload ignores, as tables (passive.gate); None if the fallback cannot say."""
        scan_tables = getattr(self.fallback, "scan_tables", None)
        if scan_tables is None:
            return None
        tables, max_scan = scan_tables(self.rules)
        udp = Lane.of(call_ports=self._udp_ports, scan_first=tables[UDP][0], scan_rows=tables[UDP][1])
        tcp = Lane.of(call_first=self._tcp_first, scan_first=tables[TCP][0], scan_rows=tables[TCP][1])
        return PayloadGate(tcp, udp, max_scan, self._learnt_prefixes)

    # -- addresses -----------------------------------------------------------------------------
    def text(self, packed: bytes) -> str:
        text = self._text.get(packed)
        if text is None:
            text = ip_text(packed)
            if len(self._text) < MAX_CACHE:
                self._text[packed] = text
        return text

    def is_internal(self, ip: str) -> bool:
        internal = self._internal.get(ip)
        if internal is None:
            internal = self.locality.is_local(ip)
            if len(self._internal) < MAX_CACHE:
                self._internal[ip] = internal
        return internal

    def is_internal_packed(self, packed: bytes) -> bool:
        """is_internal by the packed address: no text conversion for the many packets that stop here."""
        internal = self._internal_packed.get(packed)
        if internal is None:
            internal = self.is_internal(self.text(packed))
            if len(self._internal_packed) < MAX_CACHE:
                self._internal_packed[packed] = internal
        return internal

    def learn_local(self, ip: str, why: str) -> None:
        """The traffic shows ip on this LAN (a broadcast sender, a DHCP lease): local from now on."""
        if self.locality.learn(ip, why):
            self._internal[ip] = True
            self._internal_packed.clear()

    def worth_parsing(self, a: bytes, b: bytes, kind: str) -> bool:
        """True for the first PARSES_PER_HOST payloads of `kind` from a (to b, when b is given and external:
        the count lives in the pair's NameBook cell; to an internal b, whose names are not kept, per a)."""
        if b and not self.is_internal_packed(b):
            return self.names.count_parse(self.text(a), self.text(b), kind, PARSES_PER_HOST)
        counts = self._parses.get(kind)
        if counts is None:
            counts = self._parses[kind] = {}
        seen = counts.get(a, 0)
        if seen >= PARSES_PER_HOST:
            return False
        if seen:
            counts[a] = seen + 1
        elif self._host_counts < MAX_HOST_COUNTS:
            counts[a] = 1
            self._host_counts += 1
        else:
            self.parse_counts_dropped += 1
        return True

    @property
    def signature_hits(self) -> dict[tuple[str, str], str]:
        """(client, server) → the cloud signature their bytes matched (a view of the NameBook cells)."""
        return self.names.signatures

    def bad(self, what: str) -> None:
        self.malformed[what] = self.malformed.get(what, 0) + 1

    # -- the per-payload entry point -------------------------------------------------------------
    def on_payload(self, pkt: Packet) -> None:
        """Hand the payload to the source that claims it. passive.gate describes this dispatch as tables (for
        the compiled loop, which skips what it ignores): a change here is a change there, and
        tests/passive/test_gate.py holds the two to the same answers."""
        if pkt.frag == 1:
            return  # the first fragment of a datagram: inspected whole once reassembled (frag 3)
        dst_mac = pkt.dst_mac
        if (dst_mac and dst_mac[0] & 1) or self._learnt_prefixes:
            self._place_sender(pkt, dst_mac)
        proto = pkt.proto
        if proto == UDP:
            ports = self._udp_ports
            source = ports.get(pkt.sport) or ports.get(pkt.dport)
            if source is not None:
                source.inspect(self, pkt, pkt.payload)
                return
        elif proto == TCP:
            payload = pkt.payload
            candidates = self._tcp_first.get(payload[0])
            if candidates:
                head = bytes(payload[:8])
                for source in candidates:
                    if source.accepts(head):
                        source.inspect(self, pkt, payload)
                        return
        else:
            return
        self.fallback.inspect(self, pkt, pkt.payload)

    def _place_sender(self, pkt: Packet, dst_mac: bytes | None) -> None:
        """A sender not yet local is learnt local when its frame is broadcast or multicast (such frames stay
        on their segment), or when it sits in a learnt /24 with a MAC that sends from no other address."""
        src = pkt.src
        internal = self._internal_packed.get(src)
        if internal is None:
            internal = self.is_internal_packed(src)
        if not internal:
            if dst_mac and dst_mac[0] & 1:
                self.learn_local(self.text(src), "sent a broadcast or multicast frame")
            elif self.locality.neighbour(src, pkt.src_mac):
                self.learn_local(self.text(src), "in a local /24, one address per MAC")
