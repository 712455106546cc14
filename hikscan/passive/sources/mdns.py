"""mDNS / DNS-SD (UDP 5353): names for the addresses a message announces, and what the sender says it is
(`mdns.service|instance|hostname|txt`)."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.naming import DnsCache
from hikscan.passive.sources.base import UDP, Context, Payload
from hikscan.passive.sources.dns import DnsSource

MAX_SEEN = 16_384  # announcements already filed, by sender and digest (~100 bytes each: ≤ ~1.6 MiB)


class MdnsSource:
    name = "mdns"
    proto = UDP
    ports = frozenset({5353})
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._names = DnsSource()  # answers name addresses exactly as unicast DNS does
        self._seen: set[bytes] = set()

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        digest = DnsCache.key(payload)  # the message past its id
        parsed = self._names.parse(ctx, payload, digest)
        if parsed is not None and parsed[0]:
            for asked, address, _ttl in parsed[2]:
                ctx.names.add_dns_answer(ctx.text(pkt.dst), asked, address)
        if pkt.sport != 5353 or not ctx.is_internal_packed(pkt.src):
            return  # legacy unicast queries and foreign senders say nothing about a LAN device
        key = pkt.src + digest
        if key in self._seen:
            return
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen.add(key)
        from hikscan.protocols import mdns  # dnspython, as for DNS: imported once a message is parsed

        try:
            announcement = mdns.parse_mdns(payload)
        except MalformedInput:
            ctx.bad("mdns")
            return
        ctx.attribution.add(ctx.text(pkt.src), mdns.evidence(announcement, source="capture"))


SOURCE = MdnsSource
