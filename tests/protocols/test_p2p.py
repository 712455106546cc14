"""P2P signatures (rules/signatures.yaml) through the p2p matcher: real datagrams, sides, and near misses."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import mutated

from hikscan.knowledge.rules import default_rules, load_rules
from hikscan.passive.attribution import Attribution
from hikscan.passive.decode import Packet
from hikscan.passive.naming import NameBook
from hikscan.passive.payload import Inspector
from hikscan.protocols import p2p

DATA = Path(__file__).resolve().parents[1] / "data" / "passive"
LOGIN = (DATA / "p2p_cs2_dev_login_crc.bin").read_bytes()
HELLO = (DATA / "p2p_cs2_hello.bin").read_bytes()
TUYA = (DATA / "p2p_tuya_lan_broadcast.bin").read_bytes()
RULES = default_rules()
UDP, TCP = 17, 6


def match(payload: bytes, sport: int, dport: int, proto: int = UDP) -> p2p.P2pHit | None:
    return p2p.match(RULES.signatures, proto, sport, dport, payload)


def test_a_cs2_device_login_names_the_sender_a_cs2_device() -> None:
    hit = match(LOGIN, 24207, 32100)
    assert hit is not None and hit.signature.id == "cs2-pppp-dev-login-crc" and hit.sender_is_device
    assert [(e.key, e.value) for e in p2p.evidence(hit)] == [("p2p.protocol", "cs2-pppp")]


def test_a_hello_marks_the_service_but_not_the_sender() -> None:
    hit = match(HELLO, 24207, 32100)
    assert hit is not None and hit.signature.protocol == "cs2-pppp"
    assert not hit.sender_is_device and p2p.evidence(hit) == []  # apps say hello too


def test_tuya_broadcast_and_its_length_and_trailer_checks() -> None:
    hit = match(TUYA, 49154, 6667)
    assert hit is not None and hit.signature.id == "tuya-lan-udp" and hit.sender_is_device
    assert match(TUYA[:-1], 49154, 6667) is None  # trailer gone
    assert match(TUYA + b"\x00\x00\xaa\x55", 49154, 6667) is None  # length field no longer agrees


def test_miio_reply_comes_from_the_device_port() -> None:
    hello = bytes.fromhex("21310020" + "ff" * 28)
    assert match(hello, 40000, 54321).sender_is_device is False  # type: ignore[union-attr]
    reply = match(hello, 54321, 40000)
    assert reply is not None and reply.role == "server" and reply.sender_is_device


@pytest.mark.parametrize(
    ("payload", "sport", "dport"),
    [
        (LOGIN, 24207, 3478),  # right bytes, wrong port
        (LOGIN[:-1], 24207, 32100),  # length field disagrees
        (b"\xf1", 24207, 32100),
        (b"", 24207, 32100),
        (LOGIN + b"\x00" * 2000, 24207, 32100),  # beyond the scanned size
    ],
)
def test_near_misses_match_nothing(payload: bytes, sport: int, dport: int) -> None:
    assert match(payload, sport, dport) is None


# -- the compiled tables (p2p.Matcher) against the definition (match_reference, Signature.matches) --------
EXAMPLES = [bytes.fromhex(ex["hex"]) for sig in RULES.signatures for ex in sig.examples]
PORTS = sorted({p for sig in RULES.signatures for p in sig.ports} | {0, 53, 443, 40000})


@settings(max_examples=500, deadline=None)
@given(
    mutated([LOGIN, HELLO, TUYA, *EXAMPLES], length_lies=(0, 4, 0x2C, 0xAC)),
    st.sampled_from([UDP, TCP]),
    st.sampled_from(PORTS) | st.integers(0, 65535),
    st.sampled_from(PORTS) | st.integers(0, 65535),
    st.booleans(),
)
def test_the_compiled_matcher_finds_what_the_definition_finds(
    data: bytes, proto: int, sport: int, dport: int, any_port: bool
) -> None:
    fast = p2p.match(RULES.signatures, proto, sport, dport, data, any_port)
    assert fast == p2p.match_reference(RULES.signatures, proto, sport, dport, data, any_port)
    possible = p2p.matcher(RULES.signatures).possible(proto, sport, dport, data)
    assert fast is None or possible  # the cheap test never turns away a payload that matches


def test_every_example_of_every_signature_through_the_compiled_matcher() -> None:
    for sig in RULES.signatures:
        for ex in sig.examples:
            data, port = bytes.fromhex(ex["hex"]), ex.get("port", min(sig.ports, default=40000))
            for proto in (6, 17) if sig.proto is None else (sig.proto,):
                want = p2p.match_reference(RULES.signatures, proto, 40000, port, data)
                assert p2p.match(RULES.signatures, proto, 40000, port, data) == want
                if "expect" not in ex:
                    assert want is not None and want.signature.id == sig.id


EXTRA = """
kind: signatures
rules:
  - id: test-extra-trailer
    status: test
    vendor: Hikvision
    service: a synthetic signature whose only marker is past offset 0 (any first byte)
    protocol: test-extra
    device_side: client
    transport: udp
    ports: [47123]
    markers:
      - {offset: 3, hex: 'c0ffee'}
    trailer: 'beef'
    confidence: 0.5
    source: synthetic, for tests/protocols/test_p2p.py
    examples:
      - {hex: '000102c0ffee0000beef', port: 47123}
  - id: test-extra-tcp-anyport
    status: test
    vendor: Hikvision
    service: a synthetic port-less TCP signature with a first byte and a length field
    transport: tcp
    markers:
      - {offset: 0, hex: '7a7a'}
    length_at: {offset: 2, size: 2}
    confidence: 0.5
    source: synthetic, for tests/protocols/test_p2p.py
    examples:
      - {hex: '7a7a0006aaaa'}
