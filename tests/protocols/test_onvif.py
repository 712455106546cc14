"""WS-Discovery and ONVIF: every real ProbeMatch/Hello/GetDeviceInformation sample, builders, faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hikscan.errors import MalformedInput
from hikscan.protocols import onvif, wsdiscovery
from hikscan.protocols.safexml import parse_xml

DATA = Path(__file__).parents[1] / "data" / "active"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_hikvision_probematch_body() -> None:
    m = wsdiscovery.parse_probe_match(load("onvif_probematch_hikvision_DS-2CD2385G1-I_body.xml"))
    assert m.kind == "ProbeMatch"
    assert m.endpoint == "urn:uuid:aa85c000-6324-11b3-819e-5850ed1fe385"
    assert m.endpoint.endswith("5850ed1fe385")  # Hikvision endpoint UUIDs end in the MAC
    assert m.types == ("dn:NetworkVideoTransmitter", "tds:Device") and m.is_video_transmitter
    assert m.name == "HIKVISION DS-2CD2385G1-I"  # URL-decoded
    assert m.hardware == "DS-2CD2385G1-I"
    assert m.mac == "58:50:ed:1f:e3:85"
    assert m.location == "city/hangzhou"
    assert len(m.scopes) == 8
    assert m.xaddrs[1] == "http://[fe80::5a50:edff:fe1f:e385]/onvif/device_service"
    ev = wsdiscovery.evidence(m)
    assert sum(e.key == "onvif.scope" for e in ev) == 8
    assert ("onvif.xaddr", "http://192.168.124.40/onvif/device_service") in {(e.key, e.value) for e in ev}


def test_dahua_hello() -> None:
    m = wsdiscovery.parse_probe_match(load("onvif_hello_dahua_IPC-HFW2228M-I1-V2.xml"))
    assert m.kind == "Hello"
    assert m.endpoint == "uuid:503b687a-b9d7-474f-a2d0-a18c8b25a464"
    assert (m.name, m.hardware, m.location) == ("Dahua", "IPC-HFW2228M-I1-V2", "country/china")
    assert "onvif://www.onvif.org/extension/unique_identifier" in m.scopes
    assert m.scope_values("type") == ["Network_Video_Transmitter"]
    assert m.xaddrs == ("http://192.168.1.45/onvif/device_service",) and m.metadata_version == "1"


def test_selftest_probematch_envelope() -> None:
    m = wsdiscovery.parse_probe_match(load("onvif_probematch_universalscanner_selftest.xml"))
    assert m.types == ("Virtual", "tds:Device") and not m.is_video_transmitter
    assert m.scopes == () and m.name is None
    assert m.xaddrs == ("http://240.0.2.0/", "http://[::1]/") and m.metadata_version == "2"


def test_dahua_and_oem_scope_sets() -> None:
    for entry in json.loads(load("onvif_scopes_dahua_and_cpplus_oem.json")):
        scopes = entry["scopes"]
        assert wsdiscovery.scope_values(scopes, "hardware") == [entry["hardware"]]
        assert wsdiscovery.scope_values(scopes, "extension") == ["unique_identifier/1"]
        assert (
            wsdiscovery.scope_values(scopes, "location")[0].lower() == f"country/{entry['location'].lower()}"
        )
        name = wsdiscovery.scope_values(scopes, "name")[0]
        assert name.replace("_", " ").replace(" ", "") == entry["name"].replace(" ", "")


@pytest.mark.parametrize("types", [wsdiscovery.NVT, wsdiscovery.DEVICE, ""])
def test_probe_builder(types: str) -> None:
    a, b = wsdiscovery.build_probe(types), wsdiscovery.build_probe(types)
    assert a != b  # fresh MessageID
    root = parse_xml(a)
    text = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
    assert text["Action"] == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    assert text["MessageID"].startswith("uuid:")
    assert text.get("Types", "") == types
    assert wsdiscovery.parse_probe_matches(a) == []


def test_probe_builder_rejects_injection() -> None:
    with pytest.raises(ValueError):
        wsdiscovery.build_probe("dn:X</d:Types><evil/>")


@pytest.mark.parametrize(
    ("name", "model", "firmware", "serial"),
    [
        (
            "onvif_getdeviceinformation_dahua_DH-2H3400-ADP.xml",
            "DH-2H3400-ADP",
            "2.811.0000013.0.R, Build Date 2023-12-20",
            "BA07995PHA29A85",
        ),
        (
            "onvif_getdeviceinformation_dahua_IPC-HDW1025C_body.xml",
            "IPC-HDW1025C",
            "2.420.Dahua 00.14.R, build: 2016-06-18",
            "2J01018PAA00813",
        ),
    ],
)
def test_device_information(name: str, model: str, firmware: str, serial: str) -> None:
    info = onvif.parse_device_information(load(name))
    assert (info.manufacturer, info.model, info.firmware, info.serial, info.hardware_id) == (
        "Dahua",
        model,
        firmware,
        serial,
        "1.00",
    )
    assert not info.requires_auth
    assert {e.key: e.value for e in onvif.evidence(info)}["onvif.Model"] == model


FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    b' xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Sender'
    b"</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason>"
    b'<env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body>'
    b"</env:Envelope>"
)


def test_fault_is_a_result() -> None:
    info = onvif.parse_device_information(FAULT)
    assert info.requires_auth and info.model is None
    assert info.fault is not None and info.fault.subcode == "ter:NotAuthorized"
    assert ("onvif.requires_auth", "true") in {(e.key, e.value) for e in onvif.evidence(info)}
    assert onvif.parse_system_date_and_time(FAULT).requires_auth
    other = FAULT.replace(b"ter:NotAuthorized", b"ter:ActionNotSupported").replace(b"not Authorized", b"oops")
    assert not onvif.parse_device_information(other).requires_auth


SDT = b"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
 xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:TimeZone><tt:TZ>CST-8:00:00</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>3</tt:Hour>
<tt:Minute>4</tt:Minute><tt:Second>5</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year><tt:Month>2</tt:Month>
<tt:Day>29</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>
</s:Body></s:Envelope>"""


def test_system_date_and_time() -> None:
    res = onvif.parse_system_date_and_time(SDT)
    assert res.utc == datetime(2024, 2, 29, 3, 4, 5, tzinfo=UTC)
    assert (res.date_time_type, res.timezone) == ("NTP", "CST-8:00:00")
    with pytest.raises(MalformedInput):
        onvif.parse_system_date_and_time(SDT.replace(b"<tt:Day>29", b"<tt:Day>30"))
    with pytest.raises(MalformedInput):
        onvif.parse_system_date_and_time(SDT.replace(b"<tt:Hour>3", b"<tt:Hour>x"))


def test_request_builders() -> None:
    for build, op in (
        (onvif.build_get_device_information, "GetDeviceInformation"),
        (onvif.build_get_system_date_and_time, "GetSystemDateAndTime"),
    ):
        root = parse_xml(build())
        assert [el.tag for el in root.iter()][-1] == "{http://www.onvif.org/ver10/device/wsdl}" + op


@pytest.mark.parametrize(
    "data",
    [b"<a/>", b"<tds:GetDeviceInformationResponse/>", load("onvif_hello_dahua_IPC-HFW2228M-I1-V2.xml")],
)
def test_not_device_information(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        onvif.parse_device_information(data)
