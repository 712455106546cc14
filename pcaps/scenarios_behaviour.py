"""Behaviour scenarios (issue 13): what the beacon, storm and fleet detectors must and must not report.

- incident_fleet_unknown: 8 Hikvision cameras, 30 quiet minutes, then all start retrying one unknown
  address (no DNS, every SYN unanswered) — the Fiumicino pattern.
- beacon_camera: one camera sends a small UDP keep-alive every 20 s to an address it has no name for.
- clean_fleet_cloud: 6 cameras on Hik-Connect for an hour, keep-alives included, and the cloud's name
  rotating to a new address half-way: no fleet, no beacon, no storm (the false-positive gate).
- alibaba_us_p2p: a Dahua camera doing CS2-style P2P with a server on Alibaba Cloud in the US (no name).
Addresses that matter are real (their country and ASN are checked against hikscan/data/*.mmdb).
"""

from __future__ import annotations

import struct

from genlib import Capture, HikCamera, Host, TcpSession, at, dhip_notify, mcast_mac
from scenarios import (
    DE_AWS,
    ROUTER,
    SADP1,
    SADP2,
    US_AWS_P2P,
    hik_camera,
    ntp,
    p2p_v3,
    remote,
    rtsp_pull,
    sadp_round,
    tls_session,
)

UNKNOWN = "194.87.20.10"  # Qupra B.V., NL (AS203172): no rule knows it, no name leads to it
BEACON_IP = "103.75.190.10"  # Gigabit Hosting, MY (AS55720)
ALIBABA_US = "47.88.20.30"  # Alibaba (US) Technology, US (AS45102): Chinese-owned, located in the US
DHIP_GROUP = "239.255.255.251"


def _cctv_vlan(
    cap: Capture, net: str, n: int, until: float, **kw: object
) -> tuple[Host, Host, list[HikCamera]]:
    """A gateway, an NVR pulling every camera's stream, SADP at the start, NTP to the gateway."""
    gw = Host(ROUTER, f"{net}.1")
    nvr = Host("44:19:b6:6e:00:02", f"{net}.2")
    cams = [hik_camera(net, 11 + i, i, SADP2 if i % 2 else SADP1, **kw) for i in range(n)]
    sadp_round(cap, 2.0, nvr, cams, gw.ip)
    for i, cam in enumerate(cams):
        rtsp_pull(cap, 5 + i * 0.5, nvr, cam.host, until=until, every=300)
        for k in range(int(until // 600)):
            ntp(cap, 30 + i * 3 + k * 600, cam.host, gw)
    return gw, nvr, cams


def incident_fleet_unknown() -> Capture:
    """09:00-09:30 normal; from 09:30 eight cameras retry 194.87.20.10:443 every 30 s, never answered."""
    cap = Capture(seed=8)
    _gw, _nvr, cams = _cctv_vlan(cap, "10.110.0", 8, until=3600)
    target = remote(UNKNOWN)
    for i, cam in enumerate(cams):
        start = 1800 + i * 11
        k = 0
        while start + k * 30 < 3540:
            jitter = cap.rng.uniform(-0.3, 0.3)
            TcpSession(cap, cam.host, target, 443).unanswered_syn(at(start + k * 30 + jitter), tries=3)
            k += 1
    return cap


def beacon_camera() -> Capture:
    """A camera's UDP keep-alive every 20 s (one 5-tuple, answered) to an address no name leads to."""
    cap = Capture(seed=9)
    _gw, _nvr, cams = _cctv_vlan(cap, "10.120.0", 2, until=2700)
    cam, srv = cams[0].host, remote(BEACON_IP)
    t = 60.0
    while t < 2640:
        hello = b"\x5a\xa5\x00\x30" + struct.pack("!I", int(t)) + cap.rng.randbytes(40)
        cap.udp(at(t), cam, srv, 41000, 9010, hello)
        cap.udp(at(t) + 180_000, srv, cam, 9010, 41000, b"\x5a\xa6\x00\x10" + cap.rng.randbytes(12))
        t += 20 + cap.rng.uniform(-0.2, 0.2)
    return cap


def clean_fleet_cloud() -> Capture:
    """Six cameras with Hik-Connect on: DNS, TLS every 15 min, P2P keep-alive every 60 s, for an hour;
    at 09:30 the cloud name resolves to another Frankfurt address."""
    cap = Capture(seed=10)
    gw, _nvr, cams = _cctv_vlan(cap, "10.130.0", 6, until=3600, hc_enabled=True)
    name = "litedev.hik-connect.com"
    elb = "hc-litedev-eu-7d3f9a1c.elb.eu-central-1.amazonaws.com"
    p2p = remote(US_AWS_P2P)
    for i, cam in enumerate(cams):
        for k in range(4):
            t = 10 + i * 4 + k * 900
            address = DE_AWS[0] if t < 1800 else DE_AWS[1]
            if k in (0, 2):
                answers = [(name, "CNAME", elb), (elb, "A", address)]
                cap.dns(at(t - 0.5), cam.host, gw, name, answers, ttl=1800)
            tls_session(cap, t, cam.host, remote(address), name, exchanges=1)
        sport = 50000 + i * 111
        t = 20.0 + i
        first = True
        while t < 3590:
            cap.udp(at(t), cam.host, p2p, sport, 6000, p2p_v3(cap, 0x0B02 if first else 0x0C00, 20))
            cap.udp(at(t) + 95_000, p2p, cam.host, 6000, sport, p2p_v3(cap, 0x0B03 if first else 0x0C01, 12))
            t += 60 + cap.rng.uniform(-1, 1)
            first = False
    return cap


def _cs2(msg: int, body: bytes = b"") -> bytes:
    """A CS2 'PPPP' P2P message: 0xF1, type, big-endian body length, body."""
    return struct.pack("!BBH", 0xF1, msg, len(body)) + body


def alibaba_us_p2p() -> Capture:
    """A Dahua camera (DHIP announcement) does CS2-style P2P with 47.88.20.30:32100 by address, no DNS."""
    cap = Capture(seed=11)
    gw = Host(ROUTER, "10.140.0.1")
    cam = Host("3c:ef:8c:1d:40:21", "10.140.0.21")
    cap.arp(at(0.2), cam, gw)
    cap.udp(at(1.0), cam, Host(mcast_mac(DHIP_GROUP), DHIP_GROUP), 37810, 37810,
            dhip_notify(cam.mac, cam.ip, gw.ip, "7J0A2B3PAZ4C021"))  # fmt: skip
    srv = remote(ALIBABA_US)
    uid = b"DHAA-123456-WXYZA\0\0\0"
    cap.udp(at(3.0), cam, srv, 42100, 32100, _cs2(0x00))  # MSG_HELLO
    addr = struct.pack("!HH4s8x", 2, 42100, bytes([81, 2, 69, 142]))[:16]
    cap.udp(at(3.0) + 120_000, srv, cam, 32100, 42100, _cs2(0x01, addr))  # MSG_HELLO_ACK: our public side
    cap.udp(at(3.3), cam, srv, 42100, 32100, _cs2(0x12, uid + cap.rng.randbytes(16)))  # device login
    cap.udp(at(3.3) + 120_000, srv, cam, 32100, 42100, _cs2(0x13, b"\0" * 4))
    for k in range(12):  # keep-alives every 20 s for four minutes: too few to score as a beacon
        t = 20.0 + k * 20
        cap.udp(at(t), cam, srv, 42100, 32100, _cs2(0xE0))
        cap.udp(at(t) + 120_000, srv, cam, 32100, 42100, _cs2(0xE1))
    return cap
