"""HTTP/HTTPS banner probe: Server header, realm, landing-page redirect and title, favicon mmh3+MD5,
TLS certificate subject, and the few ISAPI endpoints that answer without a login.

Only GET requests, never an Authorization header; one same-host redirect is followed (the
Hikvision landing page redirects to /doc/page/login.asp).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

from hikscan.active.base import Kind, Observation, ProbeContext, classify_failure, hostile, register
from hikscan.active.net import MAX_BODY, MAX_HEAD, Exchange, cert_subject
from hikscan.errors import MalformedInput
from hikscan.protocols import httpmsg as httpp
from hikscan.protocols.safexml import local, parse_xml
from hikscan.report.model import Evidence

USER_AGENT = "hikscan"
# Hikvision ISAPI resources that firmware serves before login (activation state, capabilities).
ISAPI_PATHS = ("/SDK/activateStatus", "/ISAPI/Security/extern/capabilities")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d{1,9})\s*$")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:[ \t]*[^\r\n]*chunked")
_STATUS = re.compile(rb"(HTTP|RTSP)/\d\.\d {1,3}(\d{3})")
_MAX_ISAPI_FIELDS = 64


def build_get(host: str, path: str) -> bytes:
    if not path.startswith("/") or any(c in path for c in " \r\n"):
        raise ValueError(f"bad path {path!r}")
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def response_complete(data: bytes | bytearray) -> bool:
    """Framing only: is this HTTP or RTSP reply whole? True once the head is in and then
    - with Content-Length: that many body bytes have arrived;
    - chunked: the last (zero-length) chunk has arrived;
    - without either: at once for RTSP (RFC 2326: no Content-Length means no body), for 1xx, 204
      and 304, and for a 401 (a device's login challenge: cameras keep such connections open and
      send no body, so waiting for the close would cost the whole timeout on every request).
    Any other HTTP reply without a length runs to the connection's close (False here).
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end]
    m = _CONTENT_LENGTH.search(head)
    if m is not None:
        return len(data) - end - 4 >= int(m.group(1))
    if _CHUNKED.search(head):
        return data.endswith(b"\r\n0\r\n\r\n") or data[end + 4 :].startswith(b"0\r\n\r\n")
    status = _STATUS.match(head)
    if status is None:
        return False
    code = int(status.group(2))
    return status.group(1) == b"RTSP" or code < 200 or code in (204, 304, 401)


def looks_like_xml(data: bytes) -> bool:
    """Framing only: an XML/SOAP reply rather than a web page (HTML declares a DTD we would refuse)."""
    end = data.find(b"\r\n\r\n")
    ctype = re.search(rb"(?im)^content-type:\s*([^\r\n;]{1,100})", data[: max(end, 0)])
    if ctype and b"html" in ctype.group(1).lower():
        return False
    start = body_of(data).lstrip()[:64].lower()
    return not (start.startswith(b"<!doctype html") or start.startswith(b"<html"))


