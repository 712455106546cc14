"""HTTP request and response heads (also the RTSP head, which has the same shape), and favicon hashes.

Heads are bounded (16 KiB) and decoded as Latin-1 so no byte sequence can fail to decode; lines may
end in CRLF or bare LF. Only the first 64 KiB of a body is searched for a <title>.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

import mmh3

from hikscan.errors import MalformedInput
from hikscan.report.model import Evidence

MAX_HEAD = 16 * 1024
MAX_HEADERS = 100
MAX_TITLE_SCAN = 64 * 1024
_TITLE_MAX = 256
_REQUEST_LINE = re.compile(r"^([A-Z][A-Z_-]{0,19}) (\S{1,8192}) (HTTP|RTSP)/(\d)\.(\d)$")
_STATUS_LINE = re.compile(r"^(HTTP|RTSP)/(\d)\.(\d) (\d{3})(?: (.*))?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_CHALLENGE = re.compile(r"^\s*([A-Za-z][\w-]*)(?:\s+(.*))?$")
_REALM = re.compile(r'(?i)(?:^|[\s,])realm\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_TITLE = re.compile(rb"(?is)<title[^>]{0,200}>(.{0,4096}?)</title\s*>")


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    """One WWW-Authenticate challenge: scheme ('Digest', 'Basic'...) and realm (None if absent)."""

    scheme: str
    realm: str | None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    protocol: str  # "HTTP" or "RTSP"
    version: str  # "1.1"
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def host(self) -> str | None:
        return self.header("host")

    @property
    def user_agent(self) -> str | None:
        return self.header("user-agent")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    protocol: str
    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    auth: tuple[AuthChallenge, ...]
    title: str | None

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def server(self) -> str | None:
        return self.header("server")

    @property
    def location(self) -> str | None:
        return self.header("location")

    @property
    def realm(self) -> str | None:
        """The first realm named by any challenge (Digest before Basic when both are sent)."""
        realms = [c.realm for c in self.auth if c.realm is not None]
        return realms[0] if realms else None


def header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """First value of a header, name case-insensitive."""
    want = name.lower()
    for key, value in headers:
        if key.lower() == want:
            return value
    return None


def split_head(data: bytes | memoryview, max_head: int = MAX_HEAD) -> tuple[list[str], bytes]:
    """Split a message into head lines (Latin-1) and the body bytes that follow the blank line.

    A payload without the blank line is taken as a head cut short by the capture (all lines, no body),
    provided it is within max_head.
    """
    raw = bytes(data[: max_head + 4])
    end, sep = raw.find(b"\r\n\r\n"), 4
    lf_end = raw.find(b"\n\n", 0, len(raw) if end == -1 else end + 1)  # only one before the CRLF end counts
    if lf_end != -1 and (end == -1 or lf_end < end):
        end, sep = lf_end, 2
    if end == -1:
        if len(data) > max_head:
            raise MalformedInput(f"head longer than {max_head} bytes")
        head, body = raw, b""
    elif end > max_head:
        raise MalformedInput(f"head longer than {max_head} bytes")
    else:
        head, body = raw[:end], bytes(data[end + sep : end + sep + MAX_TITLE_SCAN])
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    return lines, body


def parse_headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            key, value = headers[-1]
            headers[-1] = (key, f"{value} {line.strip()}")
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not _TOKEN.match(key):
            raise MalformedInput(f"bad header line {line[:60]!r}")
        if len(headers) >= MAX_HEADERS:
            raise MalformedInput(f"more than {MAX_HEADERS} headers")
        headers.append((key, value.strip()))
    return tuple(headers)


def parse_challenges(headers: tuple[tuple[str, str], ...]) -> tuple[AuthChallenge, ...]:
    """Challenges of every WWW-Authenticate header (one challenge per header, as cameras send)."""
    out = []
    for key, value in headers:
        if key.lower() != "www-authenticate":
            continue
        m = _CHALLENGE.match(value)
        if not m:
            continue
        realm_m = _REALM.search(m.group(2) or "")
        realm = None
        if realm_m:
            realm = realm_m.group(1) if realm_m.group(1) is not None else realm_m.group(2)
            realm = realm.replace('\\"', '"')
        out.append(AuthChallenge(m.group(1), realm))
    return tuple(out)


def parse_request(data: bytes | memoryview, protocols: tuple[str, ...] = ("HTTP",)) -> HttpRequest:
    """Parse a request head: request line, Host, User-Agent and the other headers."""
    m, headers = parse_request_head(data, protocols)
    return HttpRequest(
        method=m.group(1),
        path=m.group(2),
        protocol=m.group(3),
        version=f"{m.group(4)}.{m.group(5)}",
        headers=headers,
    )


def parse_request_head(
    data: bytes | memoryview, protocols: tuple[str, ...] = ("HTTP",)
) -> tuple[re.Match[str], tuple[tuple[str, str], ...]]:
    """The checked request line and the headers of a request (what parse_request reads; the passive path
    takes Host and User-Agent from here without building the request)."""
    lines, _ = split_head(data)
    m = _REQUEST_LINE.match(lines[0])
    if not m or m.group(3) not in protocols:
        raise MalformedInput(f"not a {'/'.join(protocols)} request line: {lines[0][:60]!r}")
    return m, parse_headers(lines[1:])


def parse_status_head(
    data: bytes | memoryview, protocols: tuple[str, ...] = ("HTTP",)
) -> tuple[re.Match[str], tuple[tuple[str, str], ...], bytes]:
    """The checked status line, the headers and the body start of a response (what parse_response reads)."""
    lines, body = split_head(data)
    m = _STATUS_LINE.match(lines[0])
    if not m or m.group(1) not in protocols:
        raise MalformedInput(f"not a {'/'.join(protocols)} status line: {lines[0][:60]!r}")
    return m, parse_headers(lines[1:]), body


def parse_response(data: bytes | memoryview, protocols: tuple[str, ...] = ("HTTP",)) -> HttpResponse:
    """Parse a response head: status, Server, WWW-Authenticate realms, Location, and the body <title>."""
    m, headers, body = parse_status_head(data, protocols)
    return HttpResponse(
        protocol=m.group(1),
        version=f"{m.group(2)}.{m.group(3)}",
        status=int(m.group(4)),
        reason=(m.group(5) or "").strip(),
        headers=headers,
        auth=parse_challenges(headers),
        title=extract_title(body),
    )


def extract_title(body: bytes) -> str | None:
    """Text of the first <title> in the body start, entity-decoded and whitespace-collapsed."""
    scan = body[:MAX_TITLE_SCAN]
    # Every match starts with "<title" in some case: find that first (a byte search, where the
    # case-insensitive pattern steps through every byte), and search from there; none, no title.
    start = scan.lower().find(b"<title")
    if start < 0:
        return None
    m = _TITLE.search(scan, start)
    if not m:
        return None
    raw = m.group(1)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = " ".join(html.unescape(text).split())
    return text[:_TITLE_MAX]


def favicon_mmh3(data: bytes) -> int:
    """Shodan's favicon hash: signed 32-bit MurmurHash3 of the MIME base64 text (newline every 76)."""
    return mmh3.hash(base64.encodebytes(data))


