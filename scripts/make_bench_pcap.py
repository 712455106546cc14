"""Write a realistic classic-pcap benchmark capture quickly (frames with struct, records with lab.capwrite).

    python scripts/make_bench_pcap.py OUT --packets 1000000 [--seed 1]
                                      [--profile lan|many-findings|many-hosts] [--vlan ID] [--pcapng]
                                      [--link ethernet|sll|sll2|raw]

`lan` (the default): a /16 of LAN hosts (a third of them cameras with the Hikvision OUI 58:50:ed), TCP
and UDP flows, DNS queries and answers, TLS ClientHellos with SNI, RTSP on 554, HTTP, and some flows to
external addresses. `many-findings`: 300 hosts (two thirds of them Hikvision cameras) talking to 300
external addresses in CN, US, DE and elsewhere, most flows leaving the LAN — so most flows become
findings, the case where the report, not the packet loop, decides memory; every million packets brings
50,000 new flows and 100 new remotes, so memory flatness is tested on a growing flow and contact count.
`many-hosts`: a large flat LAN first — 60,000 hosts that each open one short HTTP connection to a LAN
server, closed with a FIN — then, after two minutes of quiet (they time out), many-findings traffic of
400 hosts and 65,000 flows: the evidence, flow and contact tables all full at once (the intranet server's
name is not kept: names are kept for external servers only, so the crowd no longer fills the name table
and hides the fleet's cloud names, as it did before).
Frames are built once per flow as templates, then replayed with rising timestamps, so a million packets
take a few seconds. `--vlan ID` puts an 802.1Q tag on every frame (a trunk port's SPAN); `--pcapng` writes
pcapng (one Ethernet interface, µs, an Enhanced Packet Block per frame), as Wireshark and dumpcap do.
`--link sll|sll2|raw` writes the same packets as `tcpdump -i any` records them (Linux cooked capture v1 or
v2: the sender's MAC, no receiver's) or as a raw-IP interface does (no link header, no VLAN tag).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from hikscan.lab import capwrite

_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")

HIK_OUI = bytes.fromhex("5850ed")
OTHER_OUIS = [bytes.fromhex(x) for x in ("001b21", "3c5ab4", "f0def1", "00e04c", "b827eb", "001132")]
GATEWAY_MAC = bytes.fromhex("00005e0001fe")
EXTERNAL = ["47.88.1.10", "52.58.7.19", "120.55.3.4", "198.51.100.7", "203.0.113.20", "8.8.8.8"]
SNI_NAMES = ["api.hik-connectru.com", "open.ys7.com", "www.example.com", "update.example.net"]


GENERATION = 1_000_000  # many-findings: packets per generation of flows (build_many_findings)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def _frame(smac: bytes, dmac: bytes, src: bytes, dst: bytes, proto: int, l4: bytes, ident: int) -> bytes:
    hdr = _IP.pack(0x45, 0, 20 + len(l4), ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return dmac + smac + b"\x08\x00" + hdr + l4


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return _TCP.pack(sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return _UDP.pack(sport, dport, 8 + len(payload), 0) + payload


def _dns_query(name: str, txid: int) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + q + b"\x00\x01\x00\x01"


def _dns_answer(name: str, txid: int, ip: bytes) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + ip
    return struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + q + b"\x00\x01\x00\x01" + ans


def _client_hello(sni: str) -> bytes:
    name = sni.encode()
    ext_sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext_sni)) + ext_sni
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _tcp_flow(rng: random.Random, c: tuple, s: tuple, first_data: bytes, reply: bytes) -> list[bytes]:
    (cmac, cip, cport), (smac, sip, sport) = c, s
    ident = rng.randrange(65536)
    cs, ss = rng.randrange(1 << 32), rng.randrange(1 << 32)
    out = [
        _frame(cmac, smac, cip, sip, 6, _tcp(cport, sport, cs, 0, 0x02), ident),
        _frame(smac, cmac, sip, cip, 6, _tcp(sport, cport, ss, cs + 1, 0x12), ident + 1),
        _frame(cmac, smac, cip, sip, 6, _tcp(cport, sport, cs + 1, ss + 1, 0x10), ident + 2),
        _frame(cmac, smac, cip, sip, 6, _tcp(cport, sport, cs + 1, ss + 1, 0x18, first_data), ident + 3),
    ]
    for i in range(4):
        seg = _tcp(sport, cport, ss + 1, cs, 0x18, reply)
        out.append(_frame(smac, cmac, sip, cip, 6, seg, ident + 4 + i))
        out.append(_frame(cmac, smac, cip, sip, 6, _tcp(cport, sport, cs, ss, 0x10), ident + 8 + i))
    return out


def build_templates(rng: random.Random, n_hosts: int = 2000, n_flows: int = 20000) -> list[list[bytes]]:
    """Per flow, the frames it is replayed from."""
    hosts = []
    for i in range(n_hosts):
        oui = HIK_OUI if i % 3 == 0 else OTHER_OUIS[i % len(OTHER_OUIS)]
        mac = oui + i.to_bytes(3, "big")
        ip = bytes((10, (i >> 8) & 0xFF, i & 0xFF, 10))
        hosts.append((mac, ip))
    nvr = (HIK_OUI + b"\xff\x00\x01", _ip4("10.255.0.2"))
    dns = (bytes.fromhex("001b21ff0053"), _ip4("10.255.0.53"))
    flows: list[list[bytes]] = []
    for _ in range(n_flows):
        cmac, cip = rng.choice(hosts)
        cport = rng.randrange(32768, 61000)
        kind = rng.random()
        if kind < 0.15:  # DNS
            name = rng.choice(SNI_NAMES)
            txid = rng.randrange(65536)
            ans = _ip4(rng.choice(EXTERNAL))
            flows.append(
                [
                    _frame(cmac, dns[0], cip, dns[1], 17, _udp(cport, 53, _dns_query(name, txid)), txid),
                    _frame(dns[0], cmac, dns[1], cip, 17, _udp(53, cport, _dns_answer(name, txid, ans)), 1),
                ]
            )
        elif kind < 0.40:  # RTSP camera -> NVR pull (NVR is the client)
            req = b"OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 1\r\n\r\n" % ".".join(map(str, cip)).encode()
            rep = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n" + bytes(rng.randrange(200, 1400))
            flows.append(_tcp_flow(rng, (nvr[0], nvr[1], cport), (cmac, cip, 554), req, rep))
        elif kind < 0.55:  # TLS to an external server
            sip = _ip4(rng.choice(EXTERNAL))
            hello = _client_hello(rng.choice(SNI_NAMES))
            rep = bytes(rng.randrange(100, 1400))
            flows.append(_tcp_flow(rng, (cmac, cip, cport), (GATEWAY_MAC, sip, 443), hello, rep))
        elif kind < 0.80:  # LAN HTTP
            smac, sip = rng.choice(hosts)
            req = b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: x\r\n\r\n"
            rep = b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n" + bytes(rng.randrange(50, 1400))
            flows.append(_tcp_flow(rng, (cmac, cip, cport), (smac, sip, 80), req, rep))
        else:  # UDP media / misc
            smac, sip = rng.choice(hosts)
            sport = rng.randrange(1024, 65535)
            flows.append(
                [
                    _frame(cmac, smac, cip, sip, 17, _udp(cport, sport, bytes(rng.randrange(20, 1300))), i)
                    for i in range(6)
                ]
            )
    return flows


def external_pool(rng: random.Random, n: int) -> list[bytes]:
    """n external addresses: Alibaba CN/US, Kingsoft CN, Tencent, AWS DE/US, documentation ranges."""
    prefixes = [
        "120.55",
        "47.88",
        "110.43",
        "43.130",
        "52.58",
        "3.220",
        "198.51",
        "203.0",
        "8.209",
        "114.114",
    ]
    return [
        _ip4(f"{prefixes[i % len(prefixes)]}.{rng.randrange(256)}.{rng.randrange(1, 255)}") for i in range(n)
    ]


def build_many_findings(rng: random.Random, n_hosts: int = 300, n_remotes: int = 300,
                        n_flows: int = 50_000, generation: int = 0) -> list[list[bytes]]:  # fmt: skip
    """Per flow, its frames: most flows go from a camera to an external address (a finding each).
    Each generation (a million packets) has new flows (new client ports) and a third of its remotes new,
    so a longer capture has more flows and more contacts, as real traffic does."""
    hosts = []
    for i in range(n_hosts):
        oui = HIK_OUI if i % 3 else OTHER_OUIS[i % len(OTHER_OUIS)]
        hosts.append((oui + i.to_bytes(3, "big"), bytes((192, 168, (i >> 8) & 0xFF, i & 0xFF or 1))))
    remotes = external_pool(rng, n_remotes)
    if generation:
        fresh = external_pool(random.Random(f"{generation}-remotes"), n_remotes // 3)
        remotes = remotes[: n_remotes - len(fresh)] + fresh
        rng = random.Random(f"{generation}-flows-{rng.random()}")
    flows: list[list[bytes]] = []
    for _ in range(n_flows):
        cmac, cip = rng.choice(hosts)
        cport = rng.randrange(32768, 61000)
        sip = rng.choice(remotes)
        if rng.random() < 0.6:
            hello = _client_hello(rng.choice(SNI_NAMES))
            flows.append(_tcp_flow(rng, (cmac, cip, cport), (GATEWAY_MAC, sip, rng.choice((443, 8443, 7661))),
                                   hello, bytes(rng.randrange(100, 1400))))  # fmt: skip
        else:
            sport = rng.choice((6800, 8800, 32100, 10000 + rng.randrange(5000)))
            flows.append(
                [_frame(cmac, GATEWAY_MAC, cip, sip, 17, _udp(cport, sport, bytes(rng.randrange(20, 600))), i)
                 for i in range(4)]
            )  # fmt: skip
    return flows


def lan_crowd(hosts: int = 60_000) -> list[bytes]:
    """`many-hosts`' first part: per LAN host, one HTTP connection to a LAN server, closed with a FIN."""
    rng = random.Random("crowd")
    server = (bytes.fromhex("020000000101"), _ip4("10.8.0.1"), 80)
    request = b"GET / HTTP/1.1\r\nHost: intranet\r\n\r\n"
    numbers = (n for n in range(1, 1 << 16) if n & 255 not in (0, 255))  # 10.9.0.1 … 10.9.255.254
    frames = []
    for i, n in zip(range(hosts), numbers, strict=False):
        mac, ip = bytes.fromhex("02000000") + i.to_bytes(2, "big"), bytes((10, 9, n >> 8, n & 255))
        flow = _tcp_flow(rng, (mac, ip, 40_000), server, request, b"x" * 100)
        frames += [*flow[:4], _frame(mac, server[0], ip, server[1], 6, _tcp(40_000, 80, 1, 1, 0x11), 1)]
    return frames


