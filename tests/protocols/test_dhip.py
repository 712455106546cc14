"""Dahua DHIP (37810) and legacy 5050 discovery: the real request, the real reply, selftest vectors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import dhip

DATA = Path(__file__).parents[1] / "data" / "active"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_search_request_is_the_real_one() -> None:
    real = bytes.fromhex(load("dahua_dhip_search_request_37810.hex").decode().strip())
    assert dhip.build_search() == real
    parsed = dhip.parse_dhip(real)
    assert parsed.method == "DHDiscover.search" and parsed.info == {}


def test_real_reply_body_and_framed() -> None:
    body = load("dahua_dhip_response_IPC-HDW1431T1-S4.json")
    for data in (body, dhip.frame(body)):
        r = dhip.parse_dhip(data)
        assert r.method == "client.notifyDevInfo" and not r.recovered
        assert (r.device_type, r.serial, r.firmware, r.vendor) == (
            "IPC-HDW1431T1-S4",
            "6C01E93PAG69A7D",
            "2.800.0000000.13.R",
            "Private",
        )
        assert r.mac == "08:ed:ed:87:42:7a" and r.ipv4 == "192.168.124.17"
        assert r.get("IPv6Address.LinkLocalAddress") == "fe80::0aed:edff:fe87:427a/64"
        ev = {e.key: e.value for e in dhip.evidence(r)}
        assert ev["dhip.DeviceType"] == "IPC-HDW1431T1-S4" and ev["dhip.MachineName"] == "6C01E93PAG69A7D"
        assert ev["dhip.MAC"] == "08:ed:ed:87:42:7a"


def test_selftest_reply_with_broken_json_is_recovered() -> None:
    data = load("dahua_dhip_37810_response_universalscanner_selftest.bin")
    assert data[4:8] == b"DHIP" and struct.unpack_from("<I", data, 16)[0] == len(data) - 32
    r = dhip.parse_dhip(data)
    assert r.recovered  # its "Version" string is never closed, so json.loads fails
    assert (r.device_type, r.serial, r.vendor, r.mac) == (
        "Virtual (JSON)",
        "123456789",
        "General",
        "00:11:22:33:44:55",
    )
    assert r.ipv4 == "240.0.4.0"


def test_legacy_5050_reply() -> None:
    r = dhip.parse_legacy(load("dahua_5050_binary_response_universalscanner_selftest.bin"))
    assert r.legacy and r.device_type == "Virtual" and r.serial == "123456789"
    assert r.mac == "00:11:22:33:44:55" and r.ipv4 == "240.0.3.0"
    assert r.get("Name") == "Dahua"
    legacy_request = dhip.build_legacy_search()
    assert len(legacy_request) == 32 and legacy_request[0] == 0xA3 and legacy_request[16] == 2


def _framed() -> bytes:
    return dhip.frame(load("dahua_dhip_response_IPC-HDW1431T1-S4.json"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        _framed()[:31],  # truncated header
        _framed()[:-1],  # body shorter than the header says
        _framed() + b"x",  # body longer
        _framed()[:4] + b"DHIQ" + _framed()[8:],  # wrong magic
        _framed()[:24] + struct.pack("<I", 5) + _framed()[28:],  # the two lengths disagree
        dhip.frame(b"[1, 2]"),
        dhip.frame(b"\xff\xfe{}"),
        dhip.frame(b"{" * 60000),  # nesting bomb
        b"x" * 70000,
    ],
)
def test_broken_dhip(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        dhip.parse_dhip(data)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:100],
        lambda b: b"\xa3" + b[1:],
        lambda b: b[:2] + b"\xff" + b[3:],  # section 2 length lies
        lambda b: b + b"\x00",
    ],
)
def test_broken_legacy(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedInput):
        dhip.parse_legacy(mutate(load("dahua_5050_binary_response_universalscanner_selftest.bin")))
