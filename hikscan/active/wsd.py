"""WS-Discovery (typed multicast Probe on UDP 3702) and unauthenticated ONVIF SOAP by unicast.

The multicast probe sends two typed Probes (dn:NetworkVideoTransmitter, tds:Device: some cameras
answer only typed ones), parses the ProbeMatches, then asks each device that answered for
GetSystemDateAndTime (unauthenticated by the ONVIF spec) and GetDeviceInformation (many firmwares
answer it without login). The unicast probe does the same SOAP calls for routed targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

from hikscan.active.base import (
    Kind,
    Observation,
    ProbeContext,
    classify_failure,
    hostile,
    multicast_round,
    register,
)
from hikscan.active.net import MAX_HEAD
from hikscan.active.web import USER_AGENT, body_of, looks_like_xml, response_complete
from hikscan.errors import MalformedInput
from hikscan.protocols import onvif, wsdiscovery
from hikscan.protocols.sadp import normalise_mac
from hikscan.report.model import Evidence

_MAX_SOAP = MAX_HEAD + onvif.MAX_ONVIF_BYTES


def build_soap_post(host: str, path: str, envelope: bytes) -> bytes:
    """HTTP POST carrying a read-only ONVIF SOAP request (no WS-Security header, no credentials)."""
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"bad path {path!r}")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Content-Type: {onvif.CONTENT_TYPE}\r\nContent-Length: {len(envelope)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + envelope


def onvif_calls(ctx: ProbeContext, ip: str, port: int, path: str) -> list[Evidence]:
    """GetSystemDateAndTime then GetDeviceInformation against one device service; evidence of both."""
    out: list[Evidence] = []
    host = ip if port == 80 else f"{ip}:{port}"
    calls = (
        ("GetSystemDateAndTime", onvif.build_get_system_date_and_time()),
        ("GetDeviceInformation", onvif.build_get_device_information()),
    )
    for op, envelope in calls:
        if not ctx.send_ok():
            break
        ctx.count("onvif.requests")
        ex = ctx.tcp(ip, port, build_soap_post(host, path, envelope), _MAX_SOAP, response_complete)
        if not ex.connected:
            break
        if ex.oversized:
            out.append(hostile("onvif", f"onvif: {op} reply over {_MAX_SOAP // 1024} KiB"))
            break
        body = body_of(ex.data)
        if not ex.data.startswith(b"HTTP/") or not body.strip():
            if ex.timed_out and ex.data:
                out.append(hostile("onvif", f"onvif: {op} reply incomplete at timeout"))
            continue
        if not looks_like_xml(ex.data):
            break  # a web page (an HTML 404): no ONVIF service here
        try:
            if op == "GetSystemDateAndTime":
                sdt = onvif.parse_system_date_and_time(body)
                if sdt.fault is None:
                    out.append(Evidence("onvif", "onvif.answers", op))
                    if sdt.date_time_type:
                        out.append(Evidence("onvif", "onvif.DateTimeType", sdt.date_time_type))
                    if sdt.utc is not None:
                        out.append(Evidence("onvif", "onvif.UTCDateTime", sdt.utc.isoformat()))
            else:
                info = onvif.parse_device_information(body)
                out += onvif.evidence(info)
        except MalformedInput as exc:
            out.append(classify_failure("onvif", "onvif", exc))
    return out


def _xaddr_target(xaddr: str, src: str) -> tuple[int, str] | None:
    """(port, path) of a device-service XAddr on the replying host itself; None for anything else."""
    try:
        parts = urlsplit(xaddr)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname != src:
        return None
    return port, parts.path or onvif.DEVICE_SERVICE_PATH


@register
class WsDiscoveryProbe:
    name: ClassVar[str] = "wsd"
    kind: ClassVar[Kind] = "multicast"
    ports: ClassVar[tuple[int, ...]] = ()

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        payloads = [wsdiscovery.build_probe(wsdiscovery.NVT), wsdiscovery.build_probe(wsdiscovery.DEVICE)]
        xaddrs: dict[str, tuple[int, str]] = {}
        group, port = wsdiscovery.WSD_GROUP, wsdiscovery.WSD_PORT
        for src, data, extra in multicast_round(ctx, group, port, payloads, "wsd", listen_group=False):
            if data is None:
                yield Observation(src, None, extra, self.name)
                continue
            try:
                matches = wsdiscovery.parse_probe_matches(data)
            except MalformedInput as exc:
                yield Observation(src, None, [classify_failure("wsdiscovery", "wsdiscovery", exc)], self.name)
                continue
            for match in matches:
                if match.kind == "Bye":
                    continue
                mac = normalise_mac(match.mac) if match.mac else None
                yield Observation(src, mac, wsdiscovery.evidence(match), self.name)
                for xaddr in match.xaddrs:
                    target = _xaddr_target(xaddr, src)
                    if target and src not in xaddrs:
                        xaddrs[src] = target
        for src, (sport, path) in xaddrs.items():
            if ctx.deadline.expired:
                break
            if ctx.scope(src):
                ev = onvif_calls(ctx, src, sport, path)
                if ev:
                    yield Observation(src, None, ev, "onvif")


@register
class OnvifProbe:
    """ONVIF by unicast, for routed subnets and devices that ignore multicast."""

    name: ClassVar[str] = "onvif"
    kind: ClassVar[Kind] = "unicast"
    ports: ClassVar[tuple[int, ...]] = (80,)

    def __init__(self, port: int = 80) -> None:
        self.port = port

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        for ip in targets:
            if ctx.is_open(ip, self.port):
                ev = onvif_calls(ctx, ip, self.port, onvif.DEVICE_SERVICE_PATH)
                if ev:
                    yield Observation(ip, None, ev, self.name)
