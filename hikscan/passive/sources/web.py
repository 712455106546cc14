"""HTTP (any TCP port): a request's Host names the server; a LAN client's own User-Agent is evidence
about it (`http.user_agent`); a LAN server's response head is evidence about the server."""

from __future__ import annotations

from hikscan.errors import MalformedInput
from hikscan.passive.decode import Packet
from hikscan.passive.sources.base import TCP, Context, Payload, host_evidence
from hikscan.protocols import httpmsg
from hikscan.report.model import Evidence

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"OPTIONS ", b"DELETE ", b"PATCH ")


class HttpRequestSource:
    name = "http-request"
    proto = TCP
    ports: frozenset[int] = frozenset()
    first_bytes = frozenset(m[0] for m in METHODS)

    def accepts(self, head: bytes) -> bool:
        return head.startswith(METHODS)

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if payload[0] == 0x4F and _rtsp_request(payload):
            return  # RTSP's OPTIONS (its request line ends RTSP/1.0): neither HTTP nor malformed
        if not ctx.worth_parsing(pkt.src, pkt.dst, "http-request"):
            return
        try:
            _line, headers = httpmsg.parse_request_head(payload)  # parse_request's checks, no request built
        except MalformedInput:
            ctx.bad("http")
            return
        client, server = ctx.text(pkt.src), ctx.text(pkt.dst)
        host = httpmsg.header(headers, "host")
        if host:
            ctx.names.add_http_host(client, server, host)
        user_agent = httpmsg.header(headers, "user-agent")
        if user_agent:
            host_evidence(ctx, client, [Evidence("capture", "http.user_agent", user_agent)])


class HttpResponseSource:
    name = "http"
    proto = TCP
    ports: frozenset[int] = frozenset()
    first_bytes = frozenset(b"H")

    def accepts(self, head: bytes) -> bool:
        return head.startswith(b"HTTP/1.")

    def inspect(self, ctx: Context, pkt: Packet, payload: Payload) -> None:
        if not ctx.worth_parsing(pkt.src, b"", "http") or not ctx.is_internal_packed(pkt.src):
            return
        try:
            items = httpmsg.response_evidence(payload, source="capture")
        except MalformedInput:
            ctx.bad("http")
            return
        ctx.attribution.add(ctx.text(pkt.src), items)


def _rtsp_request(payload: Payload) -> bool:
    """True when the first line (within 2 KiB) names RTSP as its protocol."""
    head = bytes(payload[:2048])
    end = head.find(b"\n")
    return b" RTSP/" in (head if end < 0 else head[:end])


REQUEST = HttpRequestSource
RESPONSE = HttpResponseSource