def favicon_evidence(data: bytes, source: str = "http") -> list[Evidence]:
    """`http.favicon_mmh3` (as a decimal string, the form Shodan queries use) of a favicon body."""
    return [Evidence(source, "http.favicon_mmh3", str(favicon_mmh3(data)))]


def request_evidence(req: HttpRequest, source: str = "http") -> list[Evidence]:
    """`http.host` and `http.user_agent` of a request."""
    out = []
    if req.host:
        out.append(Evidence(source, "http.host", req.host))
    if req.user_agent:
        out.append(Evidence(source, "http.user_agent", req.user_agent))
    return out


def evidence(resp: HttpResponse, source: str = "http", prefix: str = "http") -> list[Evidence]:
    """`http.server`, one `http.realm` per challenge with a realm, `http.location`, `http.title`."""
    return _evidence(resp.server, resp.auth, resp.location, resp.title, source, prefix)


def response_evidence(data: bytes | memoryview, source: str = "http") -> list[Evidence]:
    """evidence(parse_response(data)), with the same checks and MalformedInput, without building the
    response (the passive path reads thousands of replies and wants only these)."""
    _status, headers, body = parse_status_head(data)
    auth = parse_challenges(headers)
    title = extract_title(body)
    return _evidence(header(headers, "server"), auth, header(headers, "location"), title, source, "http")


def _evidence(
    server: str | None,
    auth: tuple[AuthChallenge, ...],
    location: str | None,
    title: str | None,
    source: str,
    prefix: str,
) -> list[Evidence]:
    out = []
    if server:
        out.append(Evidence(source, f"{prefix}.server", server))
    for challenge in auth:
        if challenge.realm is not None:
            raw = f"{challenge.scheme} {challenge.realm}"
            out.append(Evidence(source, f"{prefix}.realm", challenge.realm, raw=raw))
    if prefix == "http":
        if location:
            out.append(Evidence(source, "http.location", location))
        if title:
            out.append(Evidence(source, "http.title", title))
    return out
