"""The scenario captures: one function per capture, each returning a filled Capture.

Addresses that matter are real (their country/ASN is what the analyser must report, checked against
hikscan/data/*.mmdb in tests/test_generate_pcaps.py); the ones that do not matter are private or
documentation prefixes. Invented DNS names end in .example.
"""

from __future__ import annotations

import struct

from genlib import (
    ACTIVE,
    T0_US,
    Capture,
    HikCamera,
    Host,
    TcpSession,
    at,
    dhip_notify,
    dhip_search,
    l2,
    mcast_mac,
    sadp_inquiry,
    slaac,
    tls_client_hello,
    tls_records,
)
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import CookedLinux
from scapy.packet import Packet

ROUTER = "00:00:0c:07:ac:0a"  # Cisco HSRP virtual MAC: the default gateway of every VLAN here
SADP_GROUP = "239.255.255.250"
DHIP_GROUP = "239.255.255.251"
SADP2 = "sadp_response_2_DS-2CD2385G1-I.xml"
SADP1 = "sadp_response_1_DS-2CD2320D-I.xml"
HIK_OUIS = ("58:50:ed", "44:19:b6", "bc:ad:28")

CN_SERVER = "116.62.10.20"  # Alibaba Cloud Hangzhou (CN, AS37963)
CN_WEB = "116.62.10.30"  # another CN address in the same Alibaba block
CN_OTHER = "116.62.10.40"
HK_SERVER = "47.75.10.20"  # Alibaba Cloud Hong Kong (HK, AS45102)
HK_SERVER6 = "2403:4a00:10::20"  # HGC Global Communications, Hong Kong (AS9304)
DE_AWS = ("52.28.10.20", "52.28.10.21")  # AWS eu-central-1 Frankfurt
US_AWS_P2P = "52.5.124.127"  # Hik-Connect P2P server (shared/data/passive/cctv_cloud_endpoints.tsv)
US_ALIBABA = "47.88.10.20"  # Alibaba Cloud US (US, AS45102)
GB_SERVER = "81.2.69.142"  # Andrews & Arnold, UK (GB, AS20712)

EVASION_NAME = "update.hik-cn-device.example"


def remote(ip: str) -> Host:
    """A server beyond the router: frames to and from it carry the router's MAC."""
    return Host(ROUTER, ip)


def hik_camera(net: str, last: int, index: int, template: str, **kw: object) -> HikCamera:
    """A Hikvision camera at net.last: MAC from a real Hikvision OUI, serial in the model's format."""
    oui = HIK_OUIS[index % len(HIK_OUIS)]
    mac = f"{oui}:{0x30 + index:02x}:{(last * 7) & 0xFF:02x}:{(last * 13 + index) & 0xFF:02x}"
    model = "DS-2CD2385G1-I" if template == SADP2 else "DS-2CD2320D-I"
    batch = "AAWRE" if template == SADP2 else "AACHC"
    serial = (
        f"{model}2021{(index % 9) + 1:02d}{10 + last % 19:02d}{batch}{(last * 7919 + 33842150) % 10**8:08d}"
    )
    return HikCamera(Host(mac, f"{net}.{last}", kw.pop("vlan", ())), template, serial, **kw)  # type: ignore[arg-type]


def sadp_round(cap: Capture, t: float, asker: Host, cams: list[HikCamera], gateway: str) -> None:
    """A client's SADP inquiry to 239.255.255.250:37020 and every camera's ProbeMatch to the same group."""
    group = Host(mcast_mac(SADP_GROUP), SADP_GROUP, asker.vlan)
    cap.udp(at(t), asker, group, 37020, 37020, sadp_inquiry())
    for i, cam in enumerate(cams):
        grp = Host(group.mac, SADP_GROUP, cam.host.vlan)
        cap.udp(at(t + 0.05 + i * 0.013), cam.host, grp, 37020, 37020, cam.sadp_reply(gateway))


