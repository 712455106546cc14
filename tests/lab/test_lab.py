"""The lab's emulated devices, exercised for real: multicast in namespaces, unicast on loopback."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import defusedxml.ElementTree as DefusedET
import pytest
from defusedxml import DefusedXmlException
from netns import lab_namespaces, namespaces_exist

from hikscan.lab import hostile, responses
from hikscan.lab.profiles import HOSTILE, SADP, WSD, DeviceProfile, default_lab
from hikscan.lab.server import Lab

DATA = Path(__file__).parents[1] / "data" / "active"  # committed copies of ../shared/data/active
PROFILES = default_lab(hostile=True)
BY_NAME = {p.name: p for p in PROFILES}
NVT_PROBE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
    'xmlns:pub="http://schemas.microsoft.com/windows/pub/2005/07">'
    "<s:Header><a:MessageID>{mid}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
    "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
    "<s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"
)


def sadp_inquiry(probe_uuid: str) -> bytes:
    with open(f"{DATA}/sadp_probe_inquiry.xml", "rb") as f:
        real = f.read()
    return real.replace(b"7621A503-49E6-4FBA-B3F8-CBE1F18E55F4", probe_uuid.encode())


def dhip_search() -> bytes:
    with open(f"{DATA}/dahua_dhip_search_request_37810.hex") as f:
        return bytes.fromhex(f.read().strip())


def wsd_probe(types: str) -> tuple[str, bytes]:
    mid = f"urn:uuid:{uuid.uuid4()}"
    return mid, NVT_PROBE.format(mid=mid, types=types).encode()


def local_fields(xml: bytes) -> dict[str, str]:
    root = DefusedET.fromstring(xml)
    return {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in root.iter()}


def collect(sock: socket.socket, seconds: float) -> dict[str, list[bytes]]:
    """Every datagram received for `seconds`, by sender address."""
    got: dict[str, list[bytes]] = defaultdict(list)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            break
        got[addr[0]].append(data)
    return got


def devices(service: str, *, clean: bool = True) -> dict[str, DeviceProfile]:
    return {p.ip: p for p in PROFILES if service in p.services and (not clean or not p.hostile)}


# --- in namespaces -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net():
    with lab_namespaces(n_addresses=len(PROFILES)) as n:
        n.lab = n.start_lab("--hostile", "--stream-limit", "8")  # type: ignore[attr-defined]
        yield n


@pytest.fixture
def mcast(net):
    s = net.socket_in(net.scan_ns)
    s.setsockopt(socket.SOL_SOCKET, 33, 8 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
    s.bind((net.scanner_ip, 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(net.scanner_ip))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    yield s
    s.close()


def tcp(
    net, ip: str, port: int, send: bytes = b"", limit: int = 1 << 20, seconds: float = 3.0, until: bytes = b""
) -> bytes:
    """Connect from the scanner namespace, send, read until close, `limit` bytes, `until` or `seconds`."""
    s = net.socket_in(net.scan_ns, socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(seconds)
    try:
        s.connect((ip, port))
        if send:
            s.sendall(send)
        out = b""
        deadline = time.monotonic() + seconds
        while len(out) < limit and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            if until and until in out:
                break
        return out
    finally:
        s.close()


@pytest.mark.netns
def test_sadp_multicast_inquiry_answered_by_hikvision_family_only(net, mcast) -> None:
    probe_uuid = str(uuid.uuid4()).upper()
    mcast.sendto(sadp_inquiry(probe_uuid), ("239.255.255.250", 37020))
    got = collect(mcast, 2.0)
    clean = devices(SADP)
    assert set(clean) <= set(got)
    assert set(got) == set(devices(SADP, clean=False))  # no Dahua, Axis, nginx or Windows reply
    for ip, p in clean.items():
        (reply,) = got[ip]
        assert b"\r\n" in reply and b"\n" not in reply.replace(b"\r\n", b"")
        f = local_fields(reply)
        assert f["Uuid"] == probe_uuid
        assert f["MAC"] == p.mac.replace(":", "-")
        assert (f["DeviceDescription"], f["IPv4Address"], f["DeviceSN"]) == (p.model, ip, p.serial)
    old = BY_NAME["hik-old-unactivated"]
    assert local_fields(got[old.ip][0])["Activated"] == "flase"
    assert local_fields(got[BY_NAME["hik-cam-1"].ip][0])["HCPlatformEnable"] == "true"
    assert local_fields(got[BY_NAME["oem-lts"].ip][0])["DeviceDescription"] == "CMIP3042-28"
    # Hostile replies: entities a defused parser refuses; a flood of copies.
    for name in ("hostile-xml-bomb", "hostile-xxe"):
        with pytest.raises(DefusedXmlException):
            DefusedET.fromstring(got[BY_NAME[name].ip][0])
    flood = got[BY_NAME["hostile-sadp-flood"].ip]
    assert len(flood) > 100 and len(set(flood)) == 1


@pytest.mark.netns
def test_wsdiscovery_typed_and_untyped_probes(net, mcast) -> None:
    cameras = {ip for ip, p in devices(WSD).items() if p.kind != "windows"}
    windows = BY_NAME["windows-pc"]
    mid, probe = wsd_probe("dn:NetworkVideoTransmitter")
    mcast.sendto(probe, ("239.255.255.250", 3702))
    got = collect(mcast, 1.5)
    assert cameras <= set(got) and windows.ip not in got
    for name in ("hostile-xml-bomb", "hostile-xxe"):
        with pytest.raises(DefusedXmlException):
            DefusedET.fromstring(got[BY_NAME[name].ip][0])
    for ip in cameras:
        p = BY_NAME[next(n for n, q in BY_NAME.items() if q.ip == ip)]
        f = local_fields(got[ip][0])
        assert f["RelatesTo"] == mid
        assert "NetworkVideoTransmitter" in f["Types"]
        assert f"hardware/{p.model.replace(' ', '%20')}" in f["Scopes"]
        if p.kind.startswith("hikvision"):
            assert f["Address"].endswith(p.mac.replace(":", "")) and f"MAC/{p.mac}" in f["Scopes"]
    assert "name/CPPLUS" in local_fields(got[BY_NAME["cpplus-cam"].ip][0])["Scopes"]
    assert "extension/unique_identifier" in local_fields(got[BY_NAME["dahua-cam"].ip][0])["Scopes"]

    mid, probe = wsd_probe("")
    mcast.sendto(probe, ("239.255.255.250", 3702))
    got = collect(mcast, 1.5)
    assert windows.ip in got and cameras <= set(got)
    assert local_fields(got[windows.ip][0])["Types"] == "wsdp:Device pub:Computer"

    mid, probe = wsd_probe("pub:Computer")
    mcast.sendto(probe, ("239.255.255.250", 3702))
    assert set(collect(mcast, 1.0)) == {windows.ip}


@pytest.mark.netns
def test_dhip_search_answered_by_dahua_family_only(net, mcast) -> None:
    mcast.sendto(dhip_search(), ("239.255.255.251", 37810))
    got = collect(mcast, 1.5)
    dahua = {p.ip: p for p in PROFILES if p.kind.startswith("dahua")}
    assert set(got) == set(dahua)
    for ip, p in dahua.items():
        (reply,) = got[ip]
        assert reply[4:8] == b"DHIP"
        length = struct.unpack_from("<I", reply, 16)[0]
        doc = json.loads(reply[32 : 32 + length])
        assert doc["method"] == "client.notifyDevInfo" and doc["mac"] == p.mac
        info = doc["params"]["deviceInfo"]
        assert (info["DeviceType"], info["SerialNo"], info["IPv4Address"]["IPAddress"]) == (
            p.model,
            p.serial,
            ip,
        )


def soap(action: str) -> bytes:
    body = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f'<s:Body><{action} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
    ).encode()
    return (
        b"POST /onvif/device_service HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def split_http(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}, body


@pytest.mark.netns
def test_unicast_http_onvif_rtsp_and_8000(net) -> None:
    get = b"GET / HTTP/1.0\r\n\r\n"
    hik, oem, dahua, axis, web = (
        BY_NAME[n] for n in ("hik-cam-1", "oem-lts", "dahua-cam", "axis-cam", "web-server")
    )
    status, h, _ = split_http(tcp(net, hik.ip, 80, get))
    assert "302" in status and h["server"] == "App-webs/" and h["location"] == "/doc/page/login.asp?_"
    assert split_http(tcp(net, oem.ip, 80, get))[1]["server"] == "DNVRS-Webs"
    assert b"<title>WEB SERVICE</title>" in tcp(net, dahua.ip, 80, get)
    assert (
        f'realm="AXIS_{axis.mac.replace(":", "").upper()}"'
        in split_http(tcp(net, axis.ip, 80, get))[1]["www-authenticate"]
    )
    assert split_http(tcp(net, web.ip, 80, get))[1]["server"].startswith("nginx/")
    status, h, _ = split_http(
        tcp(net, hik.ip, 80, b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: x\r\n\r\n")
    )
    assert (
        "401" in status and h["www-authenticate"].startswith("Digest") and "realm=" in h["www-authenticate"]
    )

    status, _, body = split_http(tcp(net, dahua.ip, 80, soap("GetSystemDateAndTime")))
    assert "200" in status and "UTCDateTime" in local_fields(body)
    f = local_fields(split_http(tcp(net, dahua.ip, 80, soap("GetDeviceInformation")))[2])
    assert (f["Manufacturer"], f["Model"], f["SerialNumber"]) == ("Dahua", dahua.model, dahua.serial)
    assert local_fields(split_http(tcp(net, hik.ip, 80, soap("GetDeviceInformation")))[2])[
        "Manufacturer"
    ] == ("HIKVISION")
    status, _, body = split_http(tcp(net, BY_NAME["hik-cam-2"].ip, 80, soap("GetDeviceInformation")))
    assert "401" in status and "Value" in local_fields(body) and b"ter:NotAuthorized" in body

    rtsp = b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 2\r\n\r\n"
    raw = tcp(net, hik.ip, 554, rtsp, until=b"\r\n\r\n")
    status, h, _ = split_http(raw)
    assert status == "RTSP/1.0 401 Unauthorized" and h["cseq"] == "2"
    assert f'WWW-Authenticate: Digest realm="IP Camera({hik.serial[-5:]})"'.encode() in raw
    assert split_http(tcp(net, dahua.ip, 554, rtsp, until=b"\r\n\r\n"))[1]["server"] == "Dahua Rtsp Server"
    reply = tcp(net, hik.ip, 8000, seconds=2.5, limit=16)
    assert len(reply) == 16 and reply[:4] == b"\x00\x00\x00\x10"


@pytest.mark.netns
def test_negatives_run_only_their_own_services(net) -> None:
    web, windows = BY_NAME["web-server"], BY_NAME["windows-pc"]
    for ip, port in ((web.ip, 554), (web.ip, 8000), (windows.ip, 80), (BY_NAME["dahua-cam"].ip, 8000)):
        with pytest.raises(ConnectionRefusedError):
            tcp(net, ip, port)
    assert b"Microsoft-HTTPAPI/2.0" in tcp(net, windows.ip, 5357, b"GET / HTTP/1.0\r\n\r\n")


@pytest.mark.netns
def test_hostile_streams(net) -> None:
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    endless = tcp(net, BY_NAME["hostile-endless-body"].ip, 80, get, limit=2 << 20, seconds=3)
    assert len(endless) >= 2 << 20 and b"content-length" not in endless[:300].lower()
    slow = tcp(net, BY_NAME["hostile-slowloris"].ip, 80, get, seconds=2.5)
    assert 1 <= len(slow) <= 4 and b"HTTP/1.1"[: len(slow)] == slow
    huge = tcp(net, BY_NAME["hostile-huge-rtsp-header"].ip, 554, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n",
               limit=8 << 20, seconds=10)  # fmt: skip
    assert len(huge) >= hostile.HUGE_HEADER_BYTES and b"\r\n\r\n" not in huge
    for name in ("hostile-xml-bomb", "hostile-xxe"):
        body = split_http(tcp(net, BY_NAME[name].ip, 80, soap("GetDeviceInformation")))[2]
        assert b"<!DOCTYPE" in body
        with pytest.raises(DefusedXmlException):
            DefusedET.fromstring(body)


@pytest.mark.netns
def test_namespaces_are_removed_even_on_failure() -> None:
    with pytest.raises(RuntimeError), lab_namespaces(n_addresses=2) as n:
        names = (n.scan_ns, n.dev_ns)
        assert namespaces_exist(*names) == list(names)
        raise RuntimeError("test body failed")
    assert namespaces_exist(*names) == []


# --- safety and loopback (no namespaces needed) -------------------------------------------------


def test_refuses_root_namespace_and_non_loopback_base() -> None:
    for argv in ([], ["--interface", "lo"], ["--loopback", "--base", "10.77.0."]):
        run = subprocess.run(
            [sys.executable, "-m", "hikscan.lab", *argv], capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 2, argv
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("hikscan lab: error:")


def test_loopback_lab_unicast() -> None:
    base = f"127.77.{100 + os.getpid() % 150}."
    profiles = default_lab(base=base)
    lab = Lab(profiles)
    stop = threading.Event()
    runner = threading.Thread(target=lab.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert lab.ready.wait(10)
        hik = profiles[0]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.sendto(sadp_inquiry("7621A503-49E6-4FBA-B3F8-CBE1F18E55F4"), (hik.ip, 37020))
        mid, probe = wsd_probe("dn:NetworkVideoTransmitter")
        s.sendto(probe, (hik.ip, 3702))
        got = collect(s, 1.0)[hik.ip]
        fields = [local_fields(g) for g in got]
        assert {f.get("DeviceDescription") for f in fields} >= {hik.model}
        assert any(f.get("RelatesTo") == mid for f in fields)
        with socket.create_connection((hik.ip, 80), timeout=3) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 302")
        s.close()
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()


# --- pure responders ------------------------------------------------------------------------------


def test_sadp_answers_only_inquiries() -> None:
    update = sadp_inquiry("7621A503-49E6-4FBA-B3F8-CBE1F18E55F4").replace(b"inquiry", b"update")
    assert responses.sadp_inquiry_uuid(update) is None
    assert responses.sadp_inquiry_uuid(b"<Probe><Uuid>x</Uuid>" + b"<a>" * 10 + b"</Probe>") is None
    bomb = sadp_inquiry("X").replace(b"<Probe>", hostile.BOMB_DTD.encode() + b"<Probe>")
    assert responses.sadp_inquiry_uuid(bomb) is None


def test_profiles_are_deterministic_and_distinct() -> None:
    big = default_lab(count=100, hostile=True)
    assert big == default_lab(count=100, hostile=True)
    assert len({p.ip for p in big}) == len({p.mac for p in big}) == len(big) == 106
    assert {b for p in big for b in p.hostile} == HOSTILE
    with pytest.raises(ValueError):
        default_lab(count=250)
