"""SSDP (UDP 1900): a LAN device's NOTIFY or M-SEARCH response (`ssdp.server|usn|nt|location`)."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import UDP, Context, Payload, host_evidence
from hikscan.protocols import ssdp


class SsdpSource:
    name = "ssdp"
    proto = UDP
    ports = frozenset({1900})
    first_bytes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        self._seen: dict[bytes, None] = {}

    def accepts(self, head: bytes) -> bool:
        return True

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if not ctx.is_internal_packed(pkt.src):
            return
        key = bytes(pkt.src) + bytes(payload)
        if key in self._seen:
            return  # announcements repeat every few minutes, byte for byte
        if len(self._seen) >= 50_000:
            self._seen.clear()
        self._seen[key] = None
        try:
            msg = ssdp.parse_ssdp(payload)
        except MalformedInput:
            ctx.bad("ssdp")
            return
        host_evidence(ctx, ctx.text(pkt.src), ssdp.evidence(msg, source="capture"))


SOURCE = SsdpSource
