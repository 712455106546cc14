"""Digest-protected read endpoints of the lab devices, for `hikscan audit` (pure functions + state).

Hikvision devices answer ISAPI (`/ISAPI/...`), Dahua devices the CGI API (`/cgi-bin/...`), every
device with ONVIF the device-service Get* operations when the WS-UsernameToken is right. Response
shapes follow the public Hikvision ISAPI, Dahua HTTP API and ONVIF Device Management documents
(see templates/PROVENANCE.md); values come from the profile's AuditSettings.

Authentication is checked for real: RFC 7616 Digest (MD5, qop=auth) against nonces this device
issued, and the WS-Security PasswordDigest. Failed logins count towards the profile's lockout;
a locked account answers 401 with a Hikvision `<userCheck>` lock status (ISAPI) or Dahua's lock
text, even to the right password, until `lock_seconds` pass.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from hikscan.lab import services
from hikscan.lab.profiles import ENDLESS_XML, UNAUTHORIZED_FOREVER, AuditSettings, DeviceProfile

NS_HIK = "http://www.hikvision.com/ver20/XMLSchema"
_DIGEST_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')
_MAX_NONCES = 256


@dataclass
class AuthState:
    """Per-device login bookkeeping: nonces issued, failures, lock, and who asked what."""

    nonces: deque[str] = field(default_factory=lambda: deque(maxlen=_MAX_NONCES))
    failures: int = 0
    locked_until: float = 0.0
    attempts: int = 0  # requests that carried credentials
    lock: threading.Lock = field(default_factory=threading.Lock)


Reply = bytes | Iterator[bytes]


def _response(status: str, body: bytes, ctype: str, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    headers = [
        ("Date", email.utils.formatdate(usegmt=True)),
        *extra,
        ("Content-Type", ctype),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return (f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + body


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def digest_ok(header: str, method: str, settings: AuditSettings, realm: str, state: AuthState) -> bool:
    """Check an `Authorization: Digest …` header (MD5, qop auth or none) against a nonce we issued."""
    if not header.lower().startswith("digest "):
        return False
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _DIGEST_PARAM.finditer(header[7:])
    }
    if params.get("username") != settings.username or params.get("realm") != realm:
        return False
    if params.get("nonce") not in state.nonces:
        return False
    ha1 = _md5(f"{settings.username}:{realm}:{settings.password}")
    ha2 = _md5(f"{method}:{params.get('uri', '')}")
    if params.get("qop") == "auth":
        expect = _md5(f"{ha1}:{params['nonce']}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
    else:
        expect = _md5(f"{ha1}:{params['nonce']}:{ha2}")
    return params.get("response") == expect


def _challenge(p: DeviceProfile, state: AuthState, body: bytes, ctype: str) -> bytes:
    nonce = os.urandom(16).hex()
    state.nonces.append(nonce)
    realm = services.realm(p)
    if p.kind.startswith("dahua"):
        auth = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", opaque="{os.urandom(20).hex()}"'
    else:
        auth = f'Digest qop="auth", realm="{realm}", nonce="{nonce}", stale="FALSE"'
    return _response("401 Unauthorized", body, ctype, (("WWW-Authenticate", auth),))


def _locked_body(p: DeviceProfile, left: int) -> tuple[bytes, str]:
    if p.kind.startswith("dahua"):
        return b"Error\r\nUser locked! Please retry later.\r\n", "text/plain"
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<userCheck version="2.0" xmlns="{NS_HIK}">\n'
        "<statusValue>401</statusValue>\n<statusString>Unauthorized</statusString>\n"
        f"<lockStatus>lock</lockStatus>\n<unlockTime>{left}</unlockTime>\n<retryLoginTime>0</retryLoginTime>\n"
        "</userCheck>\n"
    )
    return xml.encode(), "application/xml"


def _unauthorized_body(p: DeviceProfile, settings: AuditSettings, state: AuthState) -> tuple[bytes, str]:
    if p.kind.startswith("dahua"):
        return b"Error\r\nInvalid Authority!\r\n", "text/plain"
    retry = max(0, settings.lock_after - state.failures) if settings.lock_after else 5
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<userCheck version="2.0" xmlns="{NS_HIK}">\n'
        "<statusValue>401</statusValue>\n<statusString>Unauthorized</statusString>\n"
        f"<lockStatus>unlock</lockStatus>\n<unlockTime>0</unlockTime>\n<retryLoginTime>{retry}</retryLoginTime>\n"
        "</userCheck>\n"
    )
    return xml.encode(), "application/xml"


def handles(p: DeviceProfile, method: str, path: str) -> bool:
    """Does this request belong to the audit endpoints of `p` (ISAPI or Dahua CGI)?"""
    if p.audit is None:
        return False
    route = path.split("?", 1)[0]
    if p.kind.startswith("hikvision"):
        return route.startswith("/ISAPI/")
    if p.kind.startswith("dahua"):
        return route.startswith("/cgi-bin/")
    return False


def http(p: DeviceProfile, method: str, path: str, headers: dict[str, str], state: AuthState) -> Reply:
    """The reply to one ISAPI / CGI request: a challenge, a lock, a failure, or the resource."""
    settings = p.audit
    assert settings is not None
    with state.lock:
        header = headers.get("authorization", "")
        now = time.monotonic()
        if header:
            state.attempts += 1
        if settings.behaviour == UNAUTHORIZED_FOREVER:
            return _challenge(p, state, *_unauthorized_body(p, settings, state))
        if state.locked_until > now:  # the lock status is shown before any login is tried
            return _challenge(p, state, *_locked_body(p, int(state.locked_until - now)))
        if not header:
            return _challenge(p, state, services._html("Document Error: Unauthorized"), "text/html")
        if not digest_ok(header, method, settings, services.realm(p), state):
            state.failures += 1
            if settings.lock_after and state.failures >= settings.lock_after:
                state.locked_until = now + settings.lock_seconds
                return _challenge(p, state, *_locked_body(p, settings.lock_seconds))
            return _challenge(p, state, *_unauthorized_body(p, settings, state))
        state.failures = 0
    if method != "GET":
        return _response("405 Method Not Allowed", b"", "text/plain")
    if settings.behaviour == ENDLESS_XML:
        return _endless_xml()
    if p.kind.startswith("hikvision"):
        body = isapi_resource(p, settings, path.split("?", 1)[0])
        ctype = "application/xml"
    else:
        body = dahua_resource(p, settings, path)
        ctype = "text/plain;charset=utf-8"
    if body is None:
        return _response("404 Not Found", services._html("Document Error: Not Found"), "text/html")
    return _response("200 OK", body, ctype)


def _endless_xml() -> Iterator[bytes]:
    yield (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n"
        b'<?xml version="1.0" encoding="UTF-8"?>\n<DeviceInfo version="2.0" xmlns="'
        + NS_HIK.encode()
        + b'">\n'
    )
    chunk = b"<deviceName>" + b"A" * 65000 + b"</deviceName>\n"
    while True:
        yield chunk


# --- Hikvision ISAPI ----------------------------------------------------------------------------


def _hik_doc(root: str, inner: str) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} version="2.0" xmlns="{NS_HIK}">\n'
    return f"{head}{inner}</{root}>\n".encode()


def _is_ipv4(host: str) -> bool:
    return re.fullmatch(r"[\d.]+", host) is not None


def _addr(host: str) -> str:
    kind = "ipaddress" if _is_ipv4(host) else "hostname"
    tag = "ipAddress" if kind == "ipaddress" else "hostName"
    return f"<addressingFormatType>{kind}</addressingFormatType>\n<{tag}>{escape(host)}</{tag}>\n"


def isapi_resource(p: DeviceProfile, a: AuditSettings, route: str) -> bytes | None:
    version, _, build = p.firmware.partition(" ")
    if route == "/ISAPI/System/deviceInfo":
        return _hik_doc(
            "DeviceInfo",
            (
                f"<deviceName>{escape(p.name)}</deviceName>\n"
                f"<deviceID>{p.endpoint_uuid.rsplit(':', 1)[-1]}</deviceID>\n"
                "<deviceDescription>IPCamera</deviceDescription>\n<deviceLocation>hangzhou</deviceLocation>\n"
                "<systemContact>Hikvision.China</systemContact>\n"
                f"<model>{escape(p.model)}</model>\n<serialNumber>{escape(p.serial)}</serialNumber>\n"
                f"<macAddress>{p.mac}</macAddress>\n<firmwareVersion>{escape(version)}</firmwareVersion>\n"
                f"<firmwareReleasedDate>{escape(build)}</firmwareReleasedDate>\n<encoderVersion>V7.3</encoderVersion>\n"
                "<encoderReleasedDate>build 190625</encoderReleasedDate>\n<bootVersion>V1.3.4</bootVersion>\n"
                "<bootReleasedDate>100316</bootReleasedDate>\n<hardwareVersion>0x0</hardwareVersion>\n"
                f"<deviceType>{'NVR' if p.model.startswith('DS-76') else 'IPCamera'}</deviceType>\n"
                "<telecontrolID>88</telecontrolID>\n<supportBeep>false</supportBeep>\n"
                "<supportVideoLoss>false</supportVideoLoss>\n<firmwareVersionInfo>B-R-G5-0</firmwareVersionInfo>\n"
            ),
        )
    if route == "/ISAPI/System/Network/EZVIZ":
        return _hik_doc(
            "EZVIZ",
            (
                f"<enabled>{str(a.cloud_enabled).lower()}</enabled>\n<registerStatus>{str(a.cloud_registered).lower()}"
                "</registerStatus>\n<redirect>true</redirect>\n"
                f"<serverAddress>\n{_addr(a.cloud_server)}</serverAddress>\n"
                "<verificationCode>LABVCODE</verificationCode>\n<netMode>auto</netMode>\n"
                f"<offlineStatus>{'' if a.cloud_registered else 'timeout'}</offlineStatus>\n"
            ),
        )
    if route == "/ISAPI/System/time":
        return _hik_doc(
            "Time",
            (
                f"<timeMode>{a.time_mode}</timeMode>\n<localTime>{time.strftime('%Y-%m-%dT%H:%M:%S+08:00')}</localTime>\n"
                "<timeZone>CST-8:00:00</timeZone>\n"
            ),
        )
    if route == "/ISAPI/System/time/ntpServers":
        servers = "".join(
            f"<NTPServer>\n<id>{i}</id>\n{_addr(s)}<portNo>123</portNo>\n<synchronizeInterval>1440</synchronizeInterval>\n"
            "</NTPServer>\n"
            for i, s in enumerate(a.ntp_servers, start=1)
        )
        return _hik_doc("NTPServerList", servers)
    if route == "/ISAPI/System/Network/DDNS":
        return _hik_doc(
            "DDNSList",
            (
                f"<DDNS>\n<id>1</id>\n<enabled>{str(a.ddns_enabled).lower()}</enabled>\n<provider>{escape(a.ddns_provider)}"
                f"</provider>\n<serverAddress>\n{_addr(a.ddns_server)}</serverAddress>\n<portNo>0</portNo>\n"
                f"<deviceDomainName>{escape(p.serial[-9:].lower())}</deviceDomainName>\n<userName></userName>\n</DDNS>\n"
            ),
        )
    if route == "/ISAPI/System/Network/UPnP":
        return _hik_doc(
            "UPnP", f"<enabled>{str(a.upnp_enabled).lower()}</enabled>\n<name>{escape(p.name)}</name>\n"
        )
    if route == "/ISAPI/System/Network/UPnP/ports/status":
        ports = "".join(
            f"<portStatus>\n<internalPort>{escape(i)}</internalPort>\n<externalPort>{escape(e)}</externalPort>\n"
            f"<protocol>{proto}</protocol>\n<status>valid</status>\n</portStatus>\n"
            for i, e, proto in (a.upnp_mappings if a.upnp_enabled else ())
        )
        return _hik_doc("portStatusList", ports)
    if route == "/ISAPI/Security/users":
        users = "".join(
            f"<User>\n<id>{i}</id>\n<userName>{escape(n)}</userName>\n<userLevel>{lvl}</userLevel>\n</User>\n"
            for i, (n, lvl) in enumerate(a.users, start=1)
        )
        return _hik_doc("UserList", users)
    if route == "/ISAPI/System/Network/interfaces":
        dns = "".join(
            f"<{t}>\n<ipAddress>{d}</ipAddress>\n</{t}>\n"
            for t, d in zip(("PrimaryDNS", "SecondaryDNS"), a.dns, strict=False)
        )
        gateway = p.ip.rsplit(".", 1)[0] + ".1"
        return _hik_doc(
            "NetworkInterfaceList",
            (
                "<NetworkInterface>\n<id>1</id>\n<IPAddress>\n<ipVersion>dual</ipVersion>\n"
                f"<addressingType>static</addressingType>\n<ipAddress>{p.ip}</ipAddress>\n"
                f"<subnetMask>255.255.255.0</subnetMask>\n<DefaultGateway>\n<ipAddress>{gateway}</ipAddress>\n"
                f"</DefaultGateway>\n{dns}</IPAddress>\n<Link>\n<MACAddress>{p.mac}</MACAddress>\n"
                "<autoNegotiation>true</autoNegotiation>\n<speed>0</speed>\n<duplex>full</duplex>\n<MTU>1500</MTU>\n"
                "</Link>\n</NetworkInterface>\n"
            ),
        )
    return None


# --- Dahua CGI -----------------------------------------------------------------------------------


def _kv(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def dahua_resource(p: DeviceProfile, a: AuditSettings, path: str) -> bytes | None:
    route, _, query = path.partition("?")
    q = dict(part.partition("=")[::2] for part in query.split("&") if part)
    action, name = q.get("action"), q.get("name")
    if route == "/cgi-bin/magicBox.cgi":
        return {
            "getDeviceType": _kv([f"type={p.model}"]),
            "getSoftwareVersion": _kv([f"version={p.firmware},build:2019-08-21"]),
            "getSerialNo": _kv([f"sn={p.serial}"]),
        }.get(action or "")
    if route == "/cgi-bin/userManager.cgi" and action == "getUserInfoAll":
        lines = []
        for i, (n, group) in enumerate(a.users):
            lines += [
                f"users[{i}].AuthorityList[0]=Monitor",
                f"users[{i}].Group={group}",
                f"users[{i}].Id={i + 1}",
                f"users[{i}].Memo=",
                f"users[{i}].Name={n}",
                f"users[{i}].Reserved=true",
                f"users[{i}].Sharable=true",
            ]
        return _kv(lines)
    if route != "/cgi-bin/configManager.cgi" or action != "getConfig":
        return None
    if name == "T2UServer":
        return _kv([f"table.T2UServer.Enable={str(a.cloud_enabled).lower()}", "table.T2UServer.Type=Easy4IP"])
    if name == "NTP":
        first = a.ntp_servers[0] if a.ntp_servers else ""
        return _kv(
            [
                f"table.NTP.Address={first}",
                f"table.NTP.Enable={str(a.time_mode == 'NTP').lower()}",
                "table.NTP.Port=123",
                "table.NTP.TimeZone=13",
                "table.NTP.TimeZoneDesc=Beijing",
                "table.NTP.UpdatePeriod=10",
            ]
        )
    if name == "DDNS":
        return _kv(
            [
                f"table.DDNS[0].Address={a.ddns_server}",
                f"table.DDNS[0].Enable={str(a.ddns_enabled).lower()}",
                f"table.DDNS[0].HostName={p.serial.lower()}.dahuaddns.com",
                "table.DDNS[0].KeepAlive=10",
                f"table.DDNS[0].Name={a.ddns_provider}",
                "table.DDNS[0].Password=LABDDNSPASS",
                "table.DDNS[0].Port=80",
                f"table.DDNS[0].Protocol={a.ddns_provider}",
                "table.DDNS[0].UserName=none",
            ]
        )
    if name == "UPnP":
        lines = [
            f"table.UPnP.Enable={str(a.upnp_enabled).lower()}",
            "table.UPnP.Mode=Auto",
            "table.UPnP.StartDeviceDiscover=false",
        ]
        for i, (inner, outer, proto) in enumerate(a.upnp_mappings):
            lines += [
                f"table.UPnP.MapTable[{i}].Enable=true",
                f"table.UPnP.MapTable[{i}].InnerPort={inner}",
                f"table.UPnP.MapTable[{i}].OuterPort={outer}",
                f"table.UPnP.MapTable[{i}].Protocol={proto}",
                f"table.UPnP.MapTable[{i}].ServiceName={'HTTP' if inner == '80' else 'TCP'}",
            ]
        return _kv(lines)
    return _kv(["Error", "Bad Request!"])  # unknown config names: Dahua answers 200 with this text
