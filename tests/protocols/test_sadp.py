"""SADP: the real inquiry and all four real/selftest replies, plus hostile XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import sadp

DATA = Path(__file__).parents[1] / "data" / "active"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_inquiry_matches_the_real_one_byte_for_byte_apart_from_the_uuid() -> None:
    real = load("sadp_probe_inquiry.xml")
    assert sadp.build_inquiry("7621A503-49E6-4FBA-B3F8-CBE1F18E55F4") == real
    fresh_a, fresh_b = sadp.build_inquiry(), sadp.build_inquiry()
    assert fresh_a != fresh_b
    parsed = sadp.parse_sadp(fresh_a)
    assert parsed.kind == "Probe" and parsed.get("Types") == "inquiry"
    assert len(parsed.get("Uuid") or "") == 36


def test_inquiry_rejects_injection() -> None:
    with pytest.raises(ValueError):
        sadp.build_inquiry("</Uuid><Types>update</Types>")


@pytest.mark.parametrize(
    ("name", "model", "serial", "firmware", "mac", "ipv4", "cloud_supported", "cloud_enabled"),
    [
        (
            "sadp_response_1_DS-2CD2320D-I.xml",
            "DS-2CD2320D-I",
            "DS-2CD2320D-I20180919AACHC52932642",
            "V5.5.6 build 180326",
            "44:47:cc:37:ce:81",
            "192.168.1.112",
            True,
            False,
        ),
        (
            "sadp_response_2_DS-2CD2385G1-I.xml",
            "DS-2CD2385G1-I",
            "DS-2CD2385G1-I20200414AAWRE33842150",
            "V5.6.2 build 190701",
            "58:50:ed:1f:e3:85",
            "192.168.124.40",
            True,
            False,
        ),
        (
            "sadp_response_3_DS-KH6210-L_intercom.xml",
            "DS-KH6210-L",
            "DS-KH6210-serial_number",
            "V1.5.0 build 181114",
            "aa:bb:cc:aa:bb:cc",
            "192.0.0.60",
            None,
            None,
        ),
        (
            "sadp_response_4_universalscanner_selftest_CRLF.xml",
            "Virtual",
            "Virtual-123456789",
            "V1.0 build 200101",
            "00:11:22:33:44:55",
            "240.0.5.0",
            True,
            False,
        ),
    ],
)
def test_real_replies(
    name: str,
    model: str,
    serial: str,
    firmware: str,
    mac: str,
    ipv4: str,
    cloud_supported: bool | None,
    cloud_enabled: bool | None,
) -> None:
    reply = sadp.parse_sadp(load(name))
    assert reply.kind == "ProbeMatch"
    assert (reply.model, reply.serial, reply.firmware, reply.mac, reply.ipv4) == (
        model,
        serial,
        firmware,
        mac,
        ipv4,
    )
    assert reply.activated is True
    assert (reply.cloud_supported, reply.cloud_enabled) == (cloud_supported, cloud_enabled)
    assert (reply.http_port, reply.command_port) == (80, 8000)
    keys = {e.key: e.value for e in sadp.evidence(reply)}
    assert keys["sadp.DeviceDescription"] == model
    assert keys["sadp.SoftwareVersion"] == firmware
    assert keys["sadp.MAC"] == mac


def test_crlf_sample_really_has_crlf() -> None:
    assert b"\r\n" in load("sadp_response_4_universalscanner_selftest_CRLF.xml")


def test_case_variance_missing_fields_and_hello() -> None:
    data = (
        b"<?xml version='1.0'?>\r\n<Hello><devicedescription>DS-7608NI-K2</devicedescription>\r\n"
        b"<ACTIVATED>FALSE</ACTIVATED><hcplatformenable>True</hcplatformenable>"
        b"<softwareversion>V4.30.085, build 200916</softwareversion><mac>BC:AD:28:01:02:03</mac></Hello>"
    )
    reply = sadp.parse_sadp(data)
    assert reply.kind == "Hello"
    assert reply.model == "DS-7608NI-K2"
    assert reply.activated is False
    assert reply.cloud_enabled is True
    assert reply.cloud_supported is None
    assert reply.firmware == "V4.30.085 build 200916"
    assert reply.mac == "bc:ad:28:01:02:03"
    assert reply.serial is None and reply.http_port is None
    assert "sadp.Activated" in {e.key for e in sadp.evidence(reply)}


@pytest.mark.parametrize(
    ("text", "value"), [("flase", False), ("FLASE", False), ("true", True), ("1", True), ("maybe", None)]
)
def test_bool_parsing(text: str, value: bool | None) -> None:
    assert sadp.parse_bool(text) is value


def test_mac_and_firmware_normalisation_edge_cases() -> None:
    assert sadp.normalise_mac("4447.cc37.ce81") == "44:47:cc:37:ce:81"
    assert sadp.normalise_mac("44-47-cc-37-ce") is None
    assert sadp.normalise_mac("zz-47-cc-37-ce-81") is None
    assert sadp.normalise_firmware("V5.4.5") == "V5.4.5"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<ProbeMatch><Uuid>x</Uuid>",  # truncated
        b"<ProbeMatch></ProbeMatch>",  # no fields
        b"\x00\x01\x02",
        b"<ProbeMatch>" + b"<A>1</A>" * 9000 + b"</ProbeMatch>",  # > 64 KiB
    ],
)
def test_broken_replies(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        sadp.parse_sadp(data)
