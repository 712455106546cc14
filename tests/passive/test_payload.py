"""Payload inspection: which messages become names, device evidence, signature hits or malformed counts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dns.message
import dns.rrset

from hikscan.knowledge.rules import default_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.protocols.sadp import build_inquiry

DATA = Path(__file__).resolve().parents[1] / "data" / "active"
SADP_REPLY = (DATA / "sadp_response_2_DS-2CD2385G1-I.xml").read_bytes()
CAMERA, RESOLVER, CHINA = "10.1.0.5", "10.1.0.1", "116.62.10.20"


def packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def pkt(src: str, dst: str, proto: int, sport: int, dport: int, payload: bytes, frag: int = 0) -> Packet:
    return Packet(0.0, None, None, (), 4, packed(src), packed(dst), proto, sport, dport, 0, 60 + len(payload),
                  payload, frag)  # fmt: skip


def inspector() -> Inspector:
    rules = default_rules()
    return Inspector(rules, NameBook(), Attribution(rules))


def answer(msg_id: int) -> bytes:
    query = dns.message.make_query("litedev.hik-connect.com", "A")
    query.id = msg_id
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text("litedev.hik-connect.com.", 60, "IN", "A", "52.28.10.20"))
    return response.to_wire()


def test_dns_answers_name_servers_per_client_and_repeat_messages_are_not_reparsed() -> None:
    ins = inspector()
    ins.on_payload(pkt(RESOLVER, CAMERA, 17, 53, 40000, answer(1)))
    ins.on_payload(pkt(RESOLVER, "10.1.0.6", 17, 53, 40001, answer(2)))  # same answer, another id
    assert ins.names.names_for(CAMERA, "52.28.10.20") == [("litedev.hik-connect.com", "dns")]
    assert ins.names.names_for("10.1.0.6", "52.28.10.20") == [("litedev.hik-connect.com", "dns")]
    dns_source = next(s for s in ins.sources if s.name == "dns")
    assert len(dns_source._cache) == 1  # type: ignore[attr-defined]


def test_sadp_reply_is_evidence_but_a_client_inquiry_is_not() -> None:
    ins = inspector()
    ins.on_payload(pkt("10.1.0.9", "239.255.255.250", 17, 37020, 37020, build_inquiry()))
    assert "10.1.0.9" not in ins.attribution.evidence
    ins.on_payload(pkt(CAMERA, "239.255.255.250", 17, 37020, 37020, SADP_REPLY))
    keys = {e.key for e in ins.attribution.evidence[CAMERA]}
    assert {"sadp.DeviceDescription", "sadp.SoftwareVersion", "sadp.DeviceSN"} <= keys


def test_external_hosts_never_get_device_evidence() -> None:
    ins = inspector()
    ins.on_payload(pkt(CHINA, CAMERA, 17, 37020, 37020, SADP_REPLY))
    ins.on_payload(pkt(CHINA, CAMERA, 6, 80, 40000, b"HTTP/1.1 200 OK\r\nServer: DNVRS-Webs\r\n\r\n"))
    assert ins.attribution.evidence == {}


def test_first_fragments_wait_for_the_whole_datagram() -> None:
    ins = inspector()
    ins.on_payload(pkt(CAMERA, "239.255.255.250", 17, 37020, 37020, SADP_REPLY[:600], frag=1))
    assert ins.attribution.evidence == {} and ins.malformed == {}
    ins.on_payload(pkt(CAMERA, "239.255.255.250", 17, 37020, 37020, SADP_REPLY, frag=3))
    assert CAMERA in ins.attribution.evidence


def test_hostile_payloads_are_counted_not_raised() -> None:
    ins = inspector()
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><ProbeMatch><x>&a;</x></ProbeMatch>'
    ins.on_payload(pkt(CAMERA, "239.255.255.250", 17, 37020, 37020, bomb))
    ins.on_payload(
        pkt(RESOLVER, CAMERA, 17, 53, 40000, b"\x00\x01\x81\x80\x00\x01\x00\x01" + b"\xc0\x0c" * 8)
    )
    ins.on_payload(pkt(CAMERA, CHINA, 6, 40000, 443, b"\x16\x03\x01\xff\xff\x01\x00\xff\xff"))
    assert ins.malformed.get("sadp") == 1 and ins.malformed.get("dns") == 1
    assert ins.attribution.evidence == {}


def test_cloud_signatures_only_towards_external_servers() -> None:
    ins = inspector()
    dhget = b"DHGET /probe/p2psrv HTTP/1.1\r\nCSeq: 1\r\n\r\n"
    ins.on_payload(pkt(CAMERA, "10.1.0.7", 17, 40000, 8800, dhget))
    assert ins.signature_hits == {}
    ins.on_payload(pkt(CAMERA, "47.88.10.20", 17, 40000, 8800, dhget))
    assert list(ins.signature_hits) == [(CAMERA, "47.88.10.20")]


def test_rtsp_requests_are_not_malformed_http_nor_spend_the_pairs_http_budget() -> None:
    """RTSP's OPTIONS starts like an HTTP request; its request line says RTSP/1.0 (real capture: nDPI's
    rtsp.pcap). It was parsed as HTTP, counted malformed, and used up the pair's HTTP parses."""
    from hikscan.capture import open_capture
    from hikscan.passive.decode import Decoder

    path = Path(__file__).resolve().parents[2] / "pcaps" / "real" / "nDPI__rtsp.pcap"
    decoder = Decoder()
    with open_capture(path) as reader:
        options = [
            p for rec in reader if (p := decoder.decode(rec)) is not None and p.payload[:8] == b"OPTIONS "
        ]
    assert options and all(b" RTSP/1.0\r\n" in p.payload.split(b"\n", 1)[0] + b"\n" for p in options)
    ins = inspector()
    for p in options * 10:
        ins.on_payload(p)
    assert ins.malformed == {}
    first = options[0]
    # both ends are internal (10.1.1.10 → 10.2.2.2): the GET is still parsed, its client's User-Agent kept
    get = b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: cam.example\r\nUser-Agent: probe/1\r\n\r\n"
    ins.on_payload(Packet(0.0, None, None, (), 4, first.src, first.dst, 6, first.sport, 80, 0, 100, get, 0))
    assert [e.value for e in ins.attribution.evidence[ins.text(first.src)]] == ["probe/1"]


