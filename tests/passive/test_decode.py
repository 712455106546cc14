"""Header decode: every link type, VLAN/QinQ, IPv4 options and fragments, IPv6 extension headers."""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP, IPOption_RR, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether

from hikscan.passive.decode import Decoder, Packet, ip_text, mac_text

CAM = "58:50:ed:01:02:03"
NVR = "00:1b:21:aa:bb:cc"
TCP_SEG = IP(src="192.0.2.10", dst="198.51.100.7") / TCP(sport=40000, dport=554, flags="PA") / b"OPTIONS x"


def _dec(linktype: int, frame: bytes) -> tuple[Decoder, Packet | None]:
    d = Decoder()
    return d, d.decode_frame(1.5, linktype, frame, len(frame))


def _check_tcp(p: Packet | None) -> None:
    assert p is not None
    assert (ip_text(p.src), ip_text(p.dst), p.proto, p.sport, p.dport) == (
        "192.0.2.10",
        "198.51.100.7",
        6,
        40000,
        554,
    )
    assert p.tcp_flags == 0x18 and p.payload == b"OPTIONS x" and p.version == 4


def test_ethernet_ipv4_tcp_with_padding_dropped() -> None:
    frame = bytes(
        Ether(src=CAM, dst=NVR) / IP(src="192.0.2.10", dst="198.51.100.7") / TCP(sport=40000, dport=554)
    )
    frame += b"\x00" * 6  # Ethernet minimum-size padding is not payload
    d, p = _dec(1, frame)
    assert p is not None and p.payload == b"" and mac_text(p.src_mac) == CAM and mac_text(p.dst_mac) == NVR
    assert d.malformed == 0


def test_ethernet_tcp_payload() -> None:
    _, p = _dec(1, bytes(Ether(src=CAM, dst=NVR) / TCP_SEG))
    _check_tcp(p)


@pytest.mark.parametrize(
    "tags",
    [[Dot1Q(vlan=10)], [Dot1AD(vlan=100), Dot1Q(vlan=20)], ["9100"]],
    ids=["802.1Q", "QinQ-88a8", "9100"],
)
def test_vlan_and_qinq(tags: list) -> None:
    if tags == ["9100"]:  # old QinQ TPID 0x9100 outside an 802.1Q tag, built by hand
        eth = bytes(Ether(src=CAM, dst=NVR))[:12]
        frame = eth + struct.pack("!HHHHH", 0x9100, 5, 0x8100, 7, 0x0800) + bytes(TCP_SEG)
    else:
        pkt = Ether(src=CAM, dst=NVR)
        for t in tags:
            pkt = pkt / t
        frame = bytes(pkt / TCP_SEG)
    _, p = _dec(1, frame)
    _check_tcp(p)
    assert p is not None and len(p.vlans) == (2 if tags == ["9100"] else len(tags))


def test_too_many_vlan_tags_is_malformed() -> None:
    frame = bytes(Ether(src=CAM, dst=NVR, type=0x8100)) + struct.pack("!HH", 1, 0x8100) * 6 + bytes(TCP_SEG)
    d, p = _dec(1, frame)
    assert p is None and d.malformed == 1


def test_linux_sll_and_sll2() -> None:
    sll = bytes(
        CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes.fromhex("5850ed010203") + b"\0\0")
        / TCP_SEG
    )
    _, p = _dec(113, sll)
    _check_tcp(p)
    assert p is not None and mac_text(p.src_mac) == CAM and p.dst_mac is None
    sll2 = bytes(
        CookedLinuxV2(proto=0x0800, ifindex=2, lladdrlen=6, src=bytes.fromhex("5850ed010203") + b"\0\0")
        / TCP_SEG
    )
    _, p = _dec(276, sll2)
    _check_tcp(p)
    assert p is not None and mac_text(p.src_mac) == CAM


@pytest.mark.parametrize("linktype", [101, 228, 12])
def test_raw_ipv4(linktype: int) -> None:
    _, p = _dec(linktype, bytes(TCP_SEG))
    _check_tcp(p)


@pytest.mark.parametrize("linktype", [101, 229])
def test_raw_ipv6_udp(linktype: int) -> None:
    frame = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5353, dport=53) / b"q")
    _, p = _dec(linktype, frame)
    assert p is not None and p.version == 6 and ip_text(p.src) == "2001:db8::1" and p.proto == 17
    assert (p.sport, p.dport, p.payload) == (5353, 53, b"q")


def test_ipv4_options_via_ihl() -> None:
    frame = bytes(IP(src="192.0.2.10", dst="198.51.100.7", options=[IPOption_RR()]) / TCP_SEG[TCP])
    assert frame[0] & 0x0F > 5
    _, p = _dec(101, frame)
    _check_tcp(p)


