"""Audit parsers on the lab's documentation-shaped replies, on broken bytes, and under Hypothesis.

Invariant for every parser: return a value or raise MalformedInput, whatever the bytes.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hikscan.active.audit import dahua, isapi, onvif
from hikscan.errors import MalformedInput
from hikscan.lab import audit as lab
from hikscan.lab import auditonvif, responses
from hikscan.lab.profiles import default_lab

PROFILES = {p.name: p for p in default_lab()}
NVR = PROFILES["hik-nvr"]
CAM = PROFILES["hik-cam-1"]
DAHUA = PROFILES["dahua-cam"]
AXIS = PROFILES["axis-cam"]


def isapi_body(p, route: str) -> bytes:  # type: ignore[no-untyped-def]
    body = lab.isapi_resource(p, p.audit, route)
    assert body is not None
    return body


def dahua_body(path: str) -> bytes:
    body = lab.dahua_resource(DAHUA, DAHUA.audit, path)  # type: ignore[arg-type]
    assert body is not None
    return body


def onvif_body(action: str) -> bytes:
    if action == "GetDeviceInformation":
        return responses._device_information(AXIS).encode()
    inner = auditonvif.onvif_resource(AXIS, AXIS.audit, action)  # type: ignore[arg-type]
    assert inner is not None
    return responses._soap(inner).encode()


def test_isapi_settings_of_the_exposed_nvr() -> None:
    a = NVR.audit
    assert a is not None
    info = isapi.parse_device_info(isapi_body(NVR, "/ISAPI/System/deviceInfo"))
    assert (info["model"], info["serial"], info["firmware"], info["mac"]) == (
        NVR.model,
        NVR.serial,
        NVR.firmware,
        NVR.mac,
    )
    cloud = isapi.parse_ezviz(isapi_body(NVR, "/ISAPI/System/Network/EZVIZ"))
    assert cloud == {
        "service": "Hik-Connect/EZVIZ",
        "enabled": True,
        "registered": False,
        "server": "litedev.hik-connect.com",
    }
    assert b"LABVCODE" in isapi_body(NVR, "/ISAPI/System/Network/EZVIZ")
    assert "LABVCODE" not in repr(cloud)  # the verification code is never read out
    assert isapi.parse_time(isapi_body(NVR, "/ISAPI/System/time"))["mode"] == "NTP"
    assert isapi.parse_ntp_servers(isapi_body(NVR, "/ISAPI/System/time/ntpServers")) == list(a.ntp_servers)
    ddns = isapi.parse_ddns(isapi_body(NVR, "/ISAPI/System/Network/DDNS"))
    assert (
        ddns["enabled"] is True
        and ddns["providers"] == ["HiDDNS"]
        and ddns["servers"] == ["www.hik-online.com"]
    )
    assert isapi.parse_upnp(isapi_body(NVR, "/ISAPI/System/Network/UPnP")) is True
    ports = isapi.parse_upnp_ports(isapi_body(NVR, "/ISAPI/System/Network/UPnP/ports/status"))
    assert [(m["internal"], m["external"], m["protocol"]) for m in ports] == list(a.upnp_mappings)
    users = isapi.parse_users(isapi_body(NVR, "/ISAPI/Security/users"))
    assert [(u["name"], u["level"]) for u in users] == list(a.users)
    ifaces = isapi.parse_interfaces(isapi_body(NVR, "/ISAPI/System/Network/interfaces"))
    assert ifaces[0]["ip"] == NVR.ip and ifaces[0]["dns"] == list(a.dns) and ifaces[0]["mac"] == NVR.mac


def test_isapi_ntp_by_address_and_disabled_entries() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><NTPServerList version="2.0" '
        b'xmlns="http://www.hikvision.com/ver20/XMLSchema"><NTPServer><id>1</id>'
        b"<addressingFormatType>ipaddress</addressingFormatType><ipAddress>10.1.1.1</ipAddress></NTPServer>"
        b"<NTPServer><id>2</id><enabled>false</enabled><addressingFormatType>hostname</addressingFormatType>"
        b"<hostName>time.windows.com</hostName></NTPServer></NTPServerList>"
    )
    assert isapi.parse_ntp_servers(body) == ["10.1.1.1"]


def test_dahua_settings() -> None:
    a = DAHUA.audit
    assert a is not None
    assert dahua.parse_single(dahua_body("/cgi-bin/magicBox.cgi?action=getDeviceType"), "type") == DAHUA.model
    assert dahua.parse_single(dahua_body("/cgi-bin/magicBox.cgi?action=getSerialNo"), "sn") == DAHUA.serial
    version = dahua.parse_single(dahua_body("/cgi-bin/magicBox.cgi?action=getSoftwareVersion"), "version")
    assert version.startswith(DAHUA.firmware) and "build:" in version
    assert (
        dahua.parse_t2u(dahua_body("/cgi-bin/configManager.cgi?action=getConfig&name=T2UServer"))["enabled"]
        is True
    )
    ntp = dahua.parse_ntp(dahua_body("/cgi-bin/configManager.cgi?action=getConfig&name=NTP"))
    assert ntp == {"enabled": True, "servers": list(a.ntp_servers), "mode": None}
    ddns = dahua.parse_ddns(dahua_body("/cgi-bin/configManager.cgi?action=getConfig&name=DDNS"))
    assert ddns["enabled"] and ddns["servers"] == ["www.dahuaddns.com"]
    assert "LABDDNSPASS" not in repr(ddns)
    upnp = dahua.parse_upnp(dahua_body("/cgi-bin/configManager.cgi?action=getConfig&name=UPnP"))
    assert upnp["enabled"] and [(m["internal"], m["external"]) for m in upnp["mappings"]] == [
        (i, e) for i, e, _ in a.upnp_mappings
    ]
    users = dahua.parse_users(dahua_body("/cgi-bin/userManager.cgi?action=getUserInfoAll"))
    assert [(u["name"], u["level"]) for u in users] == list(a.users)


def test_dahua_real_layout_with_a_server_list() -> None:
    # Layout of a newer Dahua NTP table (ServerList entries), as public client tests record it.
    body = (
        b"table.NTP.Address=time.windows.com\r\ntable.NTP.Enable=true\r\ntable.NTP.Port=123\r\n"
        b"table.NTP.ServerList[0].Address=time.windows.com\r\ntable.NTP.ServerList[0].Enable=true\r\n"
        b"table.NTP.ServerList[1].Address=pool.ntp.org\r\ntable.NTP.ServerList[1].Enable=true\r\n"
        b"table.NTP.ServerList[2].Address=\r\ntable.NTP.TimeZone=25\r\n"
    )
    assert dahua.parse_ntp(body)["servers"] == ["time.windows.com", "pool.ntp.org"]


def test_onvif_settings() -> None:
    a = AXIS.audit
    assert a is not None
    info = onvif.parse_device_information(onvif_body("GetDeviceInformation"))
    assert (info["model"], info["serial"], info["firmware"]) == (AXIS.model, AXIS.serial, AXIS.firmware)
    assert onvif.parse_ntp(onvif_body("GetNTP"))["servers"] == list(a.ntp_servers)
    assert onvif.parse_dns(onvif_body("GetDNS"))["servers"] == list(a.dns)
    assert onvif.parse_dynamic_dns(onvif_body("GetDynamicDNS"))["enabled"] is False
    assert [(u["name"], u["level"]) for u in onvif.parse_users(onvif_body("GetUsers"))] == list(a.users)
    protos = onvif.parse_network_protocols(onvif_body("GetNetworkProtocols"))
    assert {p["name"]: (p["enabled"], p["ports"]) for p in protos}["RTSP"] == (True, [554])


def test_onvif_fault_and_digest() -> None:
    fault = responses._fault("ter:NotAuthorized", "Sender not Authorized").encode()
    assert onvif.is_not_authorized(fault)
    with pytest.raises(MalformedInput, match="fault"):
        onvif.parse_users(fault)
    # WS-Security example values (ONVIF Core spec, UsernameToken): the lab verifies them the same way
    assert onvif.password_digest(b"\x00" * 16, "2026-01-01T00:00:00.000Z", "pw") == onvif.password_digest(
        b"\x00" * 16, "2026-01-01T00:00:00.000Z", "pw"
    )
    cred_body = onvif.envelope("GetUsers", _cred(), 0.0)
    assert auditonvif.token_ok(cred_body, AXIS.audit)  # type: ignore[arg-type]
    assert not auditonvif.token_ok(cred_body, replace(AXIS.audit, password="other"))  # type: ignore[type-var]
    with pytest.raises(ValueError):
        onvif.envelope("SetUser")


def _cred():  # type: ignore[no-untyped-def]
    from hikscan.active.audit.credentials import Credential, Secret

    assert AXIS.audit is not None
    return Credential(Secret(AXIS.audit.username), Secret(AXIS.audit.password), "test")


BROKEN = [
    b"",
    b"\x00\x01\x02",
    b"<html><body>login</body></html>",
    b"<DeviceInfo><model>x</DeviceInfo>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><DeviceInfo>&e;</DeviceInfo>',
    b"<NotTheRightRoot/>",
    b"A" * 300_000,
    b"=\r\n=\r\n",
]
XML_PARSERS = [
    isapi.parse_device_info,
    isapi.parse_ezviz,
    isapi.parse_time,
    isapi.parse_ntp_servers,
    isapi.parse_ddns,
    isapi.parse_upnp,
    isapi.parse_users,
    isapi.parse_interfaces,
    onvif.parse_device_information,
    onvif.parse_ntp,
    onvif.parse_dns,
    onvif.parse_users,
    onvif.parse_network_protocols,
    onvif.parse_dynamic_dns,
]
KV_PARSERS = [
    dahua.parse_kv,
    dahua.parse_t2u,
    dahua.parse_ntp,
    dahua.parse_ddns,
    dahua.parse_upnp,
    dahua.parse_users,
]


@pytest.mark.parametrize(
    "parser", XML_PARSERS + KV_PARSERS, ids=lambda f: f"{f.__module__.rsplit('.', 1)[-1]}.{f.__name__}"
)
@pytest.mark.parametrize("data", BROKEN, ids=range(len(BROKEN)))
def test_broken_bytes_raise_only_malformed_input(parser, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MalformedInput):
        parser(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=2048).map(str.encode))
def test_fuzz_every_parser(data: bytes) -> None:
    for parser in XML_PARSERS + KV_PARSERS + [isapi.parse_upnp_ports]:
        with contextlib.suppress(MalformedInput):
            parser(data)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.text(alphabet="abcT.[]0123456789", max_size=30), st.text(max_size=40)), max_size=40)
)
def test_fuzz_dahua_tables(pairs: list[tuple[str, str]]) -> None:
    body = "\r\n".join(f"{k}={v}" for k, v in pairs).encode()
    for parser in KV_PARSERS:
        with contextlib.suppress(MalformedInput):
            parser(body)
