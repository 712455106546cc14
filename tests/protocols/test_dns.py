"""DNS: real answers from the D-Link capture (CNAME chain, mDNS cache-flush) and hostile messages."""

from __future__ import annotations

import struct
from pathlib import Path

import dns.message
import dns.rrset
import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols.dns import evidence, parse_dns

DATA = Path(__file__).parents[1] / "data" / "active"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_real_cname_chain_maps_addresses_to_the_asked_name() -> None:
    res = parse_dns(load("pcap_dlinkcam_dns_response_signal_mydlink_cname_186.bin"))
    assert res.is_response and res.rcode == 0
    assert res.questions == ("signal.mydlink.com",)
    assert res.cnames == (("signal.mydlink.com", "signal.auto.mydlink.com"),)
    assert res.cname_targets == ("signal.auto.mydlink.com",)
    assert len(res.answers) == 18
    assert {name for name, _, _ in res.answers} == {"signal.mydlink.com"}
    assert ("signal.mydlink.com", "54.194.162.25", 36) in res.answers
    assert Evidence_values(res) >= {"signal.mydlink.com 54.194.162.25"}


def Evidence_values(res) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.value for e in evidence(res) if e.key == "dns.answer"}


def test_real_query_and_plain_answer() -> None:
    query = parse_dns(load("pcap_dlinkcam_dns_query_signal_mydlink_185.bin"))
    assert not query.is_response and query.questions == ("signal.mydlink.com",) and query.answers == ()
    res = parse_dns(load("pcap_dlinkcam_dns_response_ntp1_dlink_116.bin"))
    assert sorted(ip for _, ip, _ in res.answers) == ["54.186.215.173", "54.86.11.193"]
    assert {ttl for _, _, ttl in res.answers} == {1088}


def test_real_mdns_announcement_with_cache_flush_class() -> None:
    res = parse_dns(load("pcap_dlinkcam_mdns_announce_4.bin"))
    assert res.questions == ()
    assert ("dcs-935l-b0c554255b0e.local", "192.168.0.20", 120) in res.answers


def test_synthetic_two_hop_chain_and_tcp_framing() -> None:
    q = dns.message.make_query("litedev.hik-connect.com", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("litedev.hik-connect.com.", 60, "IN", "CNAME", "x.example.net."))
    r.answer.append(dns.rrset.from_text("x.example.net.", 60, "IN", "CNAME", "d1234.cloudfront.net."))
    r.answer.append(dns.rrset.from_text("d1234.cloudfront.net.", 30, "IN", "A", "203.0.113.7"))
    r.answer.append(dns.rrset.from_text("d1234.cloudfront.net.", 30, "IN", "AAAA", "2001:db8::7"))
    wire = r.to_wire()
    res = parse_dns(wire)
    assert set(res.answers) == {
        ("litedev.hik-connect.com", "203.0.113.7", 30),
        ("litedev.hik-connect.com", "2001:db8::7", 30),
    }
    assert res.cname_targets == ("x.example.net", "d1234.cloudfront.net")
    assert parse_dns(struct.pack("!H", len(wire)) + wire, tcp=True) == res
    with pytest.raises(MalformedInput):
        parse_dns(struct.pack("!H", len(wire) + 5) + wire, tcp=True)


def test_cname_loop_terminates() -> None:
    q = dns.message.make_query("a.example", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("a.example.", 60, "IN", "CNAME", "b.example."))
    r.answer.append(dns.rrset.from_text("b.example.", 60, "IN", "CNAME", "a.example."))
    assert parse_dns(r.to_wire()).answers == ()


def _query_wire() -> bytes:
    return dns.message.make_query("signal.mydlink.com", "A").to_wire()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01",
        _query_wire()[:-3],  # truncated question
        _query_wire()[:12] + b"\xc0\x0c" + _query_wire()[-4:],  # pointer to itself: compression loop
        _query_wire()[:4] + b"\x00\x05" + _query_wire()[6:],  # lying QDCOUNT
        _query_wire() + b"junk",
        b"\x00" * 70000,
    ],
)
def test_broken_messages(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_dns(data)
