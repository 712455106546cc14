"""Hikvision SADP (Search Active Devices Protocol): the inquiry and the ProbeMatch/Hello replies.

SADP runs over UDP multicast 239.255.255.250:37020 with small XML documents. Only the read-only
`inquiry` is ever built here: other verbs (update, password reset) change devices (CVE-2023-28810).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from hikscan.errors import MalformedInput
from hikscan.protocols.safexml import local, parse_xml
from hikscan.report.model import Evidence

SADP_GROUP = "239.255.255.250"
SADP_PORT = 37020
MAX_SADP_BYTES = 64 * 1024
_MAX_FIELDS = 256
_MAX_VALUE = 1024

# Canonical spelling of the fields rules match on; replies vary in case, so lookups fold case.
KNOWN_FIELDS = (
    "Uuid", "Types", "DeviceType", "DeviceDescription", "DeviceSN", "CommandPort", "HttpPort", "MAC",
    "IPv4Address", "IPv4SubnetMask", "IPv4Gateway", "IPv6Address", "IPv6Gateway", "IPv6MaskLen", "DHCP",
    "AnalogChannelNum", "DigitalChannelNum", "SoftwareVersion", "DSPVersion", "BootTime", "Encrypt",
    "ResetAbility", "DiskNumber", "Activated", "PasswordResetAbility", "PasswordResetModeSecond",
    "DetailOEMCode", "OEMInfo", "SupportSecurityQuestion", "SupportHCPlatform", "HCPlatformEnable",
    "IsModifyVerificationCode", "Salt", "DeviceLock", "SDKOverTLSPort", "SDKServerStatus",
    "SDKOverTLSServerStatus", "SupportMailBox",
)  # fmt: skip
_CANONICAL = {name.lower(): name for name in KNOWN_FIELDS}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "flase", "0", "no", "off"})  # `flase` is what firmware really sends
_FIRMWARE = re.compile(r"^\s*(V?\d+(?:\.\d+)*)\s*,?\s*build\s*(\d+)\s*$", re.IGNORECASE)
_MAC_SEP = re.compile(r"[-:.\s]")


def build_inquiry(probe_uuid: str | None = None) -> bytes:
    """The SADP inquiry (as the Hikvision SADP tool multicasts it) with a fresh, upper-case UUID."""
    value = probe_uuid or str(uuid.uuid4()).upper()
    if not re.fullmatch(r"[0-9A-Fa-f-]{36}", value):
        raise ValueError("probe_uuid must be a UUID")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<Probe>\n'
        f"<Uuid>{value}</Uuid>\n<Types>inquiry</Types>\n</Probe>\n"
    ).encode()


def INQUIRY() -> bytes:
    """Alias of build_inquiry() with a fresh UUID."""
    return build_inquiry()


def parse_bool(value: str | None) -> bool | None:
    """SADP booleans: true/false, case-insensitive, with the firmware typo `flase`; else None."""
    if value is None:
        return None
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    return None


def normalise_firmware(value: str | None) -> str | None:
    """'V5.6.2build 190701' -> 'V5.6.2 build 190701'; other shapes are returned stripped."""
    if value is None:
        return None
    m = _FIRMWARE.match(value)
    if m:
        return f"{m.group(1)} build {m.group(2)}"
    return value.strip() or None


def normalise_mac(value: str | None) -> str | None:
    """'44-47-cc-37-ce-81' / '4447.cc37.ce81' -> '44:47:cc:37:ce:81'; None when not a MAC."""
    if value is None:
        return None
    digits = _MAC_SEP.sub("", value).lower()
    if len(digits) != 12 or any(c not in "0123456789abcdef" for c in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _port(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    port = int(value.strip())
    return port if 0 < port < 65536 else None


@dataclass(frozen=True, slots=True)
class SadpReply:
    """One SADP message: its kind (root element: ProbeMatch, Hello, Probe...) and its fields."""

    kind: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.fields.get(_CANONICAL.get(name.lower(), name))

    @property
    def model(self) -> str | None:
        return self.get("DeviceDescription") or None

    @property
    def serial(self) -> str | None:
        return self.get("DeviceSN") or None

    @property
    def firmware(self) -> str | None:
        return normalise_firmware(self.get("SoftwareVersion"))

    @property
    def mac(self) -> str | None:
        return normalise_mac(self.get("MAC"))

    @property
    def ipv4(self) -> str | None:
        return self.get("IPv4Address") or None

    @property
    def activated(self) -> bool | None:
        return parse_bool(self.get("Activated"))

    @property
    def cloud_supported(self) -> bool | None:
        return parse_bool(self.get("SupportHCPlatform"))

    @property
    def cloud_enabled(self) -> bool | None:
        return parse_bool(self.get("HCPlatformEnable"))

    @property
    def http_port(self) -> int | None:
        return _port(self.get("HttpPort"))

    @property
    def command_port(self) -> int | None:
        return _port(self.get("CommandPort"))


def parse_sadp(data: bytes) -> SadpReply:
    """Parse a SADP XML message; MalformedInput for anything that is not one."""
    root = parse_xml(data, MAX_SADP_BYTES)
    kind = local(root.tag)
    if not kind or len(kind) > 64:
        raise MalformedInput("SADP: no root element")
    fields: dict[str, str] = {}
    for child in root:
        name = local(child.tag)
        if not name or len(child):  # SADP is flat; nested elements are not fields we use
            continue
        if len(fields) >= _MAX_FIELDS:
            raise MalformedInput("SADP: too many fields")
        canonical = _CANONICAL.get(name.lower(), name)
        fields.setdefault(canonical, (child.text or "").strip()[:_MAX_VALUE])
    if not fields:
        raise MalformedInput(f"SADP: <{kind}> has no fields")
    return SadpReply(kind=kind, fields=fields)


def evidence(reply: SadpReply, source: str = "sadp") -> list[Evidence]:
    """One `sadp.<Field>` evidence item per non-empty field, firmware and MAC normalised."""
    out: list[Evidence] = []
    for name, value in reply.fields.items():
        if not value:
            continue
        shown = value
        if name == "SoftwareVersion":
            shown = reply.firmware or value
        elif name == "MAC":
            shown = reply.mac or value
        out.append(Evidence(source, f"sadp.{name}", shown, raw=value if shown != value else None))
    return out
