"""RTSP: OPTIONS and DESCRIBE requests (read-only) and the response head (Server, realm, Public)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hikscan.errors import MalformedInput
from hikscan.protocols import httpmsg
from hikscan.report.model import Evidence

USER_AGENT = "hikscan"
_URL = re.compile(r"^rtsp://[\x21-\x7e]{1,2000}$")


def _request(method: str, url: str, cseq: int, extra: str = "") -> bytes:
    if url != "*" and not _URL.match(url):
        raise ValueError(f"not an rtsp:// URL without spaces or control characters: {url!r}")
    if not 0 <= cseq < 2**31:
        raise ValueError("CSeq out of range")
    head = f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: {USER_AGENT}\r\n{extra}\r\n"
    return head.encode("ascii")


def build_options(url: str, cseq: int = 1) -> bytes:
    """OPTIONS request; cameras answer it (often with 401 and their realm) before any login."""
    return _request("OPTIONS", url, cseq)


def build_describe(url: str, cseq: int = 2) -> bytes:
    """DESCRIBE request for the SDP; without credentials this reveals the realm, never the stream."""
    return _request("DESCRIBE", url, cseq, "Accept: application/sdp\r\n")


@dataclass(frozen=True, slots=True)
class RtspResponse:
    status: int
    reason: str
    server: str | None
    realms: tuple[str, ...]
    auth: tuple[httpmsg.AuthChallenge, ...]
    public: tuple[str, ...]
    cseq: int | None
    headers: tuple[tuple[str, str], ...]

    @property
    def realm(self) -> str | None:
        return self.realms[0] if self.realms else None


def parse_rtsp_response(data: bytes | memoryview) -> RtspResponse:
    """Parse an RTSP/1.0 response head; MalformedInput when it is not one."""
    resp = httpmsg.parse_response(data, protocols=("RTSP",))
    public = resp.header("public")
    methods = tuple(m.strip().upper() for m in public.split(",") if m.strip()) if public else ()
    cseq_text = _cseq(resp.headers)
    return RtspResponse(
        status=resp.status,
        reason=resp.reason,
        server=resp.server,
        realms=tuple(c.realm for c in resp.auth if c.realm is not None),
        auth=resp.auth,
        public=methods,
        cseq=int(cseq_text) if cseq_text else None,
        headers=resp.headers,
    )


def _cseq(headers: tuple[tuple[str, str], ...]) -> str:
    cseq_text = (httpmsg.header(headers, "cseq") or "").split(" ", 1)[0]
    if cseq_text and not cseq_text.isdigit():
        raise MalformedInput(f"RTSP: bad CSeq {cseq_text[:20]!r}")
    return cseq_text


def evidence(resp: RtspResponse, source: str = "rtsp") -> list[Evidence]:
    """`rtsp.server` and one `rtsp.realm` per challenge."""
    return _evidence(resp.server, resp.auth, source)


def response_evidence(data: bytes | memoryview, source: str = "rtsp") -> list[Evidence]:
    """evidence(parse_rtsp_response(data)), with the same checks and MalformedInput, without building the
    response (the passive path reads thousands of RTSP replies and wants only these)."""
    _status, headers, _body = httpmsg.parse_status_head(data, protocols=("RTSP",))
    _cseq(headers)
    return _evidence(httpmsg.header(headers, "server"), httpmsg.parse_challenges(headers), source)


def _evidence(server: str | None, auth: tuple[httpmsg.AuthChallenge, ...], source: str) -> list[Evidence]:
    out = [Evidence(source, "rtsp.server", server)] if server else []
    for c in auth:
        if c.realm:
            out.append(Evidence(source, "rtsp.realm", c.realm, raw=f"{c.scheme} {c.realm}"))
    return out