def test_ipv4_fragments_count_first_has_ports_last_is_the_whole_datagram() -> None:
    big = IP(src="192.0.2.10", dst="198.51.100.7", id=7) / UDP(sport=1234, dport=9999) / (b"A" * 3000)
    frags = fragment(big, fragsize=1000)
    assert len(frags) >= 3
    d = Decoder()
    pkts = [d.decode_frame(0.0, 101, bytes(f), len(f)) for f in frags]
    assert d.fragments == len(frags) and d.malformed == 0
    first, middle, last = pkts[0], pkts[1:-1], pkts[-1]
    assert first is not None and first.frag == 1 and (first.sport, first.dport) == (1234, 9999)
    assert all(p is not None and p.frag == 2 and p.payload == b"" and p.sport == 0 for p in middle)
    assert last is not None and last.frag == 3 and (last.sport, last.dport) == (1234, 9999)
    assert bytes(last.payload) == b"A" * 3000


def test_ipv6_extension_headers_walked() -> None:
    frame = bytes(
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting(addresses=["2001:db8::3"])
        / TCP(sport=1, dport=443, flags="S")
    )
    d, p = _dec(229, frame)
    assert (
        p is not None and (p.proto, p.sport, p.dport, p.tcp_flags) == (6, 1, 443, 0x02) and d.fragments == 0
    )


def test_ipv6_fragments() -> None:
    base = IPv6(src="2001:db8::1", dst="2001:db8::2")
    first = bytes(base / IPv6ExtHdrFragment(offset=0, m=1, id=9) / UDP(sport=5, dport=6) / (b"x" * 16))
    later = bytes(base / IPv6ExtHdrFragment(offset=3, m=0, id=9, nh=17) / (b"y" * 16))
    d = Decoder()
    p1 = d.decode_frame(0.0, 229, first, len(first))
    p2 = d.decode_frame(0.0, 229, later, len(later))
    assert d.fragments == 2
    assert p1 is not None and p1.frag == 1 and p1.dport == 6
    # the second fragment completes the datagram (its UDP length, built for the first part alone,
    # bounds the payload to the x bytes)
    assert p2 is not None and p2.frag == 3 and p2.dport == 6 and bytes(p2.payload) == b"x" * 16


def test_non_ip_counted() -> None:
    arp = bytes(Ether(src=CAM, dst="ff:ff:ff:ff:ff:ff", type=0x0806)) + bytes(28)
    d, p = _dec(1, arp)
    assert p is None and d.non_ip == 1 and d.malformed == 0
    d, p = _dec(147, b"\x00" * 40)  # a link type we do not decode
    assert p is None and d.non_ip == 1 and d.unknown_linktypes == {147}


def test_every_truncation_of_a_frame_is_counted_never_raises() -> None:
    frames = [
        bytes(Ether(src=CAM, dst=NVR) / Dot1Q(vlan=3) / TCP_SEG),
        bytes(Ether() / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / TCP()),
    ]
    for frame in frames:
        for cut in range(len(frame)):
            d = Decoder()
            p = d.decode_frame(0.0, 1, frame[:cut], len(frame))
            assert p is None or isinstance(p, Packet)
            assert (p is None) == (d.malformed + d.non_ip == 1), cut


def test_lying_header_lengths_are_malformed() -> None:
    good = bytearray(bytes(TCP_SEG))
    bad_ihl = bytearray(good)
    bad_ihl[0] = 0x4F  # IHL 60 bytes > packet
    bad_doff = bytearray(good)
    bad_doff[20 + 12] = 0xF0  # TCP data offset 60 > rest
    bad_total = bytearray(good)
    bad_total[2:4] = b"\x00\x04"  # total length < IHL
    for frame in (bad_ihl, bad_doff, bad_total):
        d, p = _dec(101, bytes(frame))
        assert p is None and d.malformed == 1


def test_decode_real_sll_capture() -> None:
    from pathlib import Path

    from hikscan.capture import open_capture

    path = Path(__file__).resolve().parents[2] / "pcaps" / "real" / "nDPI__rtsp.pcap"
    d = Decoder()
    with open_capture(path) as r:
        pkts = [p for rec in r if (p := d.decode(rec)) is not None]
    assert d.malformed == 0 and len(pkts) > 500
    assert any(p.dport == 8554 and p.payload.startswith(b"OPTIONS rtsp://") for p in pkts)
    assert any(p.sport == 8554 and p.payload.startswith(b"RTSP/1.0 200") for p in pkts)
