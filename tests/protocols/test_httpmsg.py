"""HTTP and RTSP heads, favicon hash, and the port 8000 reply."""

from __future__ import annotations

import base64
from pathlib import Path

import mmh3
import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import httpmsg, rtsp, sdk8000

DATA = Path(__file__).parents[1] / "data" / "active"

# Response heads in the shapes nmap's service probes record for these devices (dates and nonces filled in).
HIK_DVR = (
    b"HTTP/1.0 302 Redirect\r\nServer: Hikvision-Webs\r\nDate: Sat Jan  1 00:00:00 2022\r\n"
    b"Pragma: no-cache\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n"
    b"Location: http://192.0.2.10:80/index.asp\r\n\r\n"
)
DAHUA_PAGE = (
    b"HTTP/1.1 200 OK\r\nCONNECTION: close\r\nCONTENT-LENGTH: 120\r\nCONTENT-TYPE: text/html\r\n\r\n"
    b"\xef\xbb\xbf<!DOCTYPE html>\r\n<html>\r\n  <head>\r\n<TITLE>WEB  SERVICE</TITLE>\r\n"
)
HIK_RTSP = (
    b'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm="Hikvision", '
    b'nonce="0123456789abcdef0123456789abcdef", stale="FALSE"\r\nWWW-Authenticate: Basic realm="/"\r\n\r\n'
)
DAHUA_RTSP = (
    b'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Basic realm="device"\r\n'
    b"Server: Dahua Rtsp Server\r\nContent-Length: 0\r\n\r\n"
)
HIK_RTSP_OPTIONS = (
    b"RTSP/1.0 200 OK\r\nCSeq: 42 OPTIONS\r\nPublic: OPTIONS, DESCRIBE, PLAY, PAUSE, SETUP\r\n\r\n"
)


def test_real_request_from_the_dlink_capture() -> None:
    req = httpmsg.parse_request((DATA / "pcap_dlinkcam_http_request_hnap_165.bin").read_bytes())
    assert (req.method, req.path, req.version) == ("POST", "/HNAP1/", "1.1")
    assert req.host == "10.10.10.37"
    assert req.user_agent == "ksoap2-android/2.6.0+"
    assert {e.key: e.value for e in httpmsg.request_evidence(req)} == {
        "http.host": "10.10.10.37",
        "http.user_agent": "ksoap2-android/2.6.0+",
    }


def test_real_response_from_the_dlink_capture() -> None:
    resp = httpmsg.parse_response((DATA / "pcap_dlinkcam_http_response_hnap_167.bin").read_bytes())
    assert (resp.status, resp.reason, resp.server, resp.realm, resp.title) == (200, "OK", None, None, None)
    assert resp.header("content-type") == "text/xml; charset=UTF-8"


def test_hikvision_redirect() -> None:
    resp = httpmsg.parse_response(HIK_DVR)
    assert resp.status == 302 and resp.server == "Hikvision-Webs"
    assert resp.location == "http://192.0.2.10:80/index.asp"
    keys = {e.key: e.value for e in httpmsg.evidence(resp)}
    assert keys == {"http.server": "Hikvision-Webs", "http.location": "http://192.0.2.10:80/index.asp"}


def test_dahua_title_case_insensitive_headers() -> None:
    resp = httpmsg.parse_response(DAHUA_PAGE)
    assert resp.title == "WEB SERVICE"
    assert resp.header("Content-Length") == "120"


def test_realms_digest_and_basic() -> None:
    resp = httpmsg.parse_response(HIK_RTSP.replace(b"RTSP/1.0", b"HTTP/1.1"))
    assert [(c.scheme, c.realm) for c in resp.auth] == [("Digest", "Hikvision"), ("Basic", "/")]
    assert resp.realm == "Hikvision"


