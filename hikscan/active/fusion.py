"""Evidence fusion: probe Observations -> one Device record per host, with verdicts and conflicts.

Merging: observations are grouped by IP; two groups merge when the devices themselves report the
same MAC and the same serial (SADP, DHIP, ONVIF: a multi-homed device or one answering from a
second address). A second address claiming a MAC with another (or no) serial is a conflict on
both records, never a takeover. MACs seen on the wire (ARP, nmap) never merge hosts, because a
router or proxy can show one MAC for many addresses. Observations without an IP join by MAC.

Verdict: the fingerprint engine runs on all of a host's evidence; it also runs on each source's
evidence alone, and when sources name different vendors (a Hikvision SADP reply from a box whose
MAC belongs to another company: an OEM rebrand) that disagreement is kept in Device.conflicts.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from hikscan.active.base import HOSTILE_KEY, Observation
from hikscan.knowledge.device import FIRMWARE_KEYS, MODEL_KEYS, SERIAL_KEYS, mac_evidence
from hikscan.knowledge.device import build as build_device
from hikscan.knowledge.rules import RuleSet
from hikscan.protocols.sadp import normalise_mac, parse_bool
from hikscan.report.model import Device, Evidence

_WIRE_MAC_PROBES = frozenset({"arp", "nmap"})
# Evidence keys that state the same fact in different protocols (first present wins as the value).
_MODEL_KEYS, _SERIAL_KEYS, _FIRMWARE_KEYS = MODEL_KEYS, SERIAL_KEYS, FIRMWARE_KEYS
_ACTIVATED_KEYS = ("sadp.Activated", "isapi.Activated")
_CLOUD_KEYS = ("sadp.HCPlatformEnable",)
_FOLD = re.compile(r"[\s_-]+")

Identify = Callable[[list[Evidence]], Any]
CvesFor = Callable[[str | None, str | None, str | None], list[str]]


def _ip_sort_key(ip: str) -> tuple[int, int]:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


class Fusion:
    """Collects observations as probes report them; `devices()` builds the records."""

    def __init__(
        self,
        identify: Identify | None = None,
        cves_for: CvesFor | None = None,
        oui_lookup: Callable[[str], str | None] | None = None,
    ) -> None:
        self._identify = identify
        self._cves_for = cves_for
        self._oui = oui_lookup
        self._groups: dict[int, list[Observation]] = {}
        self._by_ip: dict[str, int] = {}
        self._by_mac: dict[str, int] = {}
        self._mac_clash: dict[int, set[str]] = {}
        self._next = 0

    def add(self, obs: Observation) -> int:
        """File an observation; returns the id of the host group it joined.

        A device-reported MAC already claimed by another address merges the two only when both
        also report the same serial (one multi-homed device); otherwise it is a second device
        claiming that MAC (a clone or a spoof): both records keep their own evidence and each
        records the clash in its conflicts. Nothing is taken over.
        """
        mac = normalise_mac(obs.mac) if obs.mac else None
        claimed = mac if obs.probe not in _WIRE_MAC_PROBES else None
        gid = self._by_ip.get(obs.ip) if obs.ip else None
        if gid is None and obs.ip is None and mac:
            gid = self._by_mac.get(mac)
        if gid is None:
            gid = self._next
            self._next += 1
            self._groups[gid] = []
        self._groups[gid].append(obs)
        if obs.ip:
            self._by_ip.setdefault(obs.ip, gid)
        if claimed:
            other = self._by_mac.setdefault(claimed, gid)
            if other != gid and other in self._groups:
                if self._serials(other) & self._serials(gid):
                    gid = self._merge(other, gid)
                else:
                    self._clash(claimed, other, gid)
        return gid

    def _serials(self, gid: int) -> set[str]:
        return {e.value for o in self._groups[gid] for e in o.evidence if e.key in _SERIAL_KEYS and e.value}

    def _clash(self, mac: str, first: int, second: int) -> None:
        """Record on both records that two addresses claim one MAC."""
        a, b = self._ips(first), self._ips(second)
        self._mac_clash.setdefault(first, set()).add(f"mac: {mac} is also claimed by {b} (a second device)")
        self._mac_clash.setdefault(second, set()).add(f"mac: {mac} was already claimed by {a}")

    def _ips(self, gid: int) -> str:
        return ", ".join(sorted({o.ip for o in self._groups[gid] if o.ip}, key=_ip_sort_key)) or "?"

    def _merge(self, keep: int, drop: int) -> int:
        self._groups[keep].extend(self._groups.pop(drop))
        self._mac_clash.setdefault(keep, set()).update(self._mac_clash.pop(drop, set()))
        for table in (self._by_ip, self._by_mac):
            for key, gid in table.items():
                if gid == drop:
                    table[key] = keep
        return keep

    def hosts(self) -> list[tuple[str, int]]:
        """(ip, group id) of every address seen so far."""
        return list(self._by_ip.items())

    def group_of(self, ip: str) -> int | None:
        return self._by_ip.get(ip)

    def device(self, gid: int) -> Device:
        dev = fuse(self._groups[gid], self._identify, self._cves_for, self._oui)
        dev.conflicts += sorted(self._mac_clash.get(gid, ()))
        return dev

    def devices(self) -> list[Device]:
        out = [self.device(gid) for gid in self._groups]
        return sorted(out, key=lambda d: _ip_sort_key(d.ip or ""))


def _first(evidence: list[Evidence], keys: Iterable[str]) -> str | None:
    for key in keys:
        for e in evidence:
            if e.key == key and e.value:
                return e.value
    return None


def _fold(value: str) -> str:
    return _FOLD.sub("", value).casefold()


def _disagreements(evidence: list[Evidence], keys: tuple[str, ...], what: str) -> list[str]:
    """'model: sadp.DeviceDescription=A, onvif.Model=B' when protocols state different values
    (a value contained in another, e.g. a serial with and without its model prefix, agrees)."""
    values: dict[str, str] = {}
    for key in keys:
        for e in evidence:
            if e.key == key and e.value and key not in values:
                values[key] = e.value
    folded = [_fold(v) for v in values.values()]
    agree = all(a in b or b in a for a in folded for b in folded)
    if agree:
        return []
    return [f"{what}: " + ", ".join(f"{k}={v}" for k, v in values.items())]


def _get(verdict: Any, name: str) -> Any:
    if verdict is None:
        return None
    if isinstance(verdict, dict):
        return verdict.get(name)
    return getattr(verdict, name, None)


def fuse(
    observations: list[Observation],
    identify: Identify | None = None,
    cves_for: CvesFor | None = None,
    oui_lookup: Callable[[str], str | None] | None = None,
    rules: RuleSet | None = None,
) -> Device:
    """One Device from every observation of one host (built by knowledge.device, as passive hosts are)."""
    ips = sorted({o.ip for o in observations if o.ip}, key=_ip_sort_key)
    claimed = [normalise_mac(o.mac) for o in observations if o.mac and o.probe not in _WIRE_MAC_PROBES]
    wire = [normalise_mac(o.mac) for o in observations if o.mac and o.probe in _WIRE_MAC_PROBES]
    claimed_macs = [m for m in dict.fromkeys(claimed) if m]
    wire_macs = [m for m in dict.fromkeys(wire) if m]
    mac = (claimed_macs or wire_macs or [None])[0]  # type: ignore[list-item]

    evidence: list[Evidence] = list(dict.fromkeys(e for o in observations for e in o.evidence))
    for m in dict.fromkeys(claimed_macs + wire_macs):
        evidence.append(Evidence("mac", "mac.address", m))
        evidence += mac_evidence(m, oui_lookup, "mac")
    evidence = list(dict.fromkeys(evidence))

    verdict = identify(evidence) if identify else None
    dev = build_device(ips[0] if ips else None, mac, evidence, verdict, rules)
    if dev.activated is None:
        dev.activated = parse_bool(_first(evidence, _ACTIVATED_KEYS))
    if dev.cloud_enabled is None:
        dev.cloud_enabled = parse_bool(_first(evidence, _CLOUD_KEYS))
    conflicts = dev.conflicts
    dev.conflicts = []
    if len(ips) > 1:
        dev.conflicts.append("ip: one device answers from " + ", ".join(ips))
    if wire_macs and claimed_macs and not set(wire_macs) & set(claimed_macs):
        dev.conflicts.append(f"mac: device reports {claimed_macs[0]}, the segment shows {wire_macs[0]}")
    dev.conflicts += conflicts
    dev.hostile = list(dict.fromkeys(e.value for e in evidence if e.key == HOSTILE_KEY))

    if identify:
        dev.conflicts += _source_conflicts(evidence, identify, dev.vendor)
    dev.conflicts += _disagreements(evidence, _MODEL_KEYS, "model")
    dev.conflicts += _disagreements(evidence, _SERIAL_KEYS, "serial")
    dev.conflicts = list(dict.fromkeys(dev.conflicts))
    if cves_for and dev.vendor:
        dev.cves = list(cves_for(dev.vendor, dev.model, dev.firmware))
    return dev


def _source_conflicts(evidence: list[Evidence], identify: Identify, vendor: str | None) -> list[str]:
    """Vendors named by each evidence namespace alone, when they disagree with the verdict."""
    by_ns: dict[str, list[Evidence]] = {}
    for e in evidence:
        ns = e.key.split(".", 1)[0]
        if ns != HOSTILE_KEY:
            by_ns.setdefault(ns, []).append(e)
    named: dict[str, str] = {}
    for ns, items in by_ns.items():
        v = _get(identify(items), "vendor")
        if v:
            named[ns] = v
    if len(set(named.values()) | ({vendor} if vendor else set())) <= 1:
        return []
    shown = ", ".join(f"{ns} says {v}" for ns, v in sorted(named.items()))
    return [f"vendor: {shown}; verdict {vendor or 'none'}"]


def summarise(devices: list[Device]) -> dict[str, Any]:
    """The estate summary: counts by vendor, unactivated, cloud-enabled, with CVEs, hostile."""
    by_vendor = Counter(d.vendor or "unknown" for d in devices)
    vendor_devices = sum(1 for d in devices if d.is_cctv_vendor)
    top = by_vendor.most_common()
    named = [(v, n) for v, n in top if v != "unknown"]
    if named:
        v, n = named[0]
        headline = f"{n} of {len(devices)} devices are {v}"
    else:
        headline = f"none of {len(devices)} devices is a known CCTV vendor"
    return {
        "hosts": len(devices),
        "by_vendor": dict(sorted(by_vendor.items())),
        "cctv_vendor_devices": vendor_devices,
        "unactivated": sum(1 for d in devices if d.activated is False),
        "cloud_enabled": sum(1 for d in devices if d.cloud_enabled),
        "with_cves": sum(1 for d in devices if d.cves),
        "hostile": sum(1 for d in devices if d.hostile),
        "headline": headline,
    }
