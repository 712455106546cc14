"""Shared by the audit lab tests: what the lab devices are set to, and what the audit must conclude."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hikscan.lab.profiles import LAB_PASSWORD, LAB_USER, DeviceProfile

# The verdict each audited lab device must get, worked out from its AuditSettings by hand:
# C cloud_off, N ntp_trusted, D ddns_off, U upnp_off, A no_default_admin, F firmware_not_vulnerable.
EXPECTED_VERDICTS: dict[str, dict[str, str]] = {
    # Hik-Connect on and registered; time.windows.com; admin; V5.6.2 build 190701 is in CVE-2021-36260's range
    "hik-cam-1": {"C": "fail", "N": "fail", "D": "pass", "U": "pass", "A": "fail", "F": "fail"},
    # internal NTP, no cloud/DDNS/UPnP, one non-default admin; V5.5.6 build 180326: CVE-2021-36260 range
    "hik-cam-2": {"C": "pass", "N": "pass", "D": "pass", "U": "pass", "A": "pass", "F": "fail"},
    # cloud on (not registered), DDNS, UPnP with 3 mappings, admin + installer; NVR model outside the ranges
    "hik-nvr": {"C": "fail", "N": "fail", "D": "fail", "U": "fail", "A": "fail", "F": "pass"},
    # P2P on, clock.isc.org, Dahua DDNS, UPnP with 2 mappings, admin + 888888; 2019 build before Dahua's fix
    "dahua-cam": {"C": "fail", "N": "fail", "D": "fail", "U": "fail", "A": "fail", "F": "fail"},
    # ONVIF only: no cloud or UPnP setting exists (unknown); NPL time; `root` administrator
    "axis-cam": {"C": "unknown", "N": "pass", "D": "pass", "U": "unknown", "A": "fail", "F": "pass"},
}
CHECK_LETTER = {
    "cloud_off": "C",
    "ntp_trusted": "N",
    "ddns_off": "D",
    "upnp_off": "U",
    "no_default_admin": "A",
    "firmware_not_vulnerable": "F",
}
EXPECTED_STATUS = {
    "hik-cam-1": "ok",
    "hik-cam-2": "ok",
    "hik-nvr": "ok",
    "dahua-cam": "ok",
    "axis-cam": "ok",
    "hik-old-unactivated": "auth_failed",  # no audit account: every login is refused
    "oem-lts": "auth_failed",
    "cpplus-cam": "failed",
    "audit-wrong-password": "auth_failed",
    "audit-lockout": "auth_failed",
    "audit-401-forever": "auth_failed",
    "audit-endless-xml": "hostile",
}


def credentials_file(path: Path) -> Path:
    """A default entry with the lab's account, a subnet entry and a host entry; mode 600."""
    path.write_text(
        "# lab credentials\n"
        f'[default]\nusername = "{LAB_USER}"\npassword = "{LAB_PASSWORD}"\n\n'
        f'[[subnet]]\ncidr = "192.0.2.0/24"\nusername = "other"\npassword = "Unused-{LAB_PASSWORD}"\n'
    )
    path.chmod(0o600)
    return path


def check_settings(p: DeviceProfile, audit: dict[str, Any]) -> None:
    """The settings the audit read equal what the lab device is configured with."""
    a = p.audit
    assert a is not None
    s = audit["settings"]
    dev = s["device"]
    assert (dev["model"], dev["serial"]) == (p.model, p.serial), p.name
    assert dev["firmware"].startswith(p.firmware), (p.name, dev["firmware"])
    assert s["ntp"]["servers"] == list(a.ntp_servers), p.name
    assert [(u["name"], u["level"]) for u in s["users"]] == list(a.users), p.name
    assert s["ddns"]["enabled"] is a.ddns_enabled, p.name
    if p.kind.startswith("hikvision") or p.kind.startswith("dahua"):
        assert s["cloud"]["enabled"] is a.cloud_enabled, p.name
        assert s["upnp"]["enabled"] is a.upnp_enabled, p.name
        assert [(m["internal"], m["external"]) for m in s["upnp"]["mappings"]] == [
            (i, e) for i, e, _ in (a.upnp_mappings if a.upnp_enabled else ())
        ], p.name
    if p.kind.startswith("hikvision"):
        assert s["cloud"]["registered"] is a.cloud_registered, p.name
        assert s["cloud"]["server"] == a.cloud_server, p.name
        assert s["dns"] == sorted(a.dns), p.name
        assert s["interfaces"][0]["ip"] == p.ip and s["interfaces"][0]["mac"] == p.mac
    else:
        assert s.get("dns", s.get("ntp")) is not None


def check_verdicts(p: DeviceProfile, audit: dict[str, Any], checks: dict[str, str]) -> None:
    got = {CHECK_LETTER[checks[v["rule"]]]: v["status"] for v in audit["verdicts"]}
    assert got == EXPECTED_VERDICTS[p.name], (p.name, got)
    for v in audit["verdicts"]:
        if v["status"] == "fail":
            assert v["evidence"], (p.name, v)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


READ_PATHS = (
    "/ISAPI/System/deviceInfo",
    "/ISAPI/System/Network/EZVIZ",
    "/ISAPI/System/time",
    "/ISAPI/System/time/ntpServers",
    "/ISAPI/System/Network/DDNS",
    "/ISAPI/System/Network/UPnP",
    "/ISAPI/System/Network/UPnP/ports/status",
    "/ISAPI/Security/users",
    "/ISAPI/System/Network/interfaces",
    "/cgi-bin/magicBox.cgi?action=getDeviceType",
    "/cgi-bin/magicBox.cgi?action=getSoftwareVersion",
    "/cgi-bin/magicBox.cgi?action=getSerialNo",
    "/cgi-bin/configManager.cgi?action=getConfig&name=T2UServer",
    "/cgi-bin/configManager.cgi?action=getConfig&name=NTP",
    "/cgi-bin/configManager.cgi?action=getConfig&name=DDNS",
    "/cgi-bin/configManager.cgi?action=getConfig&name=UPnP",
    "/cgi-bin/userManager.cgi?action=getUserInfoAll",
)


def check_read_only(entries: list[dict[str, Any]], also: frozenset[str] = frozenset()) -> None:
    """Every request sent: a GET of a known read path (`also`: the scan's), or an ONVIF Get* POST."""
    assert entries, "the lab saw no request at all"
    for e in entries:
        if e["method"] == "GET":
            assert e["path"] in READ_PATHS or (e["path"] in also and not e["auth"]), e
        else:
            assert e["method"] == "POST" and e["path"] == "/onvif/device_service", e
            assert e["action"].startswith("Get"), e
