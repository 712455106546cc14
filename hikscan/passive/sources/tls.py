"""TLS ClientHello (any TCP port): the SNI names the server for the client, and is evidence about a LAN
client (`tls.sni`: a host contacting a camera vendor's cloud), kept as dns.query is (base.NameFilter)."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import TCP, Context, NameFilter, Payload, host_evidence
from hikscan.protocols import tls
from hikscan.report.model import Evidence


class TlsSource:
    name = "tls"
    proto = TCP
    ports: frozenset[int] = frozenset()
    first_bytes = frozenset({0x16})

    def __init__(self) -> None:
        self._telling: NameFilter | None = None

    def accepts(self, head: bytes) -> bool:
        return head[:1] == b"\x16"

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if not tls.is_client_hello(payload) or not ctx.worth_parsing(pkt.src, pkt.dst, "tls"):
            return
        try:
            sni = tls.parse_client_hello_sni(payload, allow_partial=True)
        except MalformedInput:
            ctx.bad("tls")
            return
        if sni:
            client = ctx.text(pkt.src)
            ctx.names.add_sni(client, ctx.text(pkt.dst), sni)
            name = sni.rstrip(".").lower()
            if self._telling is None or self._telling.rules is not ctx.rules:
                self._telling = NameFilter(ctx.rules, "tls.sni")
            if self._telling(name):
                host_evidence(ctx, client, [Evidence("capture", "tls.sni", name)])


SOURCE = TlsSource
