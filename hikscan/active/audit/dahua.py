"""Dahua CGI reader (Digest auth, GET only): magicBox device facts, configManager getConfig of
T2UServer (P2P / Easy4IP cloud), NTP, DDNS and UPnP, and userManager's user list (names and groups).

Dahua answers `key=value` lines (`table.NTP.Address=clock.isc.org`); `parse_kv` reads them
bounded in lines and lengths and raises only MalformedInput. Passwords present in DDNS and user
tables are never copied out.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from hikscan.active.audit.client import AuditClient
from hikscan.active.audit.model import AuditResult
from hikscan.errors import MalformedInput

SOURCE = "audit.dahua"
MAX_LINES = 4096
MAX_KEY = 256
MAX_VALUE = 1024
MAX_ITEMS = 64
_INDEX = re.compile(r"\[(\d{1,4})\]")
ENDPOINTS = (
    ("type", "/cgi-bin/magicBox.cgi?action=getDeviceType"),
    ("version", "/cgi-bin/magicBox.cgi?action=getSoftwareVersion"),
    ("serial", "/cgi-bin/magicBox.cgi?action=getSerialNo"),
    ("cloud", "/cgi-bin/configManager.cgi?action=getConfig&name=T2UServer"),
    ("ntp", "/cgi-bin/configManager.cgi?action=getConfig&name=NTP"),
    ("ddns", "/cgi-bin/configManager.cgi?action=getConfig&name=DDNS"),
    ("upnp", "/cgi-bin/configManager.cgi?action=getConfig&name=UPnP"),
    ("users", "/cgi-bin/userManager.cgi?action=getUserInfoAll"),
)


def parse_kv(body: bytes) -> dict[str, str]:
    """`key=value` lines -> dict (first value wins). Not text, HTML, or no pair at all: MalformedInput."""
    if b"\x00" in body:
        raise MalformedInput("binary data where key=value text was expected")
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        raise MalformedInput("markup where key=value text was expected")
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines()):
        if n >= MAX_LINES:
            raise MalformedInput(f"more than {MAX_LINES} lines")
        key, sep, value = line.strip().partition("=")
        if not sep or not key:
            continue
        if len(key) > MAX_KEY or len(value) > MAX_VALUE:
            raise MalformedInput("key or value too long")
        out.setdefault(key.strip(), value.strip())
    if not out:
        raise MalformedInput("no key=value lines")
    return out


def _bool(v: str | None) -> bool | None:
    if v is None:
        return None
    return {"true": True, "false": False, "1": True, "0": False}.get(v.strip().lower())


def _groups(kv: dict[str, str], prefix: str) -> list[dict[str, str]]:
    """`prefix[0].A=x`, `prefix[0].B=y`, `prefix[1].A=z` -> [{A: x, B: y}, {A: z}] (index order)."""
    items: dict[int, dict[str, str]] = {}
    for key, value in kv.items():
        if not key.startswith(prefix + "["):
            continue
        m = _INDEX.match(key, len(prefix))
        if m is None or not key[m.end() :].startswith("."):
            continue
        idx = int(m.group(1))
        if idx not in items and len(items) >= MAX_ITEMS:
            continue
        items.setdefault(idx, {})[key[m.end() + 1 :]] = value
    return [items[i] for i in sorted(items)]


def parse_single(body: bytes, key: str) -> str:
    """magicBox answers one line: `type=…`, `version=…`, `sn=…`."""
    value = parse_kv(body).get(key)
    if not value:
        raise MalformedInput(f"no {key}= line")
    return value


def parse_t2u(body: bytes) -> dict[str, Any]:
    kv = parse_kv(body)
    enabled = _bool(kv.get("table.T2UServer.Enable"))
    server = kv.get("table.T2UServer.Address") or None
    return {"service": "Dahua P2P (T2U/Easy4IP)", "enabled": enabled, "registered": None, "server": server}


def parse_ntp(body: bytes) -> dict[str, Any]:
    kv = parse_kv(body)
    servers = []
    if kv.get("table.NTP.Address"):
        servers.append(kv["table.NTP.Address"])
    for entry in _groups(kv, "table.NTP.ServerList"):
        if _bool(entry.get("Enable")) and entry.get("Address") and entry["Address"] not in servers:
            servers.append(entry["Address"])
    return {"enabled": _bool(kv.get("table.NTP.Enable")), "servers": servers, "mode": None}


def parse_ddns(body: bytes) -> dict[str, Any]:
    kv = parse_kv(body)
    entries = _groups(kv, "table.DDNS")
    on = [e for e in entries if _bool(e.get("Enable"))]
    return {
        "enabled": bool(on) if entries else None,
        "providers": [p for e in on if (p := e.get("Protocol") or e.get("Name"))],
        "servers": [a for e in on if (a := e.get("Address"))],
        "domains": [d for e in on if (d := e.get("HostName") or e.get("Domain"))],
    }


def parse_upnp(body: bytes) -> dict[str, Any]:
    kv = parse_kv(body)
    mappings = [
        {
            "internal": m.get("InnerPort", "?"),
            "external": m.get("OuterPort", "?"),
            "protocol": m.get("Protocol"),
            "status": m.get("ServiceName"),
        }
        for m in _groups(kv, "table.UPnP.MapTable")
        if _bool(m.get("Enable")) is not False
    ]
    enabled = _bool(kv.get("table.UPnP.Enable"))
    return {"enabled": enabled, "mappings": mappings if enabled else []}


def parse_users(body: bytes) -> list[dict[str, Any]]:
    kv = parse_kv(body)
    return [{"name": u["Name"], "level": u.get("Group")} for u in _groups(kv, "users") if u.get("Name")]


def read(client: AuditClient, result: AuditResult) -> None:
    result.protocol = "dahua"
    s = result.settings
    device: dict[str, Any] = {"manufacturer": "Dahua"}
    try:
        for area, path in ENDPOINTS:
            reply = client.get(path)
            result.take(path, reply.status, reply.body, partial(_apply, area, s=s, device=device))
    finally:
        s["device"] = device
        _evidence(result)


def _apply(area: str, body: bytes, s: dict[str, Any], device: dict[str, Any]) -> None:
    if area == "type":
        device["model"] = parse_single(body, "type")
    elif area == "version":
        device["firmware"] = parse_single(body, "version")
    elif area == "serial":
        device["serial"] = parse_single(body, "sn")
    elif area == "cloud":
        s["cloud"] = parse_t2u(body)
    elif area == "ntp":
        s["ntp"] = parse_ntp(body)
    elif area == "ddns":
        s["ddns"] = parse_ddns(body)
    elif area == "upnp":
        s["upnp"] = parse_upnp(body)
    elif area == "users":
        s["users"] = parse_users(body)


def _evidence(result: AuditResult) -> None:
    s = result.settings
    device = s["device"]
    for k in ("model", "serial", "firmware"):
        result.note(SOURCE, f"audit.device.{k}", device.get(k))
    for k in ("enabled", "server"):
        result.note(SOURCE, f"audit.cloud.{k}", s.get("cloud", {}).get(k))
    result.note(SOURCE, "audit.ntp.enabled", s.get("ntp", {}).get("enabled"))
    for server in s.get("ntp", {}).get("servers", []):
        result.note(SOURCE, "audit.ntp.server", server)
    result.note(SOURCE, "audit.ddns.enabled", s.get("ddns", {}).get("enabled"))
    for server in s.get("ddns", {}).get("servers", []):
        result.note(SOURCE, "audit.ddns.server", server)
    result.note(SOURCE, "audit.upnp.enabled", s.get("upnp", {}).get("enabled"))
    for m in s.get("upnp", {}).get("mappings", []):
        result.note(
            SOURCE,
            "audit.upnp.mapping",
            f"{m['external']}->{m['internal']} {m.get('protocol') or ''}".strip(),
        )
    for u in s.get("users", []):
        result.note(SOURCE, "audit.user", f"{u['name']} ({u.get('level') or '?'})")