LINKTYPES = {"ethernet": 1, "sll": capwrite.LINKTYPE_LINUX_SLL, "sll2": capwrite.LINKTYPE_LINUX_SLL2,
             "raw": capwrite.LINKTYPE_RAW}  # fmt: skip


def _record_writer(
    vlan: int | None, pcapng: bool, link: str = "ethernet"
) -> tuple[bytes, Callable[[int, int, bytes], bytes]]:
    """The file's header and a function (seconds, microseconds, Ethernet frame) -> its record."""
    tag = b"" if vlan is None else b"\x81\x00" + struct.pack("!H", vlan & 0x0FFF)
    linktype = LINKTYPES[link]

    def framed(frame: bytes) -> bytes:
        return capwrite.relinked(frame[:12] + tag + frame[12:] if tag else frame, linktype)

    if pcapng:
        header = capwrite.shb() + capwrite.idb(linktype)
        return header, lambda sec, usec, frame: capwrite.epb(0, sec * 1_000_000 + usec, framed(frame))
    header = capwrite.pcap_header(linktype)
    return header, lambda sec, usec, frame: capwrite.pcap_record(sec, usec, framed(frame))


def write_capture(
    out: Path,
    packets: int,
    seed: int = 1,
    profile: str = "lan",
    vlan: int | None = None,
    pcapng: bool = False,
    link: str = "ethernet",
) -> int:
    """Write `packets` records to `out`; returns the file size."""
    rng = random.Random(seed)
    crowd: list[bytes] = []
    if profile == "many-hosts":
        crowd = lan_crowd()[:packets]
        flows = build_many_findings(rng, n_hosts=400, n_flows=65_000)
    else:
        flows = build_many_findings(rng) if profile == "many-findings" else build_templates(rng)
    cursor = [0] * len(flows)
    weights = [rng.paretovariate(1.2) for _ in flows]
    ts_us = 1_700_000_000 * 1_000_000
    header, pack = _record_writer(vlan, pcapng, link)
    with out.open("wb") as fh:
        fh.write(header)
        stamps = (ts_us + 200 * k for k in range(1, len(crowd) + 1))  # 200 µs apart
        fh.write(b"".join(pack(t // 1_000_000, t % 1_000_000, f) for t, f in zip(stamps, crowd, strict=True)))
        if crowd:  # then quiet: the crowd's flows close (FIN, then 30 s)
            ts_us += 200 * len(crowd) + 120 * 1_000_000
        left = packets - len(crowd)
        while left:
            done = packets - left
            if profile == "many-findings" and done and done % GENERATION == 0:
                flows = build_many_findings(random.Random(seed), generation=done // GENERATION)
                cursor = [0] * len(flows)
            n = min(left, 100_000)
            picks = rng.choices(range(len(flows)), weights=weights, k=n)
            parts = []
            for fi in picks:
                frames = flows[fi]
                frame = frames[cursor[fi] % len(frames)]
                cursor[fi] += 1
                ts_us += 37
                parts.append(pack(ts_us // 1_000_000, ts_us % 1_000_000, frame))
            fh.write(b"".join(parts))
            left -= n
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=("lan", "many-findings", "many-hosts"), default="lan")
    ap.add_argument("--vlan", type=int, help="an 802.1Q tag with this VLAN ID on every frame")
    ap.add_argument("--pcapng", action="store_true", help="write pcapng instead of classic pcap")
    ap.add_argument("--link", choices=sorted(LINKTYPES), default="ethernet", help="the link layer written")
    args = ap.parse_args(argv)
    size = write_capture(args.out, args.packets, args.seed, args.profile, args.vlan, args.pcapng, args.link)
    print(f"wrote {args.packets} packets, {size / 2**20:.1f} MiB to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
