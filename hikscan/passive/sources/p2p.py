"""P2P and vendor-cloud protocols by their bytes (rules/signatures.yaml), on any port: the remote of a
LAN host is marked as that service, and the sender gets `p2p.protocol` when the signature says it is
the device itself (a CS2 device login, a Tuya broadcast, a miIO reply). The compiled signature tables
(`p2p.Matcher`) are asked first whether anything can match, so the many payloads no signature can
match cost no address look-ups."""

from __future__ import annotations

from hikscan.knowledge.rules import RuleSet
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import TCP, UDP, Context, Payload
from hikscan.protocols import p2p
from hikscan.protocols.p2p import MAX_SCAN

NO_PORTS: dict[int, p2p.Row] = {}
EMPTY_ROW: p2p.Row = ((),) * 256


class P2pSource:
    name = "p2p"
    proto = 0  # both transports: the fallback for payloads no other source claimed
    ports: frozenset[int] = frozenset()
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._matcher: p2p.Matcher | None = None

    def accepts(self, head: bytes) -> bool:
        return True

    def scan_tables(self, rules: RuleSet) -> tuple[dict[int, tuple[set[int], dict[int, set[int]]]], int]:
        """For the payload gate (passive.gate), per transport: the first bytes a port-less signature can
        start with, and per port a signature is bound to, those its signatures can start with; and the
        longest payload `inspect` looks at. What `Matcher.possible` reads, as sets."""
        matcher = p2p.matcher(rules.signatures)

        def first_bytes(row: p2p.Row) -> set[int]:
            return {b for b, candidates in enumerate(row) if candidates}

        tables = {
            proto: (
                first_bytes(matcher.free.get(proto, EMPTY_ROW)),
                {port: first_bytes(row) for port, row in matcher.bound.get(proto, NO_PORTS).items()},
            )
            for proto in (TCP, UDP)
        }
        return tables, MAX_SCAN

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        matcher = self._matcher
        if matcher is None or matcher.signatures is not ctx.rules.signatures:
            matcher = self._matcher = p2p.matcher(ctx.rules.signatures)
        if not payload or len(payload) > MAX_SCAN:
            return
        # Matcher.possible, inline: most payloads stop here.
        first, ports = payload[0], matcher.bound.get(pkt.proto, NO_PORTS)
        to, back = ports.get(pkt.dport), ports.get(pkt.sport)
        if not (
            matcher.free.get(pkt.proto, EMPTY_ROW)[first] or (to and to[first]) or (back and back[first])
        ):
            return
        src_in, dst_in = ctx.is_internal_packed(pkt.src), ctx.is_internal_packed(pkt.dst)
        if dst_in and not src_in:
            return  # inbound: the remote's bytes say nothing about a LAN device
        # Between two LAN hosts (unicast) only port-bound signatures are tried: the port-less ones are
        # Internet rendezvous protocols, and LAN streams are most of a CCTV capture.
        lan = dst_in and not (pkt.dst_mac and pkt.dst_mac[0] & 1)
        hit = matcher.match(pkt.proto, pkt.sport, pkt.dport, payload, any_port=not lan)
        if hit is None:
            return
        src = ctx.text(pkt.src)
        items = p2p.evidence(hit)
        if items and src_in:
            ctx.attribution.add(src, items)
        if not dst_in:
            ctx.names.add_signature(src, ctx.text(pkt.dst), hit.signature.id)


SOURCE = P2pSource
