"""Write the malformed-capture corpus: tests/corpus/*.pcap|pcapng and tests/corpus/expected.yaml.

Every file is built byte by byte here (no clock, no unseeded randomness), so two runs give the same
bytes; tests/test_corpus.py checks the committed corpus against a fresh generation. The expected
outcome of each file follows from how it was built (what was put in), never from running hikscan:
exit 0 with counts, or exit 2 with a one-line error.

    python scripts/make_corpus.py [OUTDIR]      # default tests/corpus
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hikscan.lab import capwrite

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "active"
PASSIVE = ROOT / "tests" / "data" / "passive"
REAL = ROOT / "pcaps" / "real"
TS = 1_700_000_000  # 2023-11-14, a fixed capture time

CAM_MAC = bytes.fromhex("bcad28010203")  # Hikvision OUI
PC_MAC = bytes.fromhex("020000000001")
HOSTILE_MAC = bytes.fromhex("020000000064")  # locally administered: no vendor from the OUI
CAMERA = bytes([192, 168, 1, 64])
CAMERA2 = bytes([192, 168, 1, 65])
CLIENT = bytes([192, 168, 1, 10])
RESOLVER = bytes([192, 168, 1, 1])
REMOTE = bytes([203, 0, 113, 10])  # TEST-NET-3
SADP_GROUP = bytes([239, 255, 255, 250])
DHIP_GROUP = bytes([239, 255, 255, 251])
V6_CAM = bytes.fromhex("fe80000000000000bead28fffe010203")
V6_PEER = bytes.fromhex("20010db8000000000000000000000001")

Case = tuple[str, bytes, dict[str, Any]]


# -- frames ----------------------------------------------------------------------------------------
def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(
    src: bytes, dst: bytes, proto: int, l4: bytes, ihl: int = 5, total: int | None = None, frag: int = 0
) -> bytes:
    opts = b"\x01" * max(0, (ihl - 5) * 4)
    length = 20 + len(opts) + len(l4) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 0x1234, frag, 64, proto, 0, src, dst)
    head = head[:10] + struct.pack("!H", _csum(head + opts)) + head[12:]
    return head + opts + l4


def ipv6(src: bytes, dst: bytes, nh: int, payload: bytes, plen: int | None = None) -> bytes:
    n = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, n, nh, 64, src, dst) + payload


def udp(sport: int, dport: int, payload: bytes, ulen: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if ulen is None else ulen, 0) + payload


def tcp(sport: int, dport: int, payload: bytes, flags: int = 0x18, doff: int = 5) -> bytes:
    """A TCP segment without options; doff is written as given (a lie when it is not 5)."""
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, doff << 4, flags, 65535, 0, 0) + payload


def eth(payload: bytes, etype: int = 0x0800, src: bytes = CAM_MAC, dst: bytes = PC_MAC) -> bytes:
    return dst + src + struct.pack("!H", etype) + payload


def udp4(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, smac: bytes = CAM_MAC) -> bytes:
    return eth(ipv4(src, dst, 17, udp(sport, dport, payload)), src=smac)


def tcp4(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, smac: bytes = CAM_MAC) -> bytes:
    return eth(ipv4(src, dst, 6, tcp(sport, dport, payload)), src=smac)


# -- containers ------------------------------------------------------------------------------------
def pcap_header(linktype: int = 1, snaplen: int = 65535, e: str = "<", ns: bool = False) -> bytes:
    return capwrite.pcap_header(linktype, snaplen, ns, big=e == ">")


def pcap_record(i: int, data: bytes, caplen: int | None = None, wirelen: int | None = None) -> bytes:
    return capwrite.pcap_record(TS + i, i * 1000, data, caplen, wirelen)


def pcap(frames: list[bytes], linktype: int = 1, snaplen: int = 65535) -> bytes:
    return pcap_header(linktype, snaplen) + b"".join(pcap_record(i, f) for i, f in enumerate(frames))


def block(btype: int, body: bytes, length: int | None = None) -> bytes:
    return capwrite.block(btype, body, length=length)


def shb(bom: int = capwrite.BOM) -> bytes:
    return capwrite.shb(bom=bom)


def idb(linktype: int, snaplen: int = 0, tsresol: int | None = None, tsoffset: int | None = None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += capwrite.option(9, bytes([tsresol]))
    if tsoffset is not None:
        opts += capwrite.option(14, struct.pack("<q", tsoffset))
    return capwrite.idb(linktype, snaplen, opts + (capwrite.option(0, b"") if opts else b""))


def epb(
    iface: int, i: int, data: bytes, caplen: int | None = None, length: int | None = None, ts_units: int = -1
) -> bytes:
    units = (TS + i) * 1_000_000 if ts_units < 0 else ts_units
    return capwrite.epb(iface, units, data, caplen, len(data), length=length)


def real_records(path: Path, limit: int) -> list[bytes]:
    """Frames of the first `limit` records of a real little-endian µs pcap (walked with struct)."""
    raw = path.read_bytes()
    assert raw[:4] == struct.pack("<I", 0xA1B2C3D4), path
    out: list[bytes] = []
    pos = 24
    while pos + 16 <= len(raw) and len(out) < limit:
        caplen = struct.unpack_from("<I", raw, pos + 8)[0]
        out.append(raw[pos + 16 : pos + 16 + caplen])
        pos += 16 + caplen
    return out


# -- payloads --------------------------------------------------------------------------------------
def dns_good() -> bytes:
    return (DATA / "pcap_dlinkcam_dns_response_ntp1_dlink_116.bin").read_bytes()


def dns_loops() -> list[bytes]:
    """A name that points at itself, and two names that point at each other."""
    head = struct.pack("!HHHHHH", 0x1111, 0x8180, 1, 1, 0, 0)
    self_loop = (
        head + b"\xc0\x0c" + b"\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01\0\0\0\x3c\x00\x04\xc0\0\x02\x01"
    )
    # question name "a" + pointer to offset 12 (itself, one label later): a two-step loop
    two_step = head.replace(b"\x11\x11", b"\x22\x22") + b"\x01a\xc0\x0c" + b"\x00\x01\x00\x01"
    return [self_loop, two_step]


def dns_lying_counts() -> list[bytes]:
    """The real ntp1.dlink.com answer with counts that claim more records than it holds."""
    good = dns_good()
    return [
        good[:6] + b"\xff\xff" + good[8:],  # ancount 65535
        good[:2] + b"\x81\x80\xff\xff" + good[6:],  # qdcount 65535
        good[:10] + b"\x00\x05" + good[12:],  # arcount 5, none present
    ]


def client_hello(
    sni: bytes, sni_len_delta: int = 0, ext_len_delta: int = 0, record_len: int | None = None
) -> bytes:
    """A TLS 1.2 ClientHello with a fixed random and one SNI extension; the deltas make lengths lie."""
    name = struct.pack("!BH", 0, len(sni)) + sni
    sni_body = struct.pack("!H", len(name) + sni_len_delta) + name
    ext = struct.pack("!HH", 0, len(sni_body) + ext_len_delta) + sni_body
    hello = (
        b"\x03\x03"
        + bytes(range(32))
        + b"\x00"
        + struct.pack("!H", 4)
        + b"\xc0\x2f\x00\x9c"
        + b"\x01\x00"
        + struct.pack("!H", len(ext))
        + ext
    )
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    n = len(hs) if record_len is None else record_len
    return b"\x16\x03\x01" + struct.pack("!H", n) + hs


def sadp_bomb() -> bytes:
    """The real DS-2CD2385G1-I ProbeMatch with a billion-laughs DTD in front of it."""
    real = (DATA / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes().split(b"?>", 1)[1]
    ents = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return (
        b'<?xml version="1.0"?><!DOCTYPE ProbeMatch ['
        + ents
        + b"]>"
        + real.replace(b"<DeviceDescription>", b"<DeviceDescription>&l9;", 1)
    )


def wsd_bomb() -> bytes:
    """The real ONVIF ProbeMatch with an external entity (XXE) and a quadratic-blowup entity."""
    real = (DATA / "onvif_probematch_universalscanner_selftest.xml").read_bytes().split(b"?>", 1)[1]
    dtd = b'<!DOCTYPE e:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd"><!ENTITY q "' + b"Q" * 2000 + b'">]>'
    return b'<?xml version="1.0"?>' + dtd + real.replace(b"</e:Envelope>", b"&x;&q;&q;&q;</e:Envelope>", 1)


def dhip_lying() -> list[bytes]:
    body = (DATA / "dahua_dhip_response_IPC-HDW1431T1-S4.json").read_bytes()
    hdr = struct.Struct("<I4sIIIIII")
    return [
        hdr.pack(32, b"DHIP", 0, 0, 0x7FFFFFFF, 0, 0x7FFFFFFF, 0) + body,  # claims 2 GiB
        hdr.pack(32, b"DHIP", 0, 0, len(body), 0, len(body) + 1, 0) + body,  # two lengths disagree
        hdr.pack(32, b"DHIP", 0, 0, len(body) + 100, 0, len(body) + 100, 0) + body,  # body shorter
    ]


def discovery_broken() -> list[tuple[int, int, bytes]]:
    """Real DHCP, mDNS, SSDP and CS2 datagrams (tests/data/passive), cut or lying: (sport, dport, payload)."""
    ack = (PASSIVE / "dhcp_ack_hostname_chuangmi_camera.bin").read_bytes()
    mdns = (PASSIVE / "mdns_response_dcs935l_dhnap.bin").read_bytes()
    notify = (PASSIVE / "ssdp_notify_dcs935l.bin").read_bytes()
    login = (PASSIVE / "p2p_cs2_dev_login_crc.bin").read_bytes()
    return [
        (67, 68, ack[:100]),  # DHCP cut inside the fixed header
        (67, 68, ack[:236] + b"\0\0\0\0" + ack[240:]),  # no magic cookie
        (67, 68, ack[:240] + b"\x0c\xffabc"),  # option 12 claims 255 bytes
        (5353, 5353, mdns[:-7]),  # mDNS cut in its last record
        (5353, 5353, mdns[:12] + b"\xc0\x0c" + mdns[14:]),  # a name pointing at itself
        (5353, 5353, mdns[:4] + b"\x7f\xff" + mdns[6:]),  # 32767 questions claimed
        (1900, 1900, notify.replace(b"SERVER:", b"SER VER:")),  # SSDP header line with a space in its name
        (1900, 1900, b"HELLO * HTTP/1.1\r\n\r\n"),  # not an SSDP start line
        (24207, 32100, login[:2] + b"\xff\xff" + login[4:]),  # CS2 length field lies: no signature
    ]


def http_head_64k(first: bytes) -> bytes:
    """A message head of ~64 KiB that never ends (no blank line): far over any parser's limit."""
    line = b"X-Padding: " + b"a" * 500 + b"\r\n"
    return first + line * 126  # 64,638 bytes of headers: the whole IPv4 packet stays under 65,535


