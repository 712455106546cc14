"""One device record builder for both paths: evidence + rules (+ OUI) -> Device.

The passive path (`passive.attribution`), the scan's fusion (`active.fusion`) and an inventory replayed
into `analyze` all build their Device here, so a host gets the same vendor, family, vendor owner
country, category, name, model, serial, firmware and confidence whichever way it was seen.

- vendor/family/model/serial/firmware/activated/cloud_enabled/confidence/conflicts: the fingerprint
  engine's verdict (OEM brands roll up to their family there), with per-protocol fallbacks for model,
  serial and firmware when no rule sets them.
- category: rules may set `category` (camera, recorder, doorbell/intercom, iot, computer, phone). Weak
  signals combine like vendors do: per category, the strongest match per protocol namespace, the
  namespaces combined as 1 - prod(1 - c); only matches of the winning family (or of none) count. A
  CCTV vendor's device with no category rule is a camera.
- vendor_country: the vendor's `owner_country` in vendors.yaml when present, else its `country`.
- name: what the device calls itself (a rule's `name`, else DHCP host name, mDNS host/instance name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hikscan.knowledge.cves import cves_for
from hikscan.knowledge.fingerprint import Match, identify, to_bool
from hikscan.knowledge.rules import RuleSet, default_rules
from hikscan.report.model import Device, Evidence

CATEGORIES = ("camera", "recorder", "doorbell/intercom", "iot", "computer", "phone", "unknown")
CCTV_CATEGORIES = frozenset({"camera", "recorder", "doorbell/intercom"})
MODEL_KEYS = ("sadp.DeviceDescription", "onvif.Model", "dhip.DeviceType")
SERIAL_KEYS = ("sadp.DeviceSN", "onvif.SerialNumber", "dhip.SerialNo")
FIRMWARE_KEYS = ("sadp.SoftwareVersion", "onvif.FirmwareVersion", "dhip.Version")
NAME_KEYS = ("dhcp.hostname", "mdns.hostname", "mdns.instance", "dhcp.fqdn")
MAX_NAME = 64


def _get(verdict: Any, name: str) -> Any:
    if verdict is None:
        return None
    if isinstance(verdict, dict):
        return verdict.get(name)
    return getattr(verdict, name, None)


def first_value(evidence: Iterable[Evidence], keys: Iterable[str]) -> str | None:
    items = list(evidence)
    for key in keys:
        for e in items:
            if e.key == key and e.value.strip():
                return e.value.strip()
    return None


def mac_evidence(
    mac: str | None, oui_lookup: Callable[[str], str | None] | None, source: str
) -> list[Evidence]:
    """`mac.org` (the registry organisation of the MAC prefix) when the OUI table knows it."""
    org = oui_lookup(mac) if mac and oui_lookup is not None else None
    return [Evidence(source, "mac.org", org, raw=mac)] if org else []


def vendor_country(vendor: str | None, rules: RuleSet) -> str | None:
    if not vendor or rules.canonical_vendor(vendor) is None:
        return None
    entry = rules.vendor(vendor)
    return getattr(entry, "owner_country", None) or entry.country


def _family_of(match: Match, rules: RuleSet) -> str | None:
    vendor = match.sets.get("vendor")
    if isinstance(vendor, str) and vendor in rules.vendors:
        return rules.vendors[vendor].family
    family = match.sets.get("family")
    return family if isinstance(family, str) else None


def category_of(matches: Iterable[Match], family: str | None, vendor: str | None, rules: RuleSet) -> str:
    """The best-supported category among the matches that agree with the family (see module doc)."""
    support: dict[str, dict[str, float]] = {}
    for m in matches:
        category = m.sets.get("category")
        if not isinstance(category, str) or _family_of(m, rules) not in (None, family):
            continue
        per_ns = support.setdefault(category, {})
        per_ns[m.namespace] = max(per_ns.get(m.namespace, 0.0), m.confidence)
    if support:

        def combined(category: str) -> float:
            miss = 1.0
            for c in support[category].values():
                miss *= 1.0 - c
            return 1.0 - miss

        return max(support, key=lambda c: (combined(c), -CATEGORIES.index(c) if c in CATEGORIES else -99))
    if vendor and rules.canonical_vendor(vendor) and rules.vendor(vendor).cctv:
        return "camera"
    return "unknown"


def build(
    ip: str | None,
    mac: str | None,
    evidence: list[Evidence],
    verdict: Any,
    rules: RuleSet | None = None,
    cves: Callable[[str | None, str | None, str | None], list[str]] | None = None,
) -> Device:
    """A Device from a host's evidence and the fingerprint verdict on it (a Verdict or a plain dict)."""
    rules = rules or default_rules()
    vendor = _get(verdict, "vendor")
    family = _get(verdict, "family") or (
        rules.vendor(vendor).family if vendor and rules.canonical_vendor(vendor) else None
    )
    matches = [m for m in (_get(verdict, "matches") or []) if isinstance(m, Match)]
    named = [m.sets.get("name") for m in matches]
    name = next((n for n in named if isinstance(n, str)), None) or first_value(evidence, NAME_KEYS)
    activated = _get(verdict, "activated")
    cloud = _get(verdict, "cloud_enabled")
    device = Device(
        ip=ip,
        mac=mac,
        name=name.strip("[] ")[:MAX_NAME] if name else None,
        vendor=vendor,
        family=family,
        vendor_country=vendor_country(vendor, rules),
        model=_get(verdict, "model") or first_value(evidence, MODEL_KEYS),
        serial=_get(verdict, "serial") or first_value(evidence, SERIAL_KEYS),
        firmware=_get(verdict, "firmware") or first_value(evidence, FIRMWARE_KEYS),
        activated=activated if isinstance(activated, bool) or activated is None else to_bool(str(activated)),
        cloud_enabled=cloud if isinstance(cloud, bool) or cloud is None else to_bool(str(cloud)),
        confidence=float(_get(verdict, "confidence") or 0.0),
        evidence=evidence,
        matched_rules=list(_get(verdict, "matched_rules") or _get(verdict, "rules") or []),
        conflicts=[str(c) for c in (_get(verdict, "conflicts") or [])],
    )
    device.category = category_of(matches, family, vendor, rules) if (matches or vendor) else "unknown"
    if cves is not None and device.vendor:
        device.cves = list(cves(device.vendor, device.model, device.firmware))
    return device


def identify_device(
    ip: str | None,
    mac: str | None,
    evidence: list[Evidence],
    rules: RuleSet,
    inventory_vendor: str | None = None,
) -> Device:
    """Run the rules on a host's evidence and build its Device; an inventory's word when rules say nothing."""
    verdict = identify(evidence, rules)
    if verdict.vendor is None and inventory_vendor:
        device = build(ip, mac, evidence, {"vendor": inventory_vendor, "confidence": 0.9}, rules)
        device.matched_rules = ["inventory"]
        return device
    return build(ip, mac, evidence, verdict, rules, lambda v, m, f: cves_for(v, m, f, rules))


def is_cctv(device: Device | None) -> bool:
    """A camera, recorder or doorbell/intercom, by its category."""
    return bool(device and device.category in CCTV_CATEGORIES)
