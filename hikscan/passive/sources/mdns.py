"""mDNS / DNS-SD (UDP 5353): names for the addresses a message announces, and what the sender says it is
(`mdns.service|instance|hostname|txt`)."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import UDP, Context, Payload
from hikscan.passive.sources.dns import DnsSource


class MdnsSource:
    name = "mdns"
    proto = UDP
    ports = frozenset({5353})
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._names = DnsSource()  # answers name addresses exactly as unicast DNS does
        self._seen: dict[bytes, None] = {}

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        parsed = self._names.parse(ctx, payload)
        if parsed is not None and parsed[0]:
            for asked, address, _ttl in parsed[2]:
                ctx.names.add_dns_answer(ctx.text(pkt.dst), asked, address)
        if pkt.sport != 5353 or not ctx.is_internal_packed(pkt.src):
            return  # legacy unicast queries and foreign senders say nothing about a LAN device
        key = bytes(pkt.src) + bytes(payload[2:])
        if key in self._seen:
            return
        if len(self._seen) >= 50_000:
            self._seen.clear()
        self._seen[key] = None
        from hikscan.protocols import mdns  # dnspython, as for DNS: imported once a message is parsed

        try:
            announcement = mdns.parse_mdns(payload)
        except MalformedInput:
            ctx.bad("mdns")
            return
        ctx.attribution.add(ctx.text(pkt.src), mdns.evidence(announcement, source="capture"))


SOURCE = MdnsSource
