"""The report model shared by the active and passive sides (the JSON contract in DESIGN.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

SEVERITIES = ("info", "low", "medium", "high")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation: where it came from (probe or capture), what was seen, and its value.

    key examples: "sadp.DeviceDescription", "http.server", "rtsp.realm", "mac.org", "onvif.scope".
    """

    source: str
    key: str
    value: str
    raw: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "key": self.key, "value": self.value}


@dataclass
class Device:
    """One host, with every verdict and the evidence behind it."""

    ip: str | None = None
    mac: str | None = None
    name: str | None = None  # what the device calls itself (DHCP host name, mDNS instance, SADP name)
    category: str | None = None  # camera, recorder, doorbell/intercom, iot, computer, phone, unknown
    vendor: str | None = None
    family: str | None = None  # the maker whose firmware an OEM brand runs (HiLook -> hikvision)
    vendor_country: str | None = None  # where the vendor's owner is (ISO 3166 alpha-2)
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    activated: bool | None = None
    cloud_enabled: bool | None = None
    cves: list[str] = field(default_factory=list)
    confidence: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    matched_rules: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    hostile: list[str] = field(default_factory=list)
    audit: dict[str, Any] | None = None  # `hikscan audit`: settings, verdicts, status (None: not audited)
    # first/last contact with each external destination (passive.timeline): {remote, name, first_seen,
    # last_seen, flows, failed, ports, new}; bounded, in order of first contact
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_cctv_vendor(self) -> bool:
        return self.vendor is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, field by field (no deep copy: the report is written at the speed of the loop)."""
        out = {name: getattr(self, name) for name in _field_names(type(self))}
        for name in ("cves", "matched_rules", "conflicts", "hostile"):
            out[name] = list(out[name])
        out["timeline"] = [dict(entry) for entry in self.timeline]
        out["evidence"] = [e.to_dict() for e in self.evidence]
        out["confidence"] = round(self.confidence, 2)
        return out


@dataclass(frozen=True, slots=True)
class Remote:
    ip: str
    port: int
    proto: str
    name: str | None = None
    country: str | None = None
    asn: int | None = None
    org: str | None = None
    cloud: str | None = None
    owner: str | None = None  # network owner (Alibaba Cloud, China Telecom …): rules/networks.yaml
    owner_country: str | None = None  # where that owner is headquartered
    located: tuple[tuple[str, str], ...] = ()  # (database, country) opinions; `country` is the riskier
    rtt_ms: float | None = None  # SYN→SYN-ACK round trip seen in the capture, when there was a handshake
    ports: tuple[str, ...] = ()  # every server port of the contact, most used first ("443/tcp")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in field order (a literal: this runs once per finding)."""
        return {
            "ip": self.ip,
            "port": self.port,
            "proto": self.proto,
            "name": self.name,
            "country": self.country,
            "asn": self.asn,
            "org": self.org,
            "cloud": self.cloud,
            "owner": self.owner,
            "owner_country": self.owner_country,
            "located": [list(pair) for pair in self.located],
            "rtt_ms": self.rtt_ms,
            "ports": list(self.ports),
        }


@dataclass
class Finding:
    severity: str
    rule: str
    title: str
    device: dict[str, Any]
    remote: Remote
    first_seen: float
    last_seen: float
    packets: int
    bytes: int
    evidence: list[str] = field(default_factory=list)
    flows: int = 0  # connections (or UDP conversations) folded into this finding
    # behaviour facts (passive.baseline, detectors beacon/storm/fleet):
    new_destination: bool | None = None  # not contacted in the baseline (None: no baseline to judge by)
    onset: float | None = None  # when the behaviour started (fleet: the first member's first contact)
    rate_per_hour: float | None = None  # attempts (storm: failed attempts) per hour since the onset
    metrics: dict[str, float | int | str] = field(default_factory=dict)  # a detector's measurements

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in field order (a literal: this runs once per finding)."""
        return {
            "severity": self.severity,
            "rule": self.rule,
            "title": self.title,
            "device": dict(self.device),
            "remote": self.remote.to_dict(),
            "first_seen": iso_time(self.first_seen),
            "last_seen": iso_time(self.last_seen),
            "packets": self.packets,
            "bytes": self.bytes,
            "evidence": list(self.evidence),
            "flows": self.flows,
            "new_destination": self.new_destination,
            "onset": iso_time(self.onset) if self.onset is not None else None,
            "rate_per_hour": self.rate_per_hour,
            "metrics": self.metrics,
        }


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: Any) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def iso_time(ts: float) -> str:
    """UTC time to the millisecond, "2024-05-01T10:00:00.250Z" (milliseconds truncated, as isoformat does).

    A report formats a few times per finding, and most fall in a second already formatted: the date and
    time of day are kept per whole second (bounded) and only the milliseconds are formatted again. The
    microseconds are rounded as datetime.fromtimestamp rounds them (half to even, after math.modf)."""
    frac, whole = math.modf(ts)
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    elif micros < 0:
        return _slow_iso_time(ts)
    second = int(whole)
    head = _SECONDS.get(second)
    if head is None:
        head = _slow_iso_time(float(second))[:-5]
        if len(_SECONDS) >= 65_536:
            _SECONDS.clear()
        _SECONDS[second] = head
    return head + _MILLIS[micros // 1000]


_SECONDS: dict[int, str] = {}
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))  # ".000Z" … ".999Z"


def _slow_iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def device_ref(ip: str, device: Device | None) -> dict[str, Any]:
    """How a finding names its device."""
    if device is None:
        return {"ip": ip, "mac": None, "name": None, "vendor": None, "model": None, "category": None}
    return {
        "ip": ip,
        "mac": device.mac,
        "name": device.name,
        "vendor": device.vendor,
        "model": device.model,
        "category": device.category,
    }
