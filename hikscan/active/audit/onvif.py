"""ONVIF device-service reader with WS-UsernameToken (PasswordDigest): only Get* operations.

GetSystemDateAndTime (unauthenticated by the spec) first, so the token's Created time follows the
device clock; then GetDeviceInformation, GetNetworkProtocols, GetNTP, GetDNS, GetDynamicDNS and
GetUsers (names and levels only). A NotAuthorized fault stops the host like an HTTP 401.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from functools import partial
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from hikscan.active.audit.client import MAX_BODY, AuditClient, HostStop
from hikscan.active.audit.credentials import Credential
from hikscan.active.audit.model import AuditResult
from hikscan.errors import MalformedInput
from hikscan.protocols.safexml import child_text, find_local, local, parse_xml

SOURCE = "audit.onvif"
MAX_ITEMS = 64
NS_ENV = "http://www.w3.org/2003/05/soap-envelope"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
BASE64 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
OPERATIONS = ("GetDeviceInformation", "GetNetworkProtocols", "GetNTP", "GetDNS", "GetDynamicDNS", "GetUsers")


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security UsernameToken profile: Base64(SHA-1(nonce + created + password))."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def envelope(operation: str, credential: Credential | None = None, clock_offset: float = 0.0) -> bytes:
    """A SOAP 1.2 request for one device-service Get* operation, with a UsernameToken if given."""
    if not operation.startswith("Get") or not operation.isalnum():
        raise ValueError(f"not a read operation: {operation}")
    header = ""
    if credential is not None:
        nonce = os.urandom(16)
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=clock_offset)
        created = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        digest = password_digest(nonce, created, credential.password.reveal())
        header = (
            f'<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="{NS_WSSE}" xmlns:wsu="{NS_WSU}">'
            f"<wsse:UsernameToken><wsse:Username>{escape(credential.username.reveal())}</wsse:Username>"
            f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{BASE64}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
            f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{NS_ENV}">{header}'
        f'<s:Body xmlns:tds="{NS_TDS}"><tds:{operation}/></s:Body></s:Envelope>'
    ).encode()


def _body(data: bytes, response: str) -> Element:
    """The `<tds:{response}>` element of a SOAP reply; MalformedInput for a fault or anything else."""
    root = parse_xml(data, max_bytes=MAX_BODY)
    fault = find_local(root, "Fault")
    if fault is not None:
        codes = [(el.text or "").strip() for el in fault.iter() if local(el.tag) == "Value"]
        raise MalformedInput(f"SOAP fault {' '.join(codes)[:80]}")
    el = find_local(root, response)
    if el is None:
        raise MalformedInput(f"no {response} in the reply")
    return el


def is_not_authorized(data: bytes) -> bool:
    try:
        root = parse_xml(data, max_bytes=MAX_BODY)
    except MalformedInput:
        return False
    fault = find_local(root, "Fault")
    return fault is not None and any(
        "notauthorized" in (el.text or "").lower() for el in fault.iter() if local(el.tag) == "Value"
    )


def _bool(text: str | None) -> bool | None:
    return None if text is None else text.strip().lower() == "true"


def _items(parent: Element, name: str) -> list[Element]:
    want = name.lower()
    return [el for el in parent if local(el.tag).lower() == want][:MAX_ITEMS]


def parse_device_time(data: bytes) -> dt.datetime | None:
    el = _body(data, "GetSystemDateAndTimeResponse")
    utc = find_local(el, "UTCDateTime")
    if utc is None:
        return None
    t, d = find_local(utc, "Time"), find_local(utc, "Date")
    try:
        vals = [
            int(child_text(x, n) or "")
            for x, n in ((d, "Year"), (d, "Month"), (d, "Day"), (t, "Hour"), (t, "Minute"), (t, "Second"))
            if x is not None
        ]
        if len(vals) != 6:
            return None
        year, month, day, hour, minute, second = vals
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None


def parse_device_information(data: bytes) -> dict[str, Any]:
    el = _body(data, "GetDeviceInformationResponse")
    return {
        "manufacturer": child_text(el, "Manufacturer"),
        "model": child_text(el, "Model"),
        "firmware": child_text(el, "FirmwareVersion"),
        "serial": child_text(el, "SerialNumber"),
        "hardware": child_text(el, "HardwareId"),
    }


def parse_network_protocols(data: bytes) -> list[dict[str, Any]]:
    el = _body(data, "GetNetworkProtocolsResponse")
    out = []
    for p in _items(el, "NetworkProtocols"):
        ports = [int(x.text) for x in _items(p, "Port") if x.text and x.text.strip().isdigit()]
        out.append(
            {"name": child_text(p, "Name"), "enabled": _bool(child_text(p, "Enabled")), "ports": ports}
        )
    return out


def _hosts(parent: Element, *names: str) -> list[str]:
    out = []
    for name in names:
        for el in _items(parent, name):
            addr = child_text(el, "DNSname") or child_text(el, "IPv4Address") or child_text(el, "IPv6Address")
            if addr:
                out.append(addr)
    return out


def parse_ntp(data: bytes) -> dict[str, Any]:
    el = _body(data, "GetNTPResponse")
    info = find_local(el, "NTPInformation")
    if info is None:
        raise MalformedInput("no NTPInformation")
    from_dhcp = _bool(child_text(info, "FromDHCP"))
    servers = _hosts(info, "NTPFromDHCP") if from_dhcp else _hosts(info, "NTPManual")
    return {"from_dhcp": from_dhcp, "servers": servers}


def parse_dns(data: bytes) -> dict[str, Any]:
    el = _body(data, "GetDNSResponse")
    info = find_local(el, "DNSInformation")
    if info is None:
        raise MalformedInput("no DNSInformation")
    from_dhcp = _bool(child_text(info, "FromDHCP"))
    servers = _hosts(info, "DNSFromDHCP") if from_dhcp else _hosts(info, "DNSManual")
    return {"from_dhcp": from_dhcp, "servers": servers}


def parse_dynamic_dns(data: bytes) -> dict[str, Any]:
    el = _body(data, "GetDynamicDNSResponse")
    info = find_local(el, "DynamicDNSInformation")
    if info is None:
        raise MalformedInput("no DynamicDNSInformation")
    kind = child_text(info, "Type")
    name = child_text(info, "Name")
    return {
        "enabled": None if kind is None else kind != "NoUpdate",
        "providers": [kind] if kind else [],
        "servers": [],
        "domains": [name] if name else [],
    }


def parse_users(data: bytes) -> list[dict[str, Any]]:
    el = _body(data, "GetUsersResponse")
    return [
        {"name": name, "level": child_text(u, "UserLevel")}
        for u in _items(el, "User")
        if (name := child_text(u, "Username"))
    ]


def read(client: AuditClient, result: AuditResult, credential: Credential) -> None:
    result.protocol = "onvif"
    offset = 0.0
    reply = client.soap(envelope("GetSystemDateAndTime"))
    if reply.status == 200:
        try:
            device_now = parse_device_time(reply.body)
            if device_now is not None:
                offset = (device_now - dt.datetime.now(dt.UTC)).total_seconds()
        except MalformedInput:
            pass
    try:
        for op in OPERATIONS:
            reply = client.soap(envelope(op, credential, offset))
            if is_not_authorized(reply.body):
                raise HostStop(
                    "auth_failed", f"credentials rejected ({op}: NotAuthorized fault); not retried"
                )
            result.take(op, reply.status, reply.body, partial(_apply, op, s=result.settings))
    finally:
        _evidence(result)


def _apply(op: str, body: bytes, s: dict[str, Any]) -> None:
    if op == "GetDeviceInformation":
        s["device"] = parse_device_information(body)
    elif op == "GetNetworkProtocols":
        s["protocols"] = parse_network_protocols(body)
    elif op == "GetNTP":
        s["ntp"] = {**parse_ntp(body), "enabled": None}
    elif op == "GetDNS":
        s["dns"] = parse_dns(body)["servers"]
    elif op == "GetDynamicDNS":
        s["ddns"] = parse_dynamic_dns(body)
    elif op == "GetUsers":
        s["users"] = parse_users(body)


def _evidence(result: AuditResult) -> None:
    s = result.settings
    for k in ("manufacturer", "model", "serial", "firmware"):
        result.note(SOURCE, f"audit.device.{k}", s.get("device", {}).get(k))
    for server in s.get("ntp", {}).get("servers", []):
        result.note(SOURCE, "audit.ntp.server", server)
    result.note(SOURCE, "audit.ddns.enabled", s.get("ddns", {}).get("enabled"))
    for p in s.get("protocols", []):
        result.note(SOURCE, "audit.protocol", f"{p['name']} {'on' if p['enabled'] else 'off'} {p['ports']}")
    for u in s.get("users", []):
        result.note(SOURCE, "audit.user", f"{u['name']} ({u.get('level') or '?'})")
    for d in s.get("dns", []):
        result.note(SOURCE, "audit.dns.server", d)