def body_of(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data[end + 4 :] if end >= 0 else b""


@register
class HttpProbe:
    name: ClassVar[str] = "http"
    kind: ClassVar[Kind] = "unicast"
    ports: ClassVar[tuple[int, ...]] = (80, 443)

    def __init__(self, http_port: int = 80, https_port: int = 443) -> None:
        self.http_port = http_port
        self.https_port = https_port

    def run(self, ctx: ProbeContext, targets: list[str]) -> Iterator[Observation]:
        for ip in targets:
            ev: list[Evidence] = []
            if ctx.is_open(ip, self.http_port):
                ev += self._site(ctx, ip, self.http_port, tls=False)
            if ctx.is_open(ip, self.https_port):
                ev += self._site(ctx, ip, self.https_port, tls=True)
            if ev:
                yield Observation(ip, None, ev, self.name)

    def _get(self, ctx: ProbeContext, ip: str, port: int, path: str, tls: bool) -> Exchange | None:
        if not ctx.send_ok():
            return None
        ctx.count("http.requests")
        host = ip if port in (80, 443) else f"{ip}:{port}"
        return ctx.tcp(ip, port, build_get(host, path), MAX_HEAD + MAX_BODY, response_complete, tls)

    def _parse(self, ex: Exchange, src: str, out: list[Evidence]) -> httpp.HttpResponse | None:
        if ex.oversized:
            out.append(hostile(src, f"{src}: reply over {(MAX_HEAD + MAX_BODY) // 1024} KiB"))
            return None
        if ex.timed_out and ex.data and b"\r\n\r\n" not in ex.data:
            out.append(hostile(src, f"{src}: head still incomplete after the timeout ({len(ex.data)} bytes)"))
            return None
        if not ex.data:
            return None
        try:
            return httpp.parse_response(ex.data)
        except MalformedInput as exc:
            out.append(classify_failure(src, "http", exc))
            return None

    def _site(self, ctx: ProbeContext, ip: str, port: int, tls: bool) -> list[Evidence]:
        src = "https" if tls else "http"
        out: list[Evidence] = []
        ex = self._get(ctx, ip, port, "/", tls)
        if ex is None or not ex.connected:
            return out
        if tls:
            subject = cert_subject(ex.peer_cert)
            if subject:
                out.append(Evidence(src, "tls.subject", subject))
        resp = self._parse(ex, src, out)
        if resp is None:
            return out
        out += httpp.evidence(resp, source=src)
        follow = _same_host_path(resp.location, ip) if 300 <= resp.status < 400 else None
        if follow and follow != "/":
            ex2 = self._get(ctx, ip, port, follow, tls)
            resp2 = self._parse(ex2, src, out) if ex2 is not None else None
            if resp2 is not None:
                out += [e for e in httpp.evidence(resp2, source=src) if e not in out]
        fav = self._get(ctx, ip, port, "/favicon.ico", tls)
        if fav is not None and fav.data.startswith(b"HTTP/") and not fav.oversized:
            head = self._parse(fav, src, out)
            body = body_of(fav.data)
            if head is not None and head.status == 200 and body:
                out.append(Evidence(src, "http.favicon_mmh3", str(httpp.favicon_mmh3(body))))
                md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()  # recog's favicon key
                out.append(Evidence(src, "http.favicon_md5", md5))
        if not tls:
            for path in ISAPI_PATHS:
                out += self._isapi(ctx, ip, port, path, src)
        return out

    def _isapi(self, ctx: ProbeContext, ip: str, port: int, path: str, src: str) -> list[Evidence]:
        out: list[Evidence] = []
        ex = self._get(ctx, ip, port, path, False)
        if ex is None or not ex.connected:
            return out
        resp = self._parse(ex, src, out)
        if resp is None or resp.status != 200:
            return out
        body = body_of(ex.data)
        if not body.lstrip().startswith(b"<") or not looks_like_xml(ex.data):
            return out
        try:
            root = parse_xml(body)
        except MalformedInput as exc:
            return [*out, classify_failure(src, "isapi", exc)]
        out.append(Evidence(src, "isapi.endpoint", f"{path} {local(root.tag)}"))
        for el in list(root.iter())[1 : _MAX_ISAPI_FIELDS + 1]:
            name = local(el.tag)
            text = (el.text or "").strip()
            if name and len(el) == 0 and text:
                out.append(Evidence(src, f"isapi.{name}", text[:256]))
        return out


def _same_host_path(location: str | None, ip: str) -> str | None:
    """The path of a redirect that stays on this host; None for anything that leaves it."""
    if not location:
        return None
    parts = urlsplit(location.strip())
    if parts.scheme and parts.scheme not in ("http", "https"):
        return None
    if parts.hostname and parts.hostname != ip:
        return None
    path = parts.path or "/"
    if not path.startswith("/") or any(c in path for c in " \r\n") or len(path) > 512:
        return None
    return path + (f"?{parts.query}" if parts.query else "")
