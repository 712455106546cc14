"""RTSP responses (any TCP port): the server's banner and realm, and `rtsp.serves` when a LAN host serves
RTSP to another LAN host (a camera or recorder streaming to a viewer or an NVR)."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import TCP, Context, Payload
from hikscan.protocols import rtsp
from hikscan.report.model import Evidence

SERVES_LAN = Evidence("capture", "rtsp.serves", "lan")  # frozen: one object serves every reply


class RtspSource:
    name = "rtsp"
    proto = TCP
    ports: frozenset[int] = frozenset()
    first_bytes = frozenset(b"R")

    def accepts(self, head: bytes) -> bool:
        return head.startswith(b"RTSP/1.")

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if not ctx.worth_parsing(pkt.src, b"", "rtsp") or not ctx.is_internal_packed(pkt.src):
            return
        server = ctx.text(pkt.src)
        items = [SERVES_LAN] if ctx.is_internal_packed(pkt.dst) else []
        try:
            items += rtsp.response_evidence(payload, source="capture")
        except MalformedInput:
            ctx.bad("rtsp")
        ctx.attribution.add(server, items)


SOURCE = RtspSource
