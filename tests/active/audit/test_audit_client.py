"""The audit HTTP client against loopback responders: verbs, bounds, lockout and auth manners."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from active_helpers import Responder

from hikscan.active.audit.client import AuditClient, HostStop, check_request
from hikscan.active.audit.credentials import Credential, Secret
from hikscan.active.net import Deadline, RateLimiter

USER, PASSWORD = "auditor", "Loopback-Pass-51"
REALM = "IP Camera(C5293)"
CRED = Credential(Secret(USER), Secret(PASSWORD), "test")


def client(port: int, budget: float = 10.0, timeout: float = 2.0, max_bytes: int = 64 * 1024) -> AuditClient:
    return AuditClient("127.0.0.1", port, CRED, RateLimiter(0), Deadline(budget), timeout, max_bytes)


def challenge(body: bytes = b"") -> bytes:
    return (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest qop="auth", realm="'
        + REALM.encode()
        + b'", nonce="abc123", stale="FALSE"\r\nContent-Length: '
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


def digest_valid(request: bytes) -> bool:
    head = request.decode("latin-1")
    m = re.search(r"(?im)^Authorization: Digest (.*)$", head)
    if not m:
        return False
    p = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1)))
    method, uri = head.split(" ", 2)[:2]
    ha1 = hashlib.md5(f"{USER}:{REALM}:{PASSWORD}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    want = hashlib.md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}".encode()).hexdigest()
    return p.get("response") == want


def test_digest_round_trip_and_the_password_never_on_the_wire() -> None:
    with Responder(lambda r: ok(b"<x/>") if digest_valid(r) else challenge()) as srv:
        c = client(srv.port)
        assert c.get("/ISAPI/System/deviceInfo").status == 200
        assert c.get("/ISAPI/System/time").status == 200
    assert all(PASSWORD.encode() not in r for r in srv.requests)
    assert all(r.startswith(b"GET ") for r in srv.requests)
    # the challenge once, then the nonce is reused: 3 requests for 2 reads
    assert len(srv.requests) == 3


def test_one_attempt_then_stop_on_401() -> None:
    with Responder(lambda r: challenge()) as srv, pytest.raises(HostStop) as info:
        client(srv.port).get("/ISAPI/System/deviceInfo")
    assert info.value.kind == "auth_failed"
    assert len(srv.requests) == 2 and b"Authorization: Digest" in srv.requests[1]


def test_basic_only_device_never_gets_the_password() -> None:
    reply = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="x"\r\nContent-Length: 0\r\n\r\n'
    with Responder(lambda r: reply) as srv, pytest.raises(HostStop) as info:
        client(srv.port).get("/cgi-bin/magicBox.cgi?action=getDeviceType")
    assert info.value.kind == "refused"
    assert len(srv.requests) == 1 and b"Authorization" not in srv.requests[0]


def test_hikvision_lock_status_stops_with_the_wait() -> None:
    lock = (
        b'<?xml version="1.0" encoding="UTF-8"?><userCheck><statusValue>401</statusValue>'
        b"<lockStatus>lock</lockStatus><unlockTime>1795</unlockTime></userCheck>"
    )
    with Responder(lambda r: challenge(lock)) as srv, pytest.raises(HostStop) as info:
        client(srv.port).get("/ISAPI/System/deviceInfo")
    assert (info.value.kind, info.value.retry_after) == ("locked", 1795)
    assert len(srv.requests) == 1, "a locked account gets no credential at all"


@pytest.mark.parametrize("status", [b"403 Forbidden", b"429 Too Many Requests"])
def test_forbidden_and_too_many_back_off(status: bytes) -> None:
    with (
        Responder(
            lambda r: b"HTTP/1.1 " + status + b"\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n"
        ) as srv,
        pytest.raises(HostStop) as info,
    ):
        client(srv.port).get("/ISAPI/System/deviceInfo")
    assert info.value.kind == "locked" and info.value.retry_after == 60


def test_drip_feed_is_cut_at_the_host_deadline() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 100000\r\n\r\n<a>"
    chunks = [head] + [b"x"] * 200
    with Responder(lambda r: chunks, delay=0.2) as srv:
        started = time.monotonic()
        with pytest.raises(HostStop) as info:
            client(srv.port, budget=1.5, timeout=1.0).get("/ISAPI/System/deviceInfo")
        elapsed = time.monotonic() - started
    assert info.value.kind == "unreachable" and elapsed < 3.0, (info.value.reason, elapsed)


def test_endless_body_is_cut_at_the_byte_cap() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<DeviceInfo>"
    with Responder(lambda r: [head] + [b"A" * 65536] * 64) as srv:
        c = client(srv.port, max_bytes=100_000)
        with pytest.raises(HostStop) as info:
            c.get("/ISAPI/System/deviceInfo")
    assert info.value.kind == "hostile" and c.bytes <= 100_000


def test_proxy_and_netrc_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HTTP_PROXY", "http://192.0.2.1:3128")
    monkeypatch.setenv("http_proxy", "http://192.0.2.1:3128")
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login leak password leaked\n")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    with Responder(lambda r: ok(b"<x/>")) as srv:
        assert client(srv.port).get("/ISAPI/System/time").status == 200
    assert b"leaked" not in srv.requests[0] and b"Authorization" not in srv.requests[0]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/ISAPI/System/time", b"<Time/>"),
        ("DELETE", "/ISAPI/Security/users/2", None),
        ("POST", "/ISAPI/System/reboot", b"x"),
        ("POST", "/onvif/device_service", b"<s:Envelope><s:Body><tds:SetNTP/></s:Body></s:Envelope>"),
        ("POST", "/onvif/device_service", b"<s:Envelope><s:Body><tds:SystemReboot/></s:Body></s:Envelope>"),
        ("GET", "/ISAPI/System/time\r\nX: y", None),
    ],
)
def test_anything_but_a_read_is_refused_before_sending(method: str, path: str, body: bytes | None) -> None:
    with pytest.raises(ValueError):
        check_request(method, path, body)


def test_reads_are_allowed() -> None:
    assert check_request("GET", "/ISAPI/System/time", None) == ""
    body = b'<s:Envelope><s:Body xmlns:tds="x"><tds:GetUsers/></s:Body></s:Envelope>'
    assert check_request("POST", "/onvif/device_service", body) == "GetUsers"


def test_isapi_permission_refusal_is_one_endpoint_not_a_lockout() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="1.0" '
        b'xmlns="http://www.hikvision.com/ver20/XMLSchema"><requestURL>/ISAPI/Security/users</requestURL>'
        b"<statusCode>4</statusCode><statusString>Invalid Operation</statusString>"
        b"<subStatusCode>lowPrivilege</subStatusCode></ResponseStatus>"
    )
    reply = b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )

    def handler(r: bytes) -> bytes:
        if not digest_valid(r):
            return challenge()
        return reply if b"/Security/users" in r else ok(b"<x/>")

    with Responder(handler) as srv:
        c = client(srv.port)
        assert c.get("/ISAPI/Security/users").status == 403
        assert c.get("/ISAPI/System/time").status == 200


def test_unauthenticated_soap_401_is_not_a_failed_login() -> None:
    reply = (
        b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="x", nonce="n"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    body = b'<s:Envelope><s:Body xmlns:tds="x"><tds:GetSystemDateAndTime/></s:Body></s:Envelope>'
    with Responder(lambda r: reply) as srv:
        assert client(srv.port).soap(body).status == 401
    assert len(srv.requests) == 1 and b"Authorization" not in srv.requests[0]
