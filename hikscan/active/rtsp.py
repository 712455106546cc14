"""RTSP probe: OPTIONS then DESCRIBE (no credentials) on TCP 554 for the Server header and realm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from hikscan.active.base import Kind, Observation, ProbeContext, classify_failure, hostile, register
from hikscan.active.net import MAX_HEAD
from hikscan.active.web import response_complete
from hikscan.errors import MalformedInput
from hikscan.protocols import rtsp as rtspp
from hikscan.report.model import Evidence


@register
class RtspProbe:
    name: ClassVar[str] = "rtsp"
    kind: ClassVar[Kind] = "unicast"
    ports: ClassVar[tuple[int, ...]] = (554,)

    def __init__(self, port: int = 554) -> None:
        self.port = port

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        for ip in targets:
            if not ctx.is_open(ip, self.port):
                continue
            url = f"rtsp://{ip}:{self.port}/"
            ev: list[Evidence] = []
            for request in (rtspp.build_options(url), rtspp.build_describe(url)):
                if not ctx.send_ok():
                    break
                ctx.count("rtsp.requests")
                ex = ctx.tcp(ip, self.port, request, MAX_HEAD, response_complete)
                if not ex.connected:
                    break
                if ex.oversized:
                    ev.append(hostile("rtsp", f"rtsp: reply over {MAX_HEAD // 1024} KiB"))
                    break
                if ex.timed_out and ex.data and b"\r\n\r\n" not in ex.data:
                    ev.append(hostile("rtsp", f"rtsp: head incomplete at timeout ({len(ex.data)} B)"))
                    break
                if not ex.data:
                    continue
                try:
                    resp = rtspp.parse_rtsp_response(ex.data)
                except MalformedInput as exc:
                    ev.append(classify_failure("rtsp", "rtsp", exc))
                    break
                ev += [e for e in rtspp.evidence(resp) if e not in ev]
            if ev:
                yield Observation(ip, None, ev, self.name)