def test_lf_only_and_head_without_end() -> None:
    assert httpmsg.parse_response(b"HTTP/1.1 200 OK\nServer: App-webs/\n\n").server == "App-webs/"
    assert httpmsg.parse_request(b"GET / HTTP/1.1\r\nHost: cam.example").host == "cam.example"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 5000,  # head over 16 KiB
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 150 + b"\r\n",  # too many headers
        b"RTSP/1.0 200 OK\r\n\r\n",  # RTSP is not HTTP
    ],
)
def test_broken_responses(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        httpmsg.parse_response(data)


def test_favicon_hash_is_shodans() -> None:
    assert mmh3.hash(b"foo") == -156908512  # the library's published test vector: signed 32-bit murmur3
    icon = bytes(range(256)) * 4  # > 57 bytes, so MIME base64 wraps lines every 76 characters
    text = base64.encodebytes(icon)
    lines = text.split(b"\n")
    assert lines[-1] == b"" and len(lines) > 3 and all(len(line) == 76 for line in lines[:-2])
    assert httpmsg.favicon_mmh3(icon) == mmh3.hash(text)
    assert httpmsg.favicon_mmh3(icon) != mmh3.hash(base64.b64encode(icon))
    assert -(2**31) <= httpmsg.favicon_mmh3(b"") < 2**31
    (ev,) = httpmsg.favicon_evidence(icon)
    assert (ev.key, ev.value) == ("http.favicon_mmh3", str(mmh3.hash(text)))


def test_rtsp_builders() -> None:
    assert rtsp.build_options("rtsp://192.0.2.10:554/", 1) == (
        b"OPTIONS rtsp://192.0.2.10:554/ RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: hikscan\r\n\r\n"
    )
    describe = rtsp.build_describe("rtsp://192.0.2.10/Streaming/Channels/101", 2)
    assert describe.startswith(b"DESCRIBE rtsp://192.0.2.10/Streaming/Channels/101 RTSP/1.0\r\n")
    assert b"Accept: application/sdp\r\n" in describe and describe.endswith(b"\r\n\r\n")
    req = httpmsg.parse_request(describe, protocols=("RTSP",))
    assert req.header("cseq") == "2"
    with pytest.raises(ValueError):
        rtsp.build_options("rtsp://x/\r\nInjected: 1")


def test_rtsp_responses() -> None:
    hik = rtsp.parse_rtsp_response(HIK_RTSP)
    assert (hik.status, hik.realm, hik.realms, hik.server) == (401, "Hikvision", ("Hikvision", "/"), None)
    dahua = rtsp.parse_rtsp_response(DAHUA_RTSP)
    assert dahua.server == "Dahua Rtsp Server" and dahua.realm == "device"
    assert {e.key for e in rtsp.evidence(dahua)} == {"rtsp.server", "rtsp.realm"}
    opts = rtsp.parse_rtsp_response(HIK_RTSP_OPTIONS)
    assert opts.public == ("OPTIONS", "DESCRIBE", "PLAY", "PAUSE", "SETUP") and opts.cseq == 42
    with pytest.raises(MalformedInput):
        rtsp.parse_rtsp_response(HIK_DVR)
    with pytest.raises(MalformedInput):
        rtsp.parse_rtsp_response(b"RTSP/1.0 200 OK\r\nCSeq: abc\r\n\r\n")


def test_rtsp_response_evidence_is_what_the_full_parse_gives() -> None:
    for reply in (HIK_RTSP, DAHUA_RTSP, HIK_RTSP_OPTIONS):
        assert rtsp.response_evidence(reply) == rtsp.evidence(rtsp.parse_rtsp_response(reply))
    assert [e.key for e in rtsp.response_evidence(DAHUA_RTSP)] == ["rtsp.server", "rtsp.realm"]
    for bad in (HIK_DVR, b"RTSP/1.0 200 OK\r\nCSeq: abc\r\n\r\n", b"RTSP/1.0 200 OK\r\nBad header\r\n\r\n"):
        with pytest.raises(MalformedInput):
            rtsp.response_evidence(bad)


def test_sdk8000_replies() -> None:
    null_reply = bytes.fromhex("000000100000001e0000001e00000000")
    res = sdk8000.parse_sdk8000(null_reply)
    assert res.is_hikvision_shape and res.code == 0x1E and res.meaning == "no request (NULL probe)"
    assert [e.value for e in sdk8000.evidence(res)] == [null_reply.hex()]
    smb_reply = bytes.fromhex("000000100000000d0000000d00000000")
    assert sdk8000.parse_sdk8000(smb_reply).code == 0x0D
    assert not sdk8000.parse_sdk8000(bytes.fromhex("000000100000000d0000000e00000000")).is_hikvision_shape
    for bad in (null_reply[:15], b"\x00\x00\x00\x11" + null_reply[4:], b"HTTP/1.1 400 Bad"):
        with pytest.raises(MalformedInput):
            sdk8000.parse_sdk8000(bad)


def test_sdk8000_probes() -> None:
    assert sdk8000.build_probe() == b""
    smb = sdk8000.build_probe("smb")
    assert int.from_bytes(smb[:4], "big") == len(smb) - 4
    assert smb[4:9] == b"\xffSMBr" and smb.endswith(b"\x02NT LM 0.12\x00")
