"""Hikvision ISAPI reader (Digest auth, GET only): device, Hik-Connect/EZVIZ, time/NTP, DDNS, UPnP,
users (names and levels only) and network interfaces.

Parsers are pure functions of the response bytes: bounded (defused XML, size-capped) and raising
only MalformedInput. Secrets a device returns (EZVIZ verification code, DDNS passwords, user
passwords on old firmware) are never read out of the XML.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from xml.etree.ElementTree import Element

from hikscan.active.audit.client import MAX_BODY, AuditClient
from hikscan.active.audit.model import AuditResult
from hikscan.errors import MalformedInput
from hikscan.protocols.safexml import child_text, find_local, local, parse_xml

SOURCE = "audit.isapi"
MAX_ITEMS = 64
ENDPOINTS = (
    ("device", "/ISAPI/System/deviceInfo"),
    ("cloud", "/ISAPI/System/Network/EZVIZ"),
    ("time", "/ISAPI/System/time"),
    ("ntp", "/ISAPI/System/time/ntpServers"),
    ("ddns", "/ISAPI/System/Network/DDNS"),
    ("upnp", "/ISAPI/System/Network/UPnP"),
    ("upnp_ports", "/ISAPI/System/Network/UPnP/ports/status"),
    ("users", "/ISAPI/Security/users"),
    ("interfaces", "/ISAPI/System/Network/interfaces"),
)


def _xml(body: bytes) -> Element:
    return parse_xml(body, max_bytes=MAX_BODY)


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("true", "1", "yes", "on", "enable", "enabled"):
        return True
    if t in ("false", "flase", "0", "no", "off", "disable", "disabled"):
        return False
    return None


def _children(root: Element, name: str) -> list[Element]:
    want = name.lower()
    return [el for el in root.iter() if local(el.tag).lower() == want][:MAX_ITEMS]


def _address(el: Element | None) -> str | None:
    """hostName or ipAddress of an ISAPI address block (whichever its addressingFormatType says)."""
    if el is None:
        return None
    kind = (child_text(el, "addressingFormatType") or "").lower()
    host = child_text(el, "hostName")
    ip = child_text(el, "ipAddress") or child_text(el, "ipv6Address")
    first = host if kind == "hostname" else ip
    return first or host or ip or None


def parse_device_info(body: bytes) -> dict[str, Any]:
    root = _xml(body)
    if local(root.tag) != "DeviceInfo":
        raise MalformedInput(f"expected DeviceInfo, got {local(root.tag)[:40]}")
    version = child_text(root, "firmwareVersion")
    build = child_text(root, "firmwareReleasedDate")
    firmware = f"{version} {build}" if version and build and "build" in build.lower() else version
    return {
        "name": child_text(root, "deviceName"),
        "model": child_text(root, "model"),
        "serial": child_text(root, "serialNumber"),
        "mac": (child_text(root, "macAddress") or "").lower() or None,
        "firmware": firmware,
        "device_type": child_text(root, "deviceType"),
        "manufacturer": "Hikvision",
    }


def parse_ezviz(body: bytes) -> dict[str, Any]:
    root = _xml(body)
    if local(root.tag) != "EZVIZ":
        raise MalformedInput(f"expected EZVIZ, got {local(root.tag)[:40]}")
    server = _address(find_local(root, "serverAddress"))
    return {
        "service": "Hik-Connect/EZVIZ",
        "enabled": _bool(child_text(root, "enabled")),
        "registered": _bool(child_text(root, "registerStatus")),
        "server": server,
    }


def parse_time(body: bytes) -> dict[str, Any]:
    root = _xml(body)
    if local(root.tag) != "Time":
        raise MalformedInput(f"expected Time, got {local(root.tag)[:40]}")
    return {"mode": child_text(root, "timeMode"), "timezone": child_text(root, "timeZone")}


def parse_ntp_servers(body: bytes) -> list[str]:
    root = _xml(body)
    if local(root.tag) not in ("NTPServerList", "NTPServer"):
        raise MalformedInput(f"expected NTPServerList, got {local(root.tag)[:40]}")
    servers = []
    for el in [root] if local(root.tag) == "NTPServer" else _children(root, "NTPServer"):
        if _bool(child_text(el, "enabled")) is False:
            continue
        addr = _address(el)
        if addr:
            servers.append(addr)
    return servers


def parse_ddns(body: bytes) -> dict[str, Any]:
    root = _xml(body)
    if local(root.tag) not in ("DDNSList", "DDNS"):
        raise MalformedInput(f"expected DDNSList, got {local(root.tag)[:40]}")
    entries = [root] if local(root.tag) == "DDNS" else _children(root, "DDNS")
    enabled = [e for e in entries if _bool(child_text(e, "enabled"))]
    return {
        "enabled": bool(enabled) if entries else None,
        "providers": [p for e in enabled if (p := child_text(e, "provider"))],
        "servers": [s for e in enabled if (s := _address(find_local(e, "serverAddress")))],
        "domains": [d for e in enabled if (d := child_text(e, "deviceDomainName"))],
    }


def parse_upnp(body: bytes) -> bool | None:
    root = _xml(body)
    if local(root.tag) != "UPnP":
        raise MalformedInput(f"expected UPnP, got {local(root.tag)[:40]}")
    return _bool(child_text(root, "enabled"))


def parse_upnp_ports(body: bytes) -> list[dict[str, Any]]:
    """Port mappings the device holds on the router: any element with internalPort and externalPort."""
    root = _xml(body)
    out = []
    for el in root.iter():
        internal = child_text(el, "internalPort")
        external = child_text(el, "externalPort")
        if internal is None or external is None:
            continue
        out.append(
            {
                "internal": internal,
                "external": external,
                "protocol": child_text(el, "protocol"),
                "status": child_text(el, "status"),
            }
        )
        if len(out) >= MAX_ITEMS:
            break
    return out


def parse_users(body: bytes) -> list[dict[str, Any]]:
    """Names and levels only; any password element is ignored."""
    root = _xml(body)
    if local(root.tag) not in ("UserList", "User"):
        raise MalformedInput(f"expected UserList, got {local(root.tag)[:40]}")
    users = []
    for el in [root] if local(root.tag) == "User" else _children(root, "User"):
        name = child_text(el, "userName")
        if name:
            users.append({"name": name, "level": child_text(el, "userLevel")})
    return users


def parse_interfaces(body: bytes) -> list[dict[str, Any]]:
    root = _xml(body)
    if local(root.tag) not in ("NetworkInterfaceList", "NetworkInterface"):
        raise MalformedInput(f"expected NetworkInterfaceList, got {local(root.tag)[:40]}")
    out = []
    for el in [root] if local(root.tag) == "NetworkInterface" else _children(root, "NetworkInterface"):
        ip_block = find_local(el, "IPAddress")
        dns = []
        for name in ("PrimaryDNS", "SecondaryDNS"):
            block = find_local(el, name)
            addr = child_text(block, "ipAddress") if block is not None else None
            if addr and addr not in ("0.0.0.0", "::"):
                dns.append(addr)
        gateway = find_local(el, "DefaultGateway")
        link = find_local(el, "Link")
        out.append(
            {
                "ip": child_text(ip_block, "ipAddress") if ip_block is not None else None,
                "addressing": child_text(ip_block, "addressingType") if ip_block is not None else None,
                "gateway": child_text(gateway, "ipAddress") if gateway is not None else None,
                "dns": dns,
                "mac": (child_text(link, "MACAddress") or "").lower() or None if link is not None else None,
            }
        )
    return out


def read(client: AuditClient, result: AuditResult) -> None:
    """Read every endpoint; a HostStop from the client propagates (the caller records it)."""
    result.protocol = "isapi"
    try:
        for area, path in ENDPOINTS:
            reply = client.get(path)
            result.take(path, reply.status, reply.body, partial(_apply, area, s=result.settings))
    finally:
        _evidence(result)


def _apply(area: str, body: bytes, s: dict[str, Any]) -> None:
    if area == "device":
        s["device"] = parse_device_info(body)
    elif area == "cloud":
        s["cloud"] = parse_ezviz(body)
    elif area == "time":
        s.setdefault("ntp", {}).update(parse_time(body))
    elif area == "ntp":
        s.setdefault("ntp", {})["servers"] = parse_ntp_servers(body)
    elif area == "ddns":
        s["ddns"] = parse_ddns(body)
    elif area == "upnp":
        s.setdefault("upnp", {})["enabled"] = parse_upnp(body)
    elif area == "upnp_ports":
        s.setdefault("upnp", {})["mappings"] = parse_upnp_ports(body)
    elif area == "users":
        s["users"] = parse_users(body)
    elif area == "interfaces":
        s["interfaces"] = ifaces = parse_interfaces(body)
        s["dns"] = sorted({d for i in ifaces for d in i["dns"]})


def _evidence(result: AuditResult) -> None:
    s = result.settings
    dev = s.get("device", {})
    for k in ("model", "serial", "firmware", "mac"):
        result.note(SOURCE, f"audit.device.{k}", dev.get(k))
    cloud = s.get("cloud", {})
    for k in ("enabled", "registered", "server"):
        result.note(SOURCE, f"audit.cloud.{k}", cloud.get(k))
    ntp = s.get("ntp", {})
    if ntp.get("mode") and str(ntp["mode"]).upper() != "NTP":
        ntp["enabled"] = False
    elif ntp.get("mode"):
        ntp["enabled"] = True
    result.note(SOURCE, "audit.time.mode", ntp.get("mode"))
    for server in ntp.get("servers", []):
        result.note(SOURCE, "audit.ntp.server", server)
    ddns = s.get("ddns", {})
    result.note(SOURCE, "audit.ddns.enabled", ddns.get("enabled"))
    for server in ddns.get("servers", []):
        result.note(SOURCE, "audit.ddns.server", server)
    upnp = s.get("upnp", {})
    result.note(SOURCE, "audit.upnp.enabled", upnp.get("enabled"))
    for m in upnp.get("mappings", []):
        result.note(
            SOURCE, "audit.upnp.mapping", f"{m['external']}->{m['internal']} {m.get('status') or ''}".strip()
        )
    for u in s.get("users", []):
        result.note(SOURCE, "audit.user", f"{u['name']} ({u.get('level') or '?'})")
    for d in s.get("dns", []):
        result.note(SOURCE, "audit.dns.server", d)