# -- the cases -------------------------------------------------------------------------------------
def cases() -> list[Case]:
    out: list[Case] = []

    def add(name: str, data: bytes, **expect: Any) -> None:
        out.append((name, data, expect))

    def error(name: str, data: bytes, message: str, description: str) -> None:
        add(name, data, description=description, exit=2, error=message)

    # Not captures: one-line error, exit 2.
    error("empty.pcap", b"", "is not a pcap or pcapng file (empty file)", "zero bytes")
    error("not_a_capture.pcap", b"%PDF-1.7\n" + b"x" * 100, "unknown magic 25504446", "a PDF, not a capture")
    error("three_bytes.pcap", b"\xd4\xc3\xb2", "is not a pcap or pcapng file", "shorter than any magic")
    error(
        "pcapng_no_shb.pcapng",
        idb(1) + epb(0, 0, udp4(CAMERA, CLIENT, 1, 2, b"x")),
        "unknown magic 01000000",
        "pcapng blocks without the section header block",
    )
    error(
        "pcapng_bad_bom.pcapng",
        shb(bom=0xDEADBEEF) + idb(1),
        "bad pcapng byte-order magic",
        "section header with a byte-order magic that is neither order",
    )

    good = [udp4(RESOLVER, CLIENT, 53, 40000, dns_good(), smac=PC_MAC)] * 3

    # pcap files that end early or whose record lengths lie.
    add(
        "header_only.pcap",
        pcap_header(),
        description="24-byte header, no records",
        exit=0,
        packets=0,
        truncated=False,
    )
    add(
        "header_cut.pcap",
        pcap_header()[:13],
        description="file ends inside the 24-byte header",
        exit=0,
        packets=0,
        truncated=True,
        warning="truncated",
    )
    frames = real_records(REAL / "IoT_Sentinel__D-LinkDayCam_Setup-C-1-STA.pcap", 12)
    whole = pcap(frames)
    add(
        "truncated_mid_record.pcap",
        whole[: len(whole) - len(frames[-1]) // 2],
        description="12 records of a real D-Link camera capture, cut in the middle of the last one",
        exit=0,
        packets=11,
        truncated=True,
        warning="file ends inside a record",
    )
    add(
        "truncated_mid_record_header.pcap",
        whole + pcap_record(99, b"")[:9],
        description="the same 12 records, then 9 bytes of a 16-byte record header",
        exit=0,
        packets=12,
        truncated=True,
        warning="record header",
    )
    add(
        "caplen_huge.pcap",
        pcap_header()
        + b"".join(pcap_record(i, f) for i, f in enumerate(good))
        + pcap_record(3, b"\0" * 64, 0xFFFFFFF0),
        description="three good records, then one claiming 4 GiB captured",
        exit=0,
        packets=3,
        ip_packets=3,
        truncated=True,
        warning="captured bytes (limit",
    )
    add(
        "caplen_over_snaplen.pcap",
        pcap(good, snaplen=64),
        description="snaplen 64 in the header, records of 100+ bytes",
        exit=0,
        packets=3,
        ip_packets=3,
        truncated=False,
        warning="> snaplen 64",
    )
    add(
        "caplen_over_origlen.pcap",
        pcap_header() + b"".join(pcap_record(i, f, wirelen=20) for i, f in enumerate(good)),
        description="records whose captured length exceeds their original length (20)",
        exit=0,
        packets=3,
        ip_packets=3,
        truncated=False,
        warning="> origlen 20",
    )
    add(
        "unknown_linktype.pcap",
        pcap(good, linktype=147),
        description="LINKTYPE_USER0 (147): records read, none decoded",
        exit=0,
        packets=3,
        ip_packets=0,
        non_ip=3,
        malformed=0,
    )

    # IP/TCP/UDP headers that lie; VLAN stacks too deep.
    body = tcp(40000, 80, b"GET / HTTP/1.1\r\n\r\n")
    lying = [
        eth(ipv4(CLIENT, CAMERA, 6, body)[:20].replace(b"\x45", b"\x4f", 1) + body),  # IHL 60 > packet
        eth(bytes([0x43]) + ipv4(CLIENT, CAMERA, 6, body)[1:]),  # IHL 12 < 20
        eth(ipv4(CLIENT, CAMERA, 6, body, total=12)),  # total length < IHL
        eth(bytes([0x65]) + ipv4(CLIENT, CAMERA, 6, body)[1:]),  # version 6 in an IPv4 ethertype
        eth(ipv4(CLIENT, CAMERA, 6, tcp(40000, 80, b"", doff=15))),  # data offset 60 > segment
        eth(ipv4(CLIENT, CAMERA, 6, tcp(40000, 80, b"abc", doff=2))),  # data offset 8 < 20
        eth(ipv4(CLIENT, CAMERA, 6, body[:12])),  # TCP header cut at 12 bytes
        eth(ipv4(CLIENT, CAMERA, 17, b"\x9c\x40\x00")),  # UDP header cut at 3 bytes
        eth(
            b"\x00\x01\x81\x00" * 4 + b"\x00\x01\x08\x00" + ipv4(CLIENT, CAMERA, 6, body), etype=0x8100
        ),  # 5 tags
        eth(b"\x00\x01", etype=0x8100),  # VLAN tag cut
        eth(b"\x45\x00"),  # IPv4 header cut at 2 bytes
        CAM_MAC + PC_MAC[:3],  # Ethernet header cut at 9 bytes
    ]
    passable = [
        eth(ipv4(CLIENT, CAMERA, 6, body, total=4000)),  # total length > captured: a snaplen cut, kept
        eth(ipv4(CLIENT, CAMERA, 17, udp(40000, 53, b"\x00" * 12, ulen=9000))),  # UDP length > packet
        eth(ipv4(CLIENT, CAMERA, 17, udp(40000, 53, b"\x00" * 12, ulen=3))),  # UDP length < 8
    ]
    add(
        "ip_tcp_lengths_lie.pcap",
        pcap(lying + passable),
        description="IPv4 IHL/total length, TCP data offset, UDP length and VLAN stacks that lie",
        exit=0,
        packets=len(lying) + len(passable),
        ip_packets=len(passable),
        malformed=len(lying),
        truncated=False,
    )

    # IPv6 extension-header chains and fragments (IPv4 and IPv6).
    def ext(nh: int, n8: int = 0) -> bytes:
        return bytes([nh, n8]) + b"\x01\x04\0\0\0\0" + b"\0" * (8 * n8)

    dns_udp = udp(53, 40000, dns_good())
    chains = [
        ipv6(V6_PEER, V6_CAM, 0, ext(60) + ext(43) + ext(17) + dns_udp),  # HBH, DstOpts, Routing, UDP: fine
        ipv6(V6_PEER, V6_CAM, 0, b"".join(ext(0) for _ in range(12)) + dns_udp),  # 12 HBH headers
        ipv6(V6_PEER, V6_CAM, 60, ext(17, n8=200)[:16] + dns_udp[:8]),  # DstOpts claims 1608 bytes
        ipv6(V6_PEER, V6_CAM, 0, ext(60)[:5]),  # extension header cut at 5 bytes
        ipv6(V6_PEER, V6_CAM, 51, bytes([17, 255]) + b"\0" * 10),  # AH claims 1028 bytes
        ipv6(V6_PEER, V6_CAM, 17, dns_udp)[:30],  # IPv6 header cut at 30 bytes
    ]
    frag_first = ipv6(V6_PEER, V6_CAM, 44, struct.pack("!BBHI", 17, 0, 1, 7) + dns_udp[:40])
    frag_later = ipv6(V6_PEER, V6_CAM, 44, struct.pack("!BBHI", 17, 0, 5 << 3, 7) + dns_udp[40:])
    v4_first = ipv4(RESOLVER, CLIENT, 17, dns_udp[:40], frag=0x2000)
    v4_later = ipv4(RESOLVER, CLIENT, 17, dns_udp[40:], frag=5)
    add(
        "ipv6_ext_chains.pcapng",
        shb() + idb(1) + idb(229) + b"".join(epb(1, i, f) for i, f in enumerate(chains)),
        description="IPv6 (link type 229) extension-header chains: one valid, five that lie or never end",
        exit=0,
        packets=len(chains),
        ip_packets=1,
        malformed=len(chains) - 1,
        truncated=False,
    )
    add(
        "fragments.pcap",
        pcap([eth(v4_first), eth(v4_later), eth(frag_first, etype=0x86DD), eth(frag_later, etype=0x86DD)]),
        description="a DNS answer split into IPv4 fragments and into IPv6 fragments (not reassembled)",
        exit=0,
        packets=4,
        ip_packets=4,
        fragments=4,
        malformed=0,
    )

    # Random frames from a fixed seed: half anything, half claiming IPv4 with a bad version nibble.
    rng = random.Random(20240601)
    junk = [rng.randbytes(rng.randrange(0, 200)) for _ in range(40)]
    bad4 = [eth(bytes([0x50 | rng.randrange(16)]) + rng.randbytes(rng.randrange(0, 120))) for _ in range(40)]
    add(
        "random_frames.pcap",
        pcap(junk + bad4),
        description="80 frames of seeded random bytes (40 of them behind an IPv4 ethertype, version 5)",
        exit=0,
        packets=80,
        malformed_min=40,
        truncated=False,
    )
    short = [
        (1, 13, 0x45),
        (113, 15, 0x45),
        (276, 19, 0x45),
        (0, 3, 2),
        (108, 2, 0),
        (101, 0, 0),
        (228, 19, 0x45),
        (229, 39, 0x60),
    ]
    add(
        "short_frames_every_linktype.pcapng",
        shb()
        + b"".join(idb(lt) for lt, _, _ in short)
        + b"".join(epb(i, i, bytes([fill]) * n) for i, (_, n, fill) in enumerate(short)),
        description="a frame per linktype (Ethernet, SLL, SLL2, NULL, LOOP, RAW, IPv4, IPv6), all too short",
        exit=0,
        packets=len(short),
        ip_packets=0,
        malformed=len(short),
    )

    # pcapng blocks whose lengths lie.
    ok = shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(good))
    add(
        "pcapng_block_huge.pcapng",
        ok + epb(0, 9, good[0], length=0x7FFFFFF0),
        description="three good packets, then an enhanced packet block claiming 2 GiB",
        exit=0,
        packets=3,
        ip_packets=3,
        truncated=True,
        warning="claims 2147483632 bytes",
    )
    add(
        "pcapng_block_odd_length.pcapng",
        ok + epb(0, 9, good[0], length=37),
        description="a block length that is not a multiple of 4",
        exit=0,
        packets=3,
        truncated=True,
        warning="impossible length 37",
    )
    add(
        "pcapng_block_too_short.pcapng",
        ok + epb(0, 9, good[0], length=8),
        description="a block length below the 12-byte minimum",
        exit=0,
        packets=3,
        truncated=True,
        warning="impossible length 8",
    )
    add(
        "pcapng_block_past_eof.pcapng",
        ok + block(0x0BAD, b"\0" * 16, length=1 << 20),
        description="an unknown block claiming 1 MiB at the end of a small file",
        exit=0,
        packets=3,
        truncated=True,
        warning="file ends inside a block",
    )
    add(
        "pcapng_caplen_beyond_block.pcapng",
        shb() + idb(1) + epb(0, 0, good[0], caplen=5000),
        description="an EPB whose captured length runs past the end of its block",
        exit=0,
        packets=1,
        ip_packets=1,
        truncated=False,
        warning="beyond its block",
    )
    add(
        "pcapng_undeclared_interface.pcapng",
        shb() + idb(1) + epb(0, 0, good[0]) + epb(7, 1, good[1]),
        description="a packet for interface 7 when only interface 0 is declared",
        exit=0,
        packets=1,
        warning="undeclared interface 7",
    )
    add(
        "pcapng_second_section_bad_bom.pcapng",
        ok + shb(bom=0x11223344),
        description="a valid section, then a second section header with a bad byte-order magic",
        exit=0,
        packets=3,
        truncated=True,
        warning="byte-order magic",
    )

    hello = tcp4(CAMERA, REMOTE, 50000, 443, client_hello(b"litedev.hik-connect.com"))
    add(
        "pcapng_timestamp_overflow.pcapng",
        shb() + idb(1, tsresol=0) + epb(0, 0, hello, ts_units=2**63 + 5)
        + idb(1, tsoffset=-(2**62)) + epb(1, 1, hello),
        description="timestamps past year 10000 (if_tsresol 1 s, ts 2^63), before 1970 (if_tsoffset -2^62)",
        exit=0,
        packets=2,
        ip_packets=2,
        findings_min=1,
        warning="has timestamp",
    )  # fmt: skip

    # Payloads that lie, for the analyser's inspectors.
    add(
        "dns_compression_loop.pcap",
        pcap([udp4(RESOLVER, CLIENT, 53, 40000, p, smac=PC_MAC) for p in [*dns_loops(), dns_good()]]),
        description="DNS answers whose names point at themselves, then one real answer",
        exit=0,
        packets=3,
        ip_packets=3,
        malformed=0,
        malformed_payloads_min={"dns": 2},
    )
    add(
        "dns_counts_lie.pcap",
        pcap(
            [udp4(RESOLVER, CLIENT, 53, 40000 + i, p, smac=PC_MAC) for i, p in enumerate(dns_lying_counts())]
        ),
        description="the real ntp1.dlink.com answer with question/answer/additional counts that lie",
        exit=0,
        packets=3,
        ip_packets=3,
        malformed_payloads_min={"dns": 3},
    )
    hellos = [
        client_hello(b"litedev.hik-connect.com", sni_len_delta=300),  # server-name list overruns
        client_hello(b"litedev.hik-connect.com", ext_len_delta=900),  # SNI extension overruns
        client_hello(b"litedev.hik-connect.com", record_len=0xFFFF),  # record over 2^14 + 2048
    ]
    add(
        "tls_client_hello_overrun.pcap",
        pcap([tcp4(CAMERA, REMOTE, 50000 + i, 443, h) for i, h in enumerate(hellos)]),
        description="ClientHellos from a camera whose record, extension and SNI lengths overrun",
        exit=0,
        packets=3,
        ip_packets=3,
        malformed_payloads_min={"tls": 3},
    )
    real_sadp = (DATA / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes()
    add(
        "sadp_xml_bomb.pcap",
        pcap(
            [
                udp4(CAMERA, SADP_GROUP, 37020, 37020, sadp_bomb(), smac=HOSTILE_MAC),
                udp4(CAMERA2, SADP_GROUP, 37020, 37020, real_sadp),
            ]
        ),
        description="a billion-laughs SADP ProbeMatch on UDP 37020, then a real one from another camera",
        exit=0,
        packets=2,
        malformed_payloads_min={"sadp": 1},
        devices=[{"ip": "192.168.1.65", "vendor": "Hikvision"}],
        not_devices=["192.168.1.64"],
    )
    add(
        "wsd_xml_entities.pcap",
        pcap([udp4(CAMERA, SADP_GROUP, 3702, 3702, wsd_bomb(), smac=HOSTILE_MAC)]),
        description="a WS-Discovery ProbeMatch on UDP 3702 with an external entity and entity expansion",
        exit=0,
        packets=1,
        malformed_payloads_min={"wsdiscovery": 1},
        not_devices=["192.168.1.64"],
    )
    add(
        "dhip_length_lies.pcap",
        pcap([udp4(CAMERA, DHIP_GROUP, 37810, 37810, p) for p in dhip_lying()]),
        description="the real IPC-HDW1431T1-S4 DHIP reply, body lengths lying (2 GiB, mismatched, short)",
        exit=0,
        packets=3,
        malformed_payloads_min={"dhip": 3},
    )
    add(
        "http_head_64k.pcap",
        pcap(
            [
                tcp4(CAMERA, CLIENT, 80, 50000, http_head_64k(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n")),
                tcp4(
                    CLIENT,
                    CAMERA,
                    50001,
                    80,
                    http_head_64k(b"GET / HTTP/1.1\r\nHost: 192.168.1.64\r\n"),
                    smac=PC_MAC,
                ),
                tcp4(CAMERA, CLIENT, 554, 50002, b"RTSP/1.0 200 OK\r\nCSeq: banana\r\n\r\n"),
            ]
        ),
        description="HTTP response and request heads running 64 KiB without an end; RTSP reply, bad CSeq",
        exit=0,
        packets=3,
        ip_packets=3,
        malformed_payloads_min={"http": 2, "rtsp": 1},
    )
    broken = discovery_broken()
    add(
        "discovery_lengths_lie.pcap",
        pcap([udp4(CAMERA, SADP_GROUP, sport, dport, p) for sport, dport, p in broken]),
        description="real DHCP, mDNS, SSDP and CS2 P2P datagrams cut or with lying lengths and names",
        exit=0,
        packets=len(broken),
        ip_packets=len(broken),
        malformed=0,
        malformed_payloads_min={"dhcp": 3, "mdns": 3, "ssdp": 2},
    )
    return out


def write(outdir: Path) -> list[Path]:
    """Write every case and expected.yaml into outdir; returns the paths written."""
    outdir.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Any] = {}
    written = []
    for name, data, expect in cases():
        path = outdir / name
        path.write_bytes(data)
        written.append(path)
        expected[name] = expect
    header = "# Generated by scripts/make_corpus.py: do not edit; run the script and commit both.\n"
    text = header + yaml.safe_dump({"files": expected}, sort_keys=True, width=110)
    (outdir / "expected.yaml").write_text(text)
    written.append(outdir / "expected.yaml")
    return written


def main(argv: list[str] | None = None, echo: Callable[[str], object] = print) -> int:
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0]) if args else ROOT / "tests" / "corpus"
    paths = write(outdir)
    echo(f"wrote {len(paths)} files, {sum(p.stat().st_size for p in paths)} bytes, to {outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
