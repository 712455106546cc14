"""Firmware version parsing and firmware -> CVE ranges (rules/cves.yaml). Flags by version only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from hikscan.knowledge.ruleset import MAX_MEMO

if TYPE_CHECKING:
    from hikscan.knowledge.rules import CveRule, RuleSet

# Hikvision: "V5.4.0 build 160530", "V5.5.6build 180326", "V1.0, build 180613"
_HIK = re.compile(r"^\s*V?(\d+(?:\.\d+)*)\s*,?\s*build\s*(\d{6})\b", re.IGNORECASE)
# Dahua: "2.800.0000000.16.R, Build Date: 2021-07-20", "2.420.Dahua 00.14.R, build: 2016-06-18"
_NUMS = re.compile(r"^\s*V?(\d+(?:\.\d+)*)")
_DATE = re.compile(r"build(?:\s*date)?\s*:?\s*(\d{4})-(\d{2})-(\d{2})", re.IGNORECASE)
MAX_FIRMWARE_TEXT = 256
MAX_CACHED_TEXT = 128  # longer vendor, model or firmware texts are not remembered by cves_for


@dataclass(frozen=True, slots=True, order=True)
class FirmwareVersion:
    """A firmware string reduced to its version numbers and build date (either may be missing)."""

    numbers: tuple[int, ...]
    build: date | None
    raw: str


def _yymmdd(text: str) -> date | None:
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None


def parse_firmware(text: str | None) -> FirmwareVersion | None:
    """Parse Hikvision and Dahua firmware strings; None when there is no leading version number."""
    if not text:
        return None
    text = text[:MAX_FIRMWARE_TEXT]
    m = _HIK.match(text)
    if m:
        nums = tuple(int(n) for n in m.group(1).split("."))
        return FirmwareVersion(nums, _yymmdd(m.group(2)), text.strip())
    m = _NUMS.match(text)
    if not m:
        return None
    nums = tuple(int(n) for n in m.group(1).split("."))
    d = _DATE.search(text)
    build = None
    if d:
        try:
            build = date(int(d.group(1)), int(d.group(2)), int(d.group(3)))
        except ValueError:
            build = None
    return FirmwareVersion(nums, build, text.strip())


def _key(fw: FirmwareVersion) -> tuple[tuple[int, ...], date]:
    return fw.numbers, fw.build or date.min


def rule_applies(rule: CveRule, vendor: str, model: str | None, firmware: str | None, rules: RuleSet) -> bool:
    """Does this range cover the device? Unknown model/firmware where the rule needs it -> False."""
    try:
        if rules.vendor(vendor).family != rules.vendor(rule.vendor).family:
            return False
    except KeyError:
        return False
    if rule.model is not None and (not model or not rule.model.match(model.strip())):
        return False
    fw = parse_firmware(firmware)
    if fw is None:
        return False
    if rule.version_min is not None or rule.version_max is not None:
        lo = parse_firmware(rule.version_min)
        hi = parse_firmware(rule.version_max)
        if lo is not None and _key(fw) < _key(lo):
            return False
        if hi is not None and _key(fw) > _key(hi):
            return False
    if rule.build_from is not None or rule.build_before is not None:
        if fw.build is None:
            return False
        if rule.build_from is not None and fw.build < rule.build_from:
            return False
        if rule.build_before is not None and fw.build >= rule.build_before:
            return False
    return True


def cves_for(
    vendor: str | None, model: str | None, firmware: str | None, rules: RuleSet | None = None
) -> list[str]:
    """Sorted CVE ids whose published firmware ranges cover this device (deprecated rules skipped).

    A function of its arguments and the rules alone: remembered per (vendor, model, firmware) for short
    values (an estate has many devices of one model and firmware)."""
    if vendor is None:
        return []
    if rules is None:
        from hikscan.knowledge.rules import default_rules

        rules = default_rules()
    key = (vendor, model, firmware)
    cache = rules.memo("cves.cves_for")
    known = cache.get(key)
    if known is None:
        known = tuple(
            sorted(
                {
                    r.cve
                    for r in rules.cves
                    if r.status != "deprecated" and rule_applies(r, vendor, model, firmware, rules)
                }
            )
        )
        if len(cache) < MAX_MEMO and all(len(v or "") <= MAX_CACHED_TEXT for v in key):
            cache[key] = known
    return list(known)
