"""The estate answer: how many devices of each vendor family, per subnet, and which are NDAA §889 vendors.

"86 of 212 devices are Hikvision family" is what a council's review board or an FOI request asks for;
this module counts it from device records as they stream past (a few counters, nothing else kept) and
returns the `summary["estate"]` record every writer shows.

NDAA §889 (US FY2019 NDAA, section 889(f)(3)) names Huawei, ZTE, Hytera, Hikvision and Dahua and their
subsidiaries and affiliates. A vendor's `ndaa889` flag in rules/vendors.yaml decides when the rules carry
it; until then it is derived from the vendor family, and the estate record says so.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

from hikscan.knowledge.rules import RuleSet

NDAA889_FAMILIES = frozenset({"hikvision", "dahua", "hytera", "huawei", "zte"})
MAX_SUBNETS = 4096  # distinct subnets counted; the rest fall into "other" (a scan of a /8 stays bounded)


def subnet_of(ip: str | None) -> str:
    """The /24 of an IPv4 address, the /64 of an IPv6 one; "unknown" when there is no usable address."""
    try:
        addr = ipaddress.ip_address((ip or "").split("%")[0])
    except ValueError:
        return "unknown"
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


class Estate:
    """Counts devices by vendor, family and subnet; `summary()` is the JSON-ready estate answer."""

    def __init__(self, rules: RuleSet | None) -> None:
        self.vendors = dict(rules.vendors) if rules is not None else {}
        flags = {name: getattr(v, "ndaa889", None) for name, v in self.vendors.items()}
        self.ndaa_from_rules = any(f is not None for f in flags.values())
        self.ndaa_vendors = {name for name, flag in flags.items() if flag}
        self.ndaa_families = (
            {self.vendors[n].family for n in self.ndaa_vendors} if self.ndaa_from_rules else NDAA889_FAMILIES
        )
        self.total = 0
        self.by_vendor: Counter[str] = Counter()
        self.by_family: Counter[str] = Counter()
        self.subnets: dict[str, Counter[str]] = {}
        self.ndaa = 0
        self.ndaa_seen: set[str] = set()
        self.unactivated = 0
        self.cloud_enabled = 0
        self.with_cves = 0

    def family_of(self, record: dict[str, Any]) -> str | None:
        if record.get("family"):
            return str(record["family"])
        vendor = self.vendors.get(str(record.get("vendor") or ""))
        return vendor.family if vendor is not None else None

    def is_ndaa889(self, record: dict[str, Any]) -> bool:
        if self.ndaa_from_rules:
            return str(record.get("vendor") or "") in self.ndaa_vendors
        return (self.family_of(record) or "") in self.ndaa_families

    def add(self, record: dict[str, Any]) -> None:
        self.total += 1
        family = self.family_of(record) or "unknown"
        self.by_vendor[str(record.get("vendor") or "unknown")] += 1
        self.by_family[family] += 1
        net = subnet_of(record.get("ip"))
        if net not in self.subnets and len(self.subnets) >= MAX_SUBNETS:
            net = "other"
        self.subnets.setdefault(net, Counter())[family] += 1
        if self.is_ndaa889(record):
            self.ndaa += 1
            self.ndaa_seen.add(str(record.get("vendor") or family))
        self.unactivated += record.get("activated") is False
        self.cloud_enabled += bool(record.get("cloud_enabled"))
        self.with_cves += bool(record.get("cves"))

    def headline(self) -> str:
        named = [(f, n) for f, n in self.by_family.most_common() if f != "unknown"]
        if not named:
            return f"none of {self.total} devices is of a known CCTV vendor family"
        family, n = named[0]
        label = self._family_label(family)
        return f"{n} of {self.total} devices are {label} family"

    def _family_label(self, family: str) -> str:
        root = next((v.name for v in self.vendors.values() if v.name.casefold() == family), None)
        return root or family

    def summary(self) -> dict[str, Any]:
        families = [
            {"family": f, "label": self._family_label(f), "devices": n, "ndaa889": f in self.ndaa_families}
            for f, n in self.by_family.most_common()
        ]
        subnets = [
            {"subnet": net, "devices": sum(c.values()), "by_family": dict(c.most_common())}
            for net, c in sorted(self.subnets.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ]
        basis = (
            "rules/vendors.yaml ndaa889 flags"
            if self.ndaa_from_rules
            else "derived from the vendor family (hikvision, dahua, hytera, huawei, zte): "
            "rules/vendors.yaml carries no ndaa889 flag yet"
        )
        return {
            "headline": self.headline(),
            "devices": self.total,
            "by_vendor": dict(self.by_vendor.most_common()),
            "by_family": families,
            "by_subnet": subnets,
            "ndaa889_devices": self.ndaa,
            "ndaa889_vendors": sorted(self.ndaa_seen),
            "ndaa889_basis": basis,
            "unactivated": self.unactivated,
            "cloud_enabled": self.cloud_enabled,
            "with_cves": self.with_cves,
        }