def test_a_camera_server_pair_costs_the_inspector_one_name_cell_slot() -> None:
    """ClientHellos from 200 cameras to 300 cloud servers (OpenSSL's own bytes): the SNI, the hello count
    (worth_parsing) and any signature of a pair live in its NameBook cell, so inspection grows by one
    dict slot a pair — under 64 bytes, where three tables keyed by (client, server) took ~230."""
    import random
    import tracemalloc

    from samples import client_hello

    rng = random.Random(3)
    hellos = [client_hello(name) for name in ("litedev.hik-connect.com", "dev.ezvizlife.com")]
    cameras = [packed(f"192.168.{i // 250}.{i % 250 + 1}") for i in range(200)]
    servers = [packed(f"47.88.{i // 256}.{i % 256}") for i in range(300)]
    ins = inspector()
    for i, server in enumerate(servers):  # every address seen once first: the address caches are not per pair
        ins.on_payload(pkt(ins.text(cameras[i % 200]), ins.text(server), 6, 40000, 443, hellos[0]))
    before_pairs = ins.names.pair_count
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(30_000):
            src, dst = rng.choice(cameras), rng.choice(servers)
            ins.on_payload(
                Packet(0.0, None, None, (), 4, src, dst, 6, 40000, 443, 0, 600, rng.choice(hellos), 0)
            )
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    pairs = ins.names.pair_count - before_pairs
    assert pairs > 20_000 and ins.names.dropped == 0
    assert grown / pairs < 64, f"{grown / pairs:.0f} bytes a pair"


def test_an_ipv6_dns_packet_never_passes_as_an_ipv4_one_already_settled() -> None:
    """Settled keys are one bytes string: without the address length first, an IPv6 packet whose 32 address
    bytes spell an IPv4 pair and the first 24 bytes of that packet's message would pass as settled."""
    v4 = pkt(RESOLVER, CAMERA, 17, 53, 40000, answer(1))
    body = v4.payload[2:]
    src6, dst6 = v4.src + v4.dst + body[:8], body[8:24]
    v6 = Packet(0.0, None, None, (), 6, src6, dst6, 17, 53, 40000, 0, 100, b"\x00\x02" + body[24:], 0)
    assert v4.src + v4.dst + v4.payload[2:] == v6.src + v6.dst + v6.payload[2:]  # the trap is real
    ins = inspector()
    ins.on_payload(v4)
    ins.on_payload(v4)  # settled now
    assert ins.malformed == {}
    ins.on_payload(v6)  # the tail of a message is no DNS message: inspected, it is counted malformed
    assert ins.malformed == {"dns": 1}


def test_an_intranet_crowd_spends_nothing_of_the_name_book() -> None:
    """Names are kept for external servers only (the report asks for no other): 3,000 LAN hosts fetching a
    page from an intranet server, with a Host header, a ClientHello and a DNS answer for it, leave the
    NameBook empty; each host's requests are still parsed (its User-Agent), at most PARSES_PER_HOST per
    host. A LAN host's request to an external server keeps its name as before."""
    from samples import client_hello

    from hikscan.passive.payload import PARSES_PER_HOST

    ins = inspector()
    intranet = "10.8.0.1"
    hello = client_hello("intranet.example")
    for i in range(3_000):
        host = f"10.9.{i // 250}.{i % 250 + 1}"
        get = f"GET / HTTP/1.1\r\nHost: intranet\r\nUser-Agent: agent/{i}\r\n\r\n".encode()
        ins.on_payload(pkt(host, intranet, 6, 40_000, 80, get))
        ins.on_payload(pkt(host, intranet, 6, 40_001, 443, hello))
    query = dns.message.make_query("intranet.example", "A")
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text("intranet.example.", 60, "IN", "A", intranet))
    ins.on_payload(pkt(RESOLVER, CAMERA, 17, 53, 5353, response.to_wire()))
    assert (ins.names.bytes, ins.names.pair_count, ins.names.by_server) == (0, 0, {})
    assert ins.attribution.evidence["10.9.11.250"][0].value == "agent/2999"
    for n in range(20):  # one host, 20 internal servers: its first PARSES_PER_HOST requests are parsed
        get = f"GET /{n} HTTP/1.1\r\nHost: intranet\r\nUser-Agent: many/{n}\r\n\r\n".encode()
        ins.on_payload(pkt(CAMERA, f"10.8.0.{n + 2}", 6, 40_000, 80, get))
    agents = [e.value for e in ins.attribution.evidence[CAMERA]]
    assert agents == [f"many/{n}" for n in range(PARSES_PER_HOST)]
    ins.on_payload(pkt(CAMERA, CHINA, 6, 40_000, 80, b"GET / HTTP/1.1\r\nHost: dev.hik-connect.com\r\n\r\n"))
    assert ins.names.names_for(CAMERA, CHINA) == [("dev.hik-connect.com", "http-host")]
