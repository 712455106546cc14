"""Unicast probes against loopback responders serving real device responses (or ones built from
the documented facts of real devices, see tests/data/active/PROVENANCE.md and the comments)."""

from __future__ import annotations

import base64
import time

import mmh3
from active_helpers import DATA, Responder, closed_port, make_ctx

from hikscan.active.rtsp import RtspProbe
from hikscan.active.sdk8000 import Sdk8000Probe
from hikscan.active.web import HttpProbe
from hikscan.active.wsd import OnvifProbe

FAVICON = bytes(range(256)) * 3
# Head shape of a Hikvision DVR landing page as nmap-service-probes line 9906 records it.
HIK_ROOT = (
    b"HTTP/1.0 302 Redirect\r\nServer: Hikvision-Webs\r\nDate: Thu Jan  1 00:00:00 1970\r\n"
    b"Pragma: no-cache\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n"
    b"Location: http://127.0.0.1/doc/page/login.asp?_\r\n\r\n"
)
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b"<lolz>&lol2;</lolz>"
)


def _ok(body: bytes, ctype: str = "text/html", server: bytes = b"Hikvision-Webs") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nServer: " + server + b"\r\nContent-Type: " + ctype.encode()
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )  # fmt: skip


def hik_site(req: bytes) -> bytes:
    path = req.split(b" ", 2)[1]
    if path == b"/":
        return HIK_ROOT
    if path.startswith(b"/doc/page/login.asp"):
        return _ok(b"<html><head><title>  Login </title></head></html>")
    if path == b"/favicon.ico":
        return _ok(FAVICON, "image/x-icon")
    if path == b"/SDK/activateStatus":
        return _ok(
            b'<?xml version="1.0"?><ActivateStatus><Activated>false</Activated></ActivateStatus>', "text/xml"
        )
    if path == b"/ISAPI/Security/extern/capabilities":
        return _ok(BOMB, "application/xml")
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def test_http_probe_reads_banner_redirect_title_favicon_isapi_and_flags_the_bomb():
    with Responder(hik_site) as srv:
        obs = list(HttpProbe(srv.port, closed_port()).run(make_ctx(), ["127.0.0.1"]))
    assert len(obs) == 1
    got = {(e.key, e.value) for e in obs[0].evidence}
    assert ("http.server", "Hikvision-Webs") in got
    assert ("http.location", "http://127.0.0.1/doc/page/login.asp?_") in got
    assert ("http.title", "Login") in got
    assert ("http.favicon_mmh3", str(mmh3.hash(base64.encodebytes(FAVICON)))) in got
    assert ("isapi.Activated", "false") in got
    assert any(e.key == "hostile" and "isapi" in e.value for e in obs[0].evidence)
    methods = {r.split(b" ", 1)[0] for r in srv.requests}
    assert methods == {b"GET"}
    assert not any(b"authorization" in r.lower() for r in srv.requests)
    paths = [r.split(b" ", 2)[1] for r in srv.requests]
    assert b"/doc/page/login.asp?_" in paths


def test_http_probe_on_a_real_non_camera_reply_names_no_camera_fields():
    real = (DATA / "pcap_dlinkcam_http_response_hnap_167.bin").read_bytes()
    with Responder(lambda req: real) as srv:
        obs = list(HttpProbe(srv.port, closed_port()).run(make_ctx(), ["127.0.0.1"]))
    keys = {e.key for o in obs for e in o.evidence}
    assert "http.server" not in keys and "hostile" not in keys


def test_http_probe_oversized_reply_is_hostile_not_an_error():
    huge = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + b"A" * (400 * 1024)
    with Responder(lambda req: huge) as srv:
        obs = list(HttpProbe(srv.port, closed_port()).run(make_ctx(), ["127.0.0.1"]))
    assert any(e.key == "hostile" and "KiB" in e.value for o in obs for e in o.evidence)


def test_http_probe_gives_up_on_a_dripping_device_within_its_timeout():
    drip = [b"H", b"T", b"T", b"P", b"/", b"1"] * 20
    with Responder(lambda req: drip, delay=0.2) as srv:
        start = time.monotonic()
        obs = list(HttpProbe(srv.port, closed_port()).run(make_ctx(timeout=0.6), ["127.0.0.1"]))
        elapsed = time.monotonic() - start
    # three GETs at most (/, favicon, two ISAPI), each cut at 0.6 s
    assert elapsed < 4 * 0.6 + 1.0
    assert any(e.key == "hostile" and "incomplete" in e.value for o in obs for e in o.evidence)


