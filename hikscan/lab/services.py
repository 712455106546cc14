"""HTTP, RTSP and port-8000 replies of the lab devices (pure functions, no sockets).

Header layouts follow the nmap-service-probes match lines and Rapid7 recog examples in
`../shared/data/active/`; pages and favicons are placeholders (see templates/PROVENANCE.md).
"""

from __future__ import annotations

import email.utils
import os
import time

from hikscan.lab.profiles import DeviceProfile

HIK_LOGIN = "/doc/page/login.asp?_"
# Port 8000: what nmap's `ipcam` (NULL probe: the device speaks after silence) and `hik-connect`
# (any bytes sent) match lines expect.
SDK8000_ON_SILENCE = bytes.fromhex("000000100000001e0000001e00000000")
SDK8000_ON_DATA = bytes.fromhex("000000100000000d0000000d00000000")


def http_server(p: DeviceProfile) -> str | None:
    if p.http_server:
        return p.http_server
    if p.kind == "hikvision":
        return "Hikvision-Webs" if p.firmware.startswith("V5.2") else "App-webs/"
    return {
        "hikvision-oem": "DNVRS-Webs",
        "axis": "Apache/2.4.57 (Unix) OpenSSL/1.1.1w",
        "nginx": f"nginx/{p.firmware}",
        "windows": "Microsoft-HTTPAPI/2.0",
    }.get(p.kind)  # fmt: skip  (Dahua web servers send no Server header)


def realm(p: DeviceProfile) -> str:
    """Digest realm of the device's HTTP/ISAPI and RTSP authentication."""
    if p.realm:
        return p.realm
    if p.kind.startswith("hikvision"):
        return f"IP Camera({p.serial[-5:]})" if not p.model.startswith("DS-76") else "Hikvision"
    if p.kind == "axis":
        return "AXIS_" + p.mac.replace(":", "").upper()
    if p.kind.startswith("dahua"):
        return f"Login to {p.serial}"
    return "device"


def favicon(p: DeviceProfile) -> bytes:
    """Placeholder favicon bytes per family (NOT the real icons: their Shodan mmh3 will differ)."""
    family = p.kind.split("-")[0].encode()
    return b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + family.ljust(32, b"\x00") * 8


def _nonce() -> str:
    return os.urandom(16).hex()


def _response(
    status: str, headers: list[tuple[str, str]], body: bytes = b"", version: str = "HTTP/1.1"
) -> bytes:
    head = f"{version} {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def _html(title: str, text: str = "") -> bytes:
    return (
        "<!DOCTYPE html>\r\n<html>\r\n<head>\r\n"
        f"<title>{title}</title>\r\n</head>\r\n<body>{text}</body>\r\n</html>\r\n"
    ).encode()


def http_reply(p: DeviceProfile, method: str, path: str) -> bytes:
    """The whole HTTP response (head and body) for one request; the connection then closes."""
    server = http_server(p)
    date = email.utils.formatdate(usegmt=True)
    common = [("Date", time.asctime(time.gmtime()))] if server == "Hikvision-Webs" else [("Date", date)]
    if server:
        common = (
            [("Server", server), *common] if server == "Hikvision-Webs" else [*common, ("Server", server)]
        )
    common.append(("Connection", "close"))
    route = path.split("?", 1)[0]

    def page(
        status: str, body: bytes, ctype: str = "text/html", extra: tuple[tuple[str, str], ...] = ()
    ) -> bytes:
        headers = [*common, *extra, ("Content-Type", ctype), ("Content-Length", str(len(body)))]
        return _response(status, headers, b"" if method == "HEAD" else body)

    if p.kind.startswith("hikvision"):
        if route == "/":
            return page("302 Found", b"", extra=(("Location", HIK_LOGIN),))
        if route in ("/doc/page/login.asp", "/index.asp"):
            return page("200 OK", _html("", '<script>window.location.href="/doc/page/login.asp?_"</script>'))
        if route == "/favicon.ico":
            return page("200 OK", favicon(p), "image/x-icon")
        if route.startswith("/ISAPI/") or route.startswith("/SDK/"):
            auth = f'Digest qop="auth", realm="{realm(p)}", nonce="{_nonce()}", stale="FALSE"'
            return page(
                "401 Unauthorized", _html("Document Error: Unauthorized"), extra=(("WWW-Authenticate", auth),)
            )
        return page("404 Not Found", _html("Document Error: Not Found"))
    if p.kind.startswith("dahua"):
        if route in ("/", "/index.html"):
            body = b"\xef\xbb\xbf" + _html("WEB SERVICE")
            return _response(
                "200 OK",
                [("CONNECTION", "close"), ("CONTENT-LENGTH", str(len(body))), ("CONTENT-TYPE", "text/html")],
                b"" if method == "HEAD" else body,
            )
        if route == "/favicon.ico":
            return page("200 OK", favicon(p), "image/x-icon")
        return page("404 Not Found", b"")
    if p.kind == "axis":
        if route == "/favicon.ico":
            return page("200 OK", favicon(p), "image/x-icon")
        auth = f'Digest realm="{realm(p)}", nonce="{_nonce()}", algorithm=MD5, qop="auth"'
        return page("401 Unauthorized", _html("401 Unauthorized"), extra=(("WWW-Authenticate", auth),))
    if p.kind == "nginx":
        if route in ("/", "/index.html"):
            return page("200 OK", _html("Welcome to nginx!", "<h1>Welcome to nginx!</h1>"))
        return page("404 Not Found", _html("404 Not Found", "<center>nginx</center>"))
    return page("503 Service Unavailable", _html("Service Unavailable"), "text/html; charset=us-ascii")


def rtsp_reply(p: DeviceProfile, method: str, cseq: str | None) -> bytes:
    """RTSP/1.0 reply: OPTIONS is answered, anything else asks for credentials."""
    lines = ["RTSP/1.0 401 Unauthorized"]
    if cseq:
        lines.append(f"CSeq: {cseq}")
    if method == "OPTIONS" and not p.kind.startswith("hikvision"):
        lines[0] = "RTSP/1.0 200 OK"
        lines.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, PAUSE, GET_PARAMETER, SET_PARAMETER")
    elif p.kind.startswith("hikvision"):
        lines.append(f'WWW-Authenticate: Digest realm="{realm(p)}", nonce="{_nonce()}", stale="FALSE"')
        lines.append(f'WWW-Authenticate: Basic realm="{realm(p)}"')
        lines.append(f"Date:  {time.strftime('%a, %b %d %Y %H:%M:%S GMT', time.gmtime())}")
    else:
        lines.append(f'WWW-Authenticate: Digest realm="{realm(p)}", nonce="{_nonce()}"')
    if p.kind == "dahua":
        lines.append("Server: Dahua Rtsp Server")
    elif p.kind == "dahua-oem":
        lines.append("Server: Rtsp Server/3.0")
    elif p.kind == "axis":
        lines.append("Server: GStreamer RTSP server")
    if p.kind.startswith("dahua") or p.kind == "axis":
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
