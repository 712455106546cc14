"""P2P signatures (rules/signatures.yaml) through the p2p matcher: real datagrams, sides, and near misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.knowledge.rules import default_rules
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