def test_rtsp_probe_reads_realm_and_server_without_credentials():
    # Shapes from nmap-service-probes lines 12367 (Hikvision) and 12373 (Dahua), re-expressed.
    def hik(req: bytes) -> bytes:
        cseq = next(ln for ln in req.split(b"\r\n") if ln.lower().startswith(b"cseq"))
        return (
            b"RTSP/1.0 401 Unauthorized\r\n" + cseq + b"\r\n"
            b'WWW-Authenticate: Digest realm="Hikvision", nonce="0123456789abcdef0123456789abcdef",'
            b' stale="FALSE"\r\n'
            b'WWW-Authenticate: Basic realm="/"\r\n\r\n'
        )  # fmt: skip

    with Responder(hik) as srv:
        obs = list(RtspProbe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    got = {(e.key, e.value) for e in obs[0].evidence}
    assert ("rtsp.realm", "Hikvision") in got
    assert [r.split(b" ", 1)[0] for r in srv.requests] == [b"OPTIONS", b"DESCRIBE"]
    assert not any(b"authorization" in r.lower() for r in srv.requests)

    dahua = b'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="device"\r\nServer: Dahua Rtsp Server\r\nContent-Length: 0\r\n\r\n'  # noqa: E501
    with Responder(lambda req: dahua) as srv:
        obs = list(RtspProbe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    assert ("rtsp.server", "Dahua Rtsp Server") in {(e.key, e.value) for e in obs[0].evidence}


def test_sdk8000_probe_sends_nothing_and_reads_the_16_byte_reply():
    reply = bytes.fromhex("000000100000001e0000001e00000000")  # nmap-service-probes line 1821
    with Responder(lambda req: reply, read=False) as srv:
        obs = list(Sdk8000Probe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    assert [(e.key, e.value) for e in obs[0].evidence] == [("sdk8000.reply", reply.hex())]


def test_sdk8000_probe_other_banner_is_malformed_evidence():
    with Responder(lambda req: b"SSH-2.0-OpenSSH_9.6\r\n", read=False) as srv:
        obs = list(Sdk8000Probe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    assert [e.key for e in obs[0].evidence] == ["sdk8000.malformed"]


def test_onvif_unicast_probe_with_real_dahua_device_information():
    info = (DATA / "onvif_getdeviceinformation_dahua_DH-2H3400-ADP.xml").read_bytes()
    sdt = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema"'
        b' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body><tds:GetSystemDateAndTimeResponse>'
        b"<tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime><tt:Time><tt:Hour>1</tt:Hour>"
        b"<tt:Minute>2</tt:Minute><tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year><tt:Month>5"
        b"</tt:Month><tt:Day>6</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
        b"</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"
    )

    def soap(req: bytes) -> bytes:
        return _ok(info if b"GetDeviceInformation" in req else sdt, "application/soap+xml", b"lighttpd")

    with Responder(soap) as srv:
        obs = list(OnvifProbe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    got = {(e.key, e.value) for e in obs[0].evidence}
    assert {("onvif.Manufacturer", "Dahua"), ("onvif.Model", "DH-2H3400-ADP")} <= got
    assert ("onvif.SerialNumber", "BA07995PHA29A85") in got
    assert ("onvif.DateTimeType", "NTP") in got
    assert all(r.startswith(b"POST /onvif/device_service ") for r in srv.requests)
    assert not any(b"authorization" in r.lower() or b"wsse" in r.lower() for r in srv.requests)


def test_onvif_unicast_probe_marks_an_xxe_reply_hostile():
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with Responder(lambda req: _ok(xxe, "application/soap+xml")) as srv:
        obs = list(OnvifProbe(srv.port).run(make_ctx(), ["127.0.0.1"]))
    assert any(e.key == "hostile" for o in obs for e in o.evidence)


def test_closed_ports_give_no_observation_quickly():
    port = closed_port()
    start = time.monotonic()
    for probe in (HttpProbe(port, port), RtspProbe(port), Sdk8000Probe(port), OnvifProbe(port)):
        assert list(probe.run(make_ctx(), ["127.0.0.1"])) == []
    assert time.monotonic() - start < 2.0