"""


def test_a_signature_added_in_yaml_is_compiled_and_found_by_the_fast_dispatch(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text(EXTRA)
    rules = load_rules(tmp_path)
    trailer, anyport = bytes.fromhex("ff0102c0ffee0000beef"), bytes.fromhex("7a7a0006aaaa")
    hit = p2p.match(rules.signatures, UDP, 40000, 47123, trailer)
    assert hit is not None and hit.signature.id == "test-extra-trailer" and hit.sender_is_device
    assert p2p.match(rules.signatures, UDP, 40000, 47124, trailer) is None
    assert p2p.match(rules.signatures, UDP, 40000, 47123, trailer[:-1]) is None
    hit = p2p.match(rules.signatures, TCP, 40000, 9999, anyport)
    assert hit is not None and hit.signature.id == "test-extra-tcp-anyport"
    assert p2p.match(rules.signatures, TCP, 40000, 9999, anyport + b"\x00") is None  # length field
    # a payload both a port-bound and a port-less signature match: to the port, the port-bound one wins;
    # from it, the port-less one (tried towards the destination port) comes before the source-port one
    both = bytes.fromhex("e20000c0ffee0000623400000000beef")
    for ref in (p2p.match, p2p.match_reference):
        assert ref(rules.signatures, UDP, 40000, 47123, both).signature.id == "test-extra-trailer"  # type: ignore[union-attr]
        assert ref(rules.signatures, UDP, 47123, 40000, both).signature.id == "hik-p2p-v3"  # type: ignore[union-attr]
        assert ref(rules.signatures, UDP, 47123, 40000, both, any_port=False).role == "server"  # type: ignore[union-attr]
    # through the Inspector: a LAN host sending them to an external server
    ins = Inspector(rules, NameBook(), Attribution(rules))
    for proto, dport, data in ((UDP, 47123, trailer), (TCP, 9999, anyport)):
        ins.on_payload(_packet("10.1.0.7", f"198.51.100.{dport % 200}", proto, 40000, dport, data))
    assert ins.signature_hits == {
        ("10.1.0.7", "198.51.100.123"): "test-extra-trailer",
        ("10.1.0.7", "198.51.100.199"): "test-extra-tcp-anyport",
    }
    assert [(e.key, e.value) for e in ins.attribution.evidence["10.1.0.7"]] == [
        ("p2p.protocol", "test-extra")
    ]


def _packet(src: str, dst: str, proto: int, sport: int, dport: int, payload: bytes) -> Packet:
    a, b = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    return Packet(0.0, None, None, (), 4, a, b, proto, sport, dport, 0, 60 + len(payload), payload, 0)
