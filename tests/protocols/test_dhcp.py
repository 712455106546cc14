"""DHCP parser: real requests and replies (tests/data/passive), and broken bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import dhcp

DATA = Path(__file__).resolve().parents[1] / "data" / "passive"
ACK = (DATA / "dhcp_ack_hostname_chuangmi_camera.bin").read_bytes()
REQUEST = (DATA / "dhcp_request_dcs935l.bin").read_bytes()


def test_a_servers_ack_names_its_client_not_itself() -> None:
    msg = dhcp.parse_dhcp(ACK)
    assert (msg.op, msg.message_type) == (dhcp.BOOTREPLY, 5)
    assert msg.client_mac == "78:df:72:24:69:4d" and msg.client_ip == "192.168.1.165"
    assert msg.hostname == "chuangmi_camera_060a02"
    assert msg.vendor_class is None and msg.prl == ()  # a reply's options 60/55 would be the server's
    assert [(e.key, e.value) for e in dhcp.evidence(msg)] == [("dhcp.hostname", "chuangmi_camera_060a02")]


def test_a_clients_request_carries_host_name_vendor_class_and_prl() -> None:
    msg = dhcp.parse_dhcp(REQUEST)
    assert msg.from_client and msg.client_mac == "b0:c5:54:25:5b:0e"
    assert msg.client_ip is None  # a DISCOVER from 0.0.0.0 with no requested address
    assert {(e.key, e.value) for e in dhcp.evidence(msg)} == {
        ("dhcp.hostname", "DCS-935L"),
        ("dhcp.vendor_class", "udhcp 1.22.1"),
        ("dhcp.prl", "1,3,6,12,15,28,42"),
    }


def _with_options(options: bytes, op: int = 1) -> bytes:
    return bytes([op]) + REQUEST[1:240] + options + b"\xff"


def test_requested_address_split_options_and_wire_format_fqdn() -> None:
    fqdn = bytes([81, 3 + 12, 0x05, 0, 0]) + b"\x03cam\x07example\x00"
    raw = _with_options(b"\x32\x04\xc0\xa8\x01\x07" + b"\x0c\x03cam" + b"\x0c\x03-01" + fqdn)
    msg = dhcp.parse_dhcp(raw)
    assert msg.client_ip == "192.168.1.7"
    assert msg.hostname == "cam-01"  # RFC 3396: a split option is concatenated
    assert msg.fqdn == "cam.example"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        ACK[:100],  # cut inside the fixed header
        ACK[:236] + b"\x00\x00\x00\x00",  # no magic cookie
        b"\x07" + ACK[1:],  # op neither request nor reply
        ACK[:240] + b"\x0c\x20abc",  # option length past the end
        _with_options(bytes([81, 2, 0, 0])),  # FQDN option shorter than its fixed part
        _with_options(bytes([81, 5, 0x04, 0, 0, 0x50, 0x41])),  # FQDN label longer than 63
        ACK + b"\x00" * dhcp.MAX_DHCP,
    ],
)
def test_broken_bytes_are_malformed_input(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        dhcp.parse_dhcp(raw)
