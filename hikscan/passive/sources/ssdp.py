"""SSDP (UDP 1900): a LAN device's NOTIFY or M-SEARCH response (`ssdp.server|usn|nt|location`)."""

from __future__ import annotations

import hashlib

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import UDP, Context, Payload, host_evidence
from hikscan.protocols import ssdp

MAX_SEEN = 16_384  # announcements already filed, by sender and digest (~100 bytes each: ≤ ~1.6 MiB)


class SsdpSource:
    name = "ssdp"
    proto = UDP
    ports = frozenset({1900})
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if not ctx.is_internal_packed(pkt.src):
            return
        key = pkt.src + hashlib.blake2b(payload, digest_size=16).digest()
        if key in self._seen:
            return  # announcements repeat every few minutes, byte for byte
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen.add(key)
        try:
            msg = ssdp.parse_ssdp(payload)
        except MalformedInput:
            ctx.bad("ssdp")
            return
        host_evidence(ctx, ctx.text(pkt.src), ssdp.evidence(msg, source="capture"))


SOURCE = SsdpSource