def ntp(cap: Capture, t: float, client: Host, server: Host) -> None:
    """An NTPv4 client request and the server's reply (48 bytes each)."""
    ntp_s = int(t) + T0_US // 1_000_000 + 2208988800
    frac = cap.rng.getrandbits(32)
    req = struct.pack("!BBbb", 0x23, 0, 6, -20) + bytes(36) + struct.pack("!II", ntp_s, frac)
    ref = struct.pack("!4s", bytes([10, 0, 0, 123]))
    rep = (
        struct.pack("!BBbb", 0x24, 2, 6, -23)
        + struct.pack("!II", 0x0000_0200, 0x0000_0400)
        + ref
        + struct.pack("!IIIIIIII", ntp_s - 40, 0, ntp_s, frac, ntp_s, frac + 2000, ntp_s, frac + 3000)
    )
    cap.udp(at(t), client, server, 123, 123, req)
    cap.udp(at(t) + 700, server, client, 123, 123, rep)


def rtsp_pull(
    cap: Capture, t: float, nvr: Host, cam: Host, until: float, every: float, dahua: bool = False
) -> None:
    """An NVR pulling a camera's stream: RTSP setup, then one sampled interleaved RTP frame per `every` s.

    RTP frames are captured truncated (snaplen) like a span port with a short snaplen records them.
    """
    s = TcpSession(cap, nvr, cam, 554, rtt_us=600)
    ts = s.handshake(at(t))
    url = f"rtsp://{cam.ip}:554/" + (
        "cam/realmonitor?channel=1&subtype=0" if dahua else "Streaming/Channels/101"
    )
    server = "Server: Dahua Rtsp Server\r\n" if dahua else ""
    realm = "Login to " + cam.mac.replace(":", "").upper() if dahua else "Hikvision"
    sdp = f"v=0\r\no=- 1 1 IN IP4 {cam.ip}\r\ns=Media Presentation\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" + (
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
    )
    nonce = cap.rng.randbytes(16).hex()
    auth = f'Authorization: Digest username="nvr", realm="{realm}", nonce="{nonce}", uri="{url}"'
    steps = [
        (
            f"OPTIONS {url} RTSP/1.0\r\nCSeq: 2\r\n",
            "200 OK",
            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n",
        ),
        (
            f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\nAccept: application/sdp\r\n",
            "401 Unauthorized",
            f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}", stale="FALSE"\r\n',
        ),
        (
            f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 4\r\n{auth}\r\n",
            "200 OK",
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}",
        ),
        (
            f"SETUP {url}/trackID=1 RTSP/1.0\r\nCSeq: 5\r\n"
            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
            "200 OK",
            f"Session: {cap.rng.randrange(10**8, 10**9)};timeout=60\r\n",
        ),
        (f"PLAY {url} RTSP/1.0\r\nCSeq: 6\r\nRange: npt=0.000-\r\n", "200 OK", "RTP-Info: url=trackID=1\r\n"),
    ]
    for req, status, hdr in steps:
        cseq = req.split("CSeq: ")[1].split("\r\n")[0]
        ts = s.send(ts, True, (req + "User-Agent: NVR RTSP client\r\n\r\n").encode())
        tail = "" if hdr.endswith("\r\n") and "\r\n\r\n" in hdr else "\r\n"
        ts = s.send(ts + 2000, False, f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{server}{hdr}{tail}".encode())
    n = 0
    while t + (n + 1) * every < until:
        n += 1
        rtp = struct.pack("!BBHII", 0x80, 96, n, n * 90000 * int(every), 0x1A2B3C4D) + cap.rng.randbytes(1420)
        s.send(at(t + n * every), False, b"$\x00" + struct.pack("!H", len(rtp)) + rtp, keep=64)


def tls_session(cap: Capture, t: float, client: Host, server: Host, sni: str, exchanges: int = 1) -> float:
    """A TLS session: ClientHello, the server's flight, `exchanges` application-data round trips, close."""
    s = TcpSession(cap, client, server, 443)
    ts = s.handshake(at(t))
    ts = s.send(ts, True, tls_client_hello(sni, cap.rng))
    ts = s.send(ts + 5000, False, tls_records(cap.rng, 0x16, 1300))
    ts = s.send(ts, True, tls_records(cap.rng, 0x17, 80))
    for _ in range(exchanges):
        ts = s.send(ts + 1000, True, tls_records(cap.rng, 0x17, 200 + cap.rng.randrange(300)))
        ts = s.send(ts + 2000, False, tls_records(cap.rng, 0x17, 300 + cap.rng.randrange(900)))
    return s.close(ts) / 1_000_000


# --- 1. the Italy pattern -------------------------------------------------------------------------


def incident_fleet_china() -> Capture:
    """An hour of normal CCTV VLAN traffic, then 7 of 8 Hikvision cameras start reaching one CN server."""
    cap = Capture(seed=1)
    gw = Host(ROUTER, "10.20.0.1")
    nvr = Host("44:19:b6:6e:00:02", "10.20.0.2")
    cams = [hik_camera("10.20.0", 11 + i, i, SADP2 if i < 5 else SADP1) for i in range(8)]
    cap.arp(at(0.5), nvr, gw)
    sadp_round(cap, 2.0, nvr, cams, gw.ip)
    for i, cam in enumerate(cams):
        rtsp_pull(cap, 5 + i * 0.5, nvr, cam.host, until=4800, every=300)
        for k in range(5):
            ntp(cap, 30 + i * 3 + k * 1024, cam.host, gw)
    sadp_round(cap, 3000.0, nvr, cams, gw.ip)

    # An office workstation (another VLAN, same span) visits a CN web shop: an info-level finding only.
    ws, ws_gw = Host("f8:bc:12:5c:30:50", "10.30.0.50"), Host(ROUTER, "10.30.0.1")
    shop = "shop.cn-retailer.example"
    cap.dns(at(1200), ws, ws_gw, shop, [(shop, "A", CN_WEB)])
    tls_session(cap, 1200.1, ws, remote(CN_WEB), shop, exchanges=3)

    # 10:00:00 - seven cameras, within a minute, resolve one name and start hammering one CN server.
    cn = remote(CN_SERVER)
    for i, cam in enumerate(cams[:7]):
        start = 3600 + i * 7
        for k in range(20):
            ts = at(start + k * 60)
            if k % 10 == 0:
                cap.dns(ts, cam.host, gw, EVASION_NAME, [(EVASION_NAME, "A", CN_SERVER)], ttl=600)
                ts += 5000
            s = TcpSession(cap, cam.host, cn, 443)
            if k % 3 == 2:
                s.unanswered_syn(ts)
                continue
            ts = s.handshake(ts)
            ts = s.send(ts, True, tls_client_hello(EVASION_NAME, cap.rng))
            ts = s.send(ts + 3000, False, tls_records(cap.rng, 0x16, 96))
            s.reset(ts + 500)
    return cap


# --- 2. Hik-Connect registration (vendor cloud in the EU and US) ----------------------------------


def p2p_v3(cap: Capture, opcode: int, body_len: int) -> bytes:
    """A Hik-Connect P2P V3 datagram as protocol_signatures.tsv describes its header.

    byte0 0xE2, byte1 mask, bytes2-3 opcode, bytes8-9 0x62 0x34, byte10 header length, byte11 CRC-8;
    the sequence bytes 4-7, the CRC and the AES body are stand-ins (random from the fixed seed).
    """
    hdr = struct.pack("!BBHI2sB", 0xE2, 0x00, opcode, cap.rng.getrandbits(32), b"\x62\x34", 12)
    return hdr + bytes([cap.rng.getrandbits(8)]) + cap.rng.randbytes(body_len)


def hikconnect_registration() -> Capture:
    """Two Hikvision cameras with Hik-Connect on register with litedev.hik-connect.com and the P2P server."""
    cap = Capture(seed=2)
    gw = Host(ROUTER, "10.40.0.1")
    laptop = Host("f8:bc:12:5c:40:64", "10.40.0.100")
    cams = [
        hik_camera("10.40.0", 21, 0, SADP2, hc_enabled=True),
        hik_camera("10.40.0", 22, 2, SADP1, hc_enabled=True),
    ]
    sadp_round(cap, 1.0, laptop, cams, gw.ip)
    name = "litedev.hik-connect.com"
    elb = "hc-litedev-eu-7d3f9a1c.elb.eu-central-1.amazonaws.com"  # invented name in AWS's ELB format
    p2p = remote(US_AWS_P2P)
    for i, cam in enumerate(cams):
        t = 10 + i * 3
        answers = [(name, "CNAME", elb), (elb, "A", DE_AWS[0]), (elb, "A", DE_AWS[1])]
        cap.dns(at(t), cam.host, gw, name, answers, ttl=60)
        tls_session(cap, t + 0.1, cam.host, remote(DE_AWS[0]), name, exchanges=4)
        sport = 50000 + i * 111
        for k in range(10):
            tp = t + 5 + k * 30
            cap.udp(at(tp), cam.host, p2p, sport, 6000, p2p_v3(cap, 0x0B02 if k == 0 else 0x0C00, 64))
            cap.udp(
                at(tp) + 95_000, p2p, cam.host, 6000, sport, p2p_v3(cap, 0x0B03 if k == 0 else 0x0C01, 48)
            )
    return cap


# --- 3. Dahua on Easy4IP ------------------------------------------------------------------------


def dhget(cseq: int, path: str, serial: str, created: str) -> bytes:
    """Dahua P2P 'HTTP over UDP' request (format re-expressed from khoanguyen-3fc/dh-p2p)."""
    lines = [f"DHGET {path} HTTP/1.1", f"CSeq: {cseq}"]
    if "online" in path:
        lines += [
            'Authorization: WSSE profile="UsernameToken"',
            f'X-WSSE: UsernameToken Username="P2PClient", Nonce="{cseq * 7919}", Created="{created}"',
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def dahua_easy4ip() -> Capture:
    """A Dahua camera announces itself with DHIP, then talks to the Easy4IP P2P cloud (Alibaba US)."""
    cap = Capture(seed=3)
    gw = Host(ROUTER, "10.50.0.1")
    tool = Host("f8:bc:12:5c:50:64", "10.50.0.100")
    cam = Host("e0:50:8b:3c:50:31", "10.50.0.31")
    serial = "6C01E93PAG0A031"
    group = Host(mcast_mac(DHIP_GROUP), DHIP_GROUP)
    cap.arp(at(0.2), cam, gw)
    cap.udp(at(1.0), tool, group, 51515, 37810, dhip_search())
    cap.udp(at(1.2), cam, group, 37810, 37810, dhip_notify(cam.mac, cam.ip, gw.ip, serial))
    name = "www.easy4ipcloud.com"
    cap.dns(at(5), cam, gw, name, [(name, "A", US_ALIBABA)])
    srv = remote(US_ALIBABA)
    for k in range(12):
        t = 6 + k * 30
        created = f"2026-03-02T09:{int(t) // 60:02d}:{int(t) % 60:02d}Z"
        path = "/probe/p2psrv" if k == 0 else f"/online/p2psrv/{serial}"
        cap.udp(at(t), cam, srv, 38800, 8800, dhget(k + 1, path, serial, created))
        body = f"<body><US>{US_ALIBABA}:8800</US></body>" if k == 0 else "<body><Status>1</Status></body>"
        reply = f"HTTP/1.1 200 OK\r\nCSeq: {k + 1}\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        cap.udp(at(t) + 180_000, srv, cam, 8800, 38800, reply.encode())
    ntp(cap, 20, cam, gw)
    return cap


# --- 4. clean VLAN: the false-positive gate -------------------------------------------------------

WSD_NS = (
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
)


def wsd_probe(msg_id: str, types: str, extra_ns: str) -> bytes:
    """A WS-Discovery Probe as ONVIF clients and Windows send it to 239.255.255.250:3702."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {WSD_NS} {extra_ns}><s:Header>'
        f'<a:MessageID>uuid:{msg_id}</a:MessageID><a:To s:mustUnderstand="1">'
        'urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To><a:Action s:mustUnderstand="1">'
        "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>"
        f"<s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"
    ).encode()


def hik_probematch(cam: HikCamera, relates_to: str) -> bytes:
    """The real Hikvision ProbeMatch body (DS-2CD2385G1-I) with MAC/IP substituted, in a SOAP envelope."""
    body = (ACTIVE / "onvif_probematch_hikvision_DS-2CD2385G1-I_body.xml").read_text()
    mac = cam.host.mac
    for old, new in (
        ("5850ed1fe385", mac.replace(":", "")),
        ("58:50:ed:1f:e3:85", mac),
        ("192.168.124.40", cam.host.ip),
        ("fe80::5a50:edff:fe1f:e385", slaac("fe80:", mac)),
    ):
        body = body.replace(old, new)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">\n'
        f"<env:Header><wsadis:MessageID>urn:uuid:{mac.replace(':', '')}-0000-1000-8000-000000000001"
        f"</wsadis:MessageID><wsadis:RelatesTo>uuid:{relates_to}</wsadis:RelatesTo>"
        "<wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action></env:Header>\n"
    )
    return (head + body + "</env:Envelope>\n").encode()


def clean_vlan_rtsp() -> Capture:
    """A closed CCTV VLAN: SADP, WS-Discovery, RTSP to the NVR, internal DNS and NTP. No finding at all."""
    cap = Capture(seed=4)
    gw = Host(ROUTER, "10.60.0.1")
    nvr = Host("bc:ad:28:6e:00:02", "10.60.0.2")
    cams = [hik_camera("10.60.0", 11 + i, i, SADP2 if i < 3 else SADP1) for i in range(4)]
    dahua = Host("3c:ef:8c:1d:60:15", "10.60.0.15")
    sadp_round(cap, 1.0, nvr, cams, gw.ip)
    probe_id = "2f6a1c3e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    wsd = Host("01:00:5e:7f:ff:fa", "239.255.255.250")
    cap.udp(
        at(3.0),
        nvr,
        wsd,
        3702,
        3702,
        wsd_probe(
            probe_id, "dn:NetworkVideoTransmitter", 'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'
        ),
    )
    for i, cam in enumerate(cams[:3]):
        cap.udp(at(3.1 + i * 0.02), cam.host, nvr, 3702, 3702, hik_probematch(cam, probe_id))
    hello = (
        (ACTIVE / "onvif_hello_dahua_IPC-HFW2228M-I1-V2.xml")
        .read_bytes()
        .replace(b"192.168.1.45", b"10.60.0.15")
    )
    cap.udp(at(4.0), dahua, wsd, 3702, 3702, hello)
    cap.dns(at(6), nvr, gw, "ntp.cctv.internal", [("ntp.cctv.internal", "A", gw.ip)])
    for i, host in enumerate([c.host for c in cams] + [dahua]):
        rtsp_pull(cap, 8 + i * 0.4, nvr, host, until=900, every=120, dahua=host is dahua)
        ntp(cap, 20 + i * 2, host, gw)
        ntp(cap, 20 + i * 2 + 512, host, gw)
    return cap


# --- 5. 802.1Q / QinQ trunk, IPv6 and IPv4 to Hong Kong, HTTP Host to China -----------------------


def ipv6_vlan_hk() -> Capture:
    """A trunk capture: VLAN 30 camera over IPv6 and IPv4 to HK, a QinQ camera doing plain HTTP to CN."""
    cap = Capture(seed=5)
    gw30 = Host(ROUTER, "10.70.0.1", (30,))
    gw31 = Host(ROUTER, "10.71.0.1", (100, 31))
    cam1 = hik_camera("10.70.0", 41, 1, SADP1, vlan=(30,))
    cam1 = HikCamera(cam1.host, cam1.template, cam1.serial, ipv6=slaac("2001:db8:70:0", cam1.host.mac))
    cam2 = hik_camera("10.71.0", 42, 0, SADP2, vlan=(100, 31))
    sadp_round(cap, 1.0, Host("44:19:b6:6e:70:02", "10.70.0.2", (30,)), [cam1], gw30.ip)
    sadp_round(cap, 1.5, Host("44:19:b6:6e:71:02", "10.71.0.2", (100, 31)), [cam2], gw31.ip)

    v6 = Host(cam1.host.mac, cam1.ipv6, (30,))
    gw6 = Host(ROUTER, "2001:db8:70::1", (30,))
    ns = (
        IPv6(src=v6.ip, dst="ff02::1:ff00:1", hlim=255)
        / ICMPv6ND_NS(tgt=gw6.ip)
        / ICMPv6NDOptSrcLLAddr(lladdr=v6.mac)
    )
    na = (
        IPv6(src=gw6.ip, dst=v6.ip, hlim=255)
        / ICMPv6ND_NA(tgt=gw6.ip, R=1, S=1, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=ROUTER)
    )
    cap.add(at(2.0), cap.link(v6.mac, "33:33:ff:00:00:01", v6.vlan, ns))
    cap.add(at(2.0) + 400, cap.link(ROUTER, v6.mac, v6.vlan, na))
    relay = "relay.hk-p2p.example"
    cap.dns(at(3.0), v6, gw6, relay, [(relay, "AAAA", HK_SERVER6)], qtype="AAAA")
    tls_session(cap, 3.1, v6, Host(ROUTER, HK_SERVER6, (30,)), relay, exchanges=3)

    stream = "stream.hk-p2p.example"
    cap.dns(at(20.0), cam1.host, gw30, stream, [(stream, "A", HK_SERVER)])
    tls_session(cap, 20.1, cam1.host, Host(ROUTER, HK_SERVER, (30,)), stream, exchanges=2)

    fw = "fw.cn-camera-update.example"  # no DNS in the capture: the name is only in the Host header
    s = TcpSession(cap, cam2.host, Host(ROUTER, CN_SERVER, (100, 31)), 80)
    ts = s.handshake(at(40.0))
    req = (
        f"GET /api/firmware/check?model={cam2.model}&ver=V5.6.2 HTTP/1.1\r\nHost: {fw}\r\n"
        "User-Agent: Hikvision IPCamera\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    ts = s.send(ts, True, req.encode())
    body = b'{"code":0,"upgrade":false}'
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ts = s.send(ts + 30_000, False, resp + body)
    s.close(ts)
    return cap


# --- 6. several interfaces with different link types in one pcapng -------------------------------


def _sll(src_mac: str, dst_mac: str, vlan: tuple[int, ...], l3: Packet) -> Packet:
    """Linux cooked (SLL) framing as `tcpdump -i any` records it on the router."""
    if src_mac == ROUTER:
        pkttype = 4  # sent by us
    elif dst_mac.startswith("01:00:5e"):
        pkttype = 2  # multicast
    else:
        pkttype = 0  # to us
    proto = 0x86DD if isinstance(l3, IPv6) else 0x0800
    src = bytes.fromhex(src_mac.replace(":", "")) + b"\0\0"
    return CookedLinux(pkttype=pkttype, lladdrtype=1, lladdrlen=6, src=src, proto=proto) / l3


def _raw(src_mac: str, dst_mac: str, vlan: tuple[int, ...], l3: Packet) -> Packet:
    return l3


def mixed_interfaces() -> Capture:
    """Interface 0 Ethernet, 1 Linux cooked (ns timestamps), 2 raw IP (a VPN tunnel) in one pcapng."""
    cap = Capture(seed=6)
    gw = Host(ROUTER, "10.80.0.1")
    nvr = Host("44:19:b6:6e:80:02", "10.80.0.2")
    cam_a = hik_camera("10.80.0", 51, 2, SADP2)
    cam_b = hik_camera("10.80.0", 52, 1, SADP1)

    cap.link, cap.ifid = l2, 0
    sadp_round(cap, 1.0, nvr, [cam_a], gw.ip)
    for k in range(4):  # the Hikvision SDK port, 8000/TCP, towards a CN server
        s = TcpSession(cap, cam_a.host, remote(CN_SERVER), 8000)
        ts = s.handshake(at(5 + k * 20))
        ts = s.send(ts, True, struct.pack("!I", 32) + cap.rng.randbytes(28))
        ts = s.send(ts + 2000, False, bytes.fromhex("00000010") + cap.rng.randbytes(12))
        s.close(ts)

    cap.link, cap.ifid = _sll, 1
    sadp_round(cap, 1.2, nvr, [cam_b], gw.ip)
    name = "stream.hk-p2p.example"
    cap.dns(at(6.0), cam_b.host, gw, name, [(name, "A", HK_SERVER)])
    tls_session(cap, 6.1, cam_b.host, remote(HK_SERVER), name, exchanges=2)

    cap.link, cap.ifid = _raw, 2
    vpn = Host("00:00:00:00:00:00", "10.90.0.5")
    tls_session(cap, 8.0, vpn, remote(GB_SERVER), "portal.uk-office.example", exchanges=2)
    tls_session(cap, 30.0, vpn, remote(CN_OTHER), "www.cn-news.example", exchanges=2)
    return cap


# --- 7. UK cameras talking only to a UK server ----------------------------------------------------


def uk_only_cameras() -> Capture:
    """Hikvision cameras reaching only a GB monitoring server, and a Windows PC doing WS-Discovery."""
    cap = Capture(seed=7)
    gw = Host(ROUTER, "10.100.0.1")
    nvr = Host("58:50:ed:6e:a0:02", "10.100.0.2")
    cams = [hik_camera("10.100.0", 11 + i, i, SADP2) for i in range(2)]  # 2: below the fleet threshold
    sadp_round(cap, 1.0, nvr, cams, gw.ip)
    pc = Host("28:18:78:3b:a0:c8", "10.100.0.200")
    wsdp = 'xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof"'
    for k in range(3):
        msg = f"b1c6a9d2-4e3f-4a5b-8c7d-{k:012d}"
        cap.udp(
            at(2 + k * 60),
            pc,
            Host("01:00:5e:7f:ff:fa", "239.255.255.250"),
            51000 + k,
            3702,
            wsd_probe(msg, "wsdp:Device", wsdp),
        )
        pc6 = Host(pc.mac, slaac("fe80:", pc.mac))
        cap.udp(
            at(2.01 + k * 60),
            pc6,
            Host("33:33:00:00:00:0c", "ff02::c"),
            51100 + k,
            3702,
            wsd_probe(msg, "wsdp:Device", wsdp),
        )
    vms = "vms.uk-monitoring.example"
    for i, cam in enumerate(cams):
        cap.dns(at(10 + i), cam.host, gw, vms, [(vms, "A", GB_SERVER)])
        for k in range(5):
            tls_session(cap, 10.1 + i + k * 120, cam.host, remote(GB_SERVER), vms, exchanges=2)
        ntp(cap, 15 + i, cam.host, gw)
    return cap
