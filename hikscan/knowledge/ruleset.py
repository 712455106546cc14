"""The rule set as typed, frozen values: vendors, fingerprints, clouds, signatures, CVE ranges.

`hikscan.knowledge.rules` builds one from `rules/*.yaml`; `hikscan.knowledge.policy` holds the policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from hikscan.knowledge.networks import NetworkTable

if TYPE_CHECKING:
    from hikscan.knowledge.policy import Policy
    from hikscan.knowledge.safe_regex import RuleRegex

STATUSES = ("stable", "test", "experimental", "deprecated")
CATEGORIES = ("camera", "recorder", "doorbell/intercom", "iot", "computer", "phone", "network", "unknown")
CLOUD_USERS = ("device", "client")
IpNet = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_MEMO = 16_384  # entries per derived-lookup table (RuleSet.memo)


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    aliases: tuple[str, ...]
    family: str
    country: str  # the brand's country
    cctv: bool
    oem_of: str | None
    source: str
    owner: str | None = None  # who owns the vendor today
    owner_country: str = ""  # where that owner is; the loader defaults it to `country`
    category: str | None = None  # default device category of a single-purpose vendor
    ndaa889: bool = False  # named in (or produced by a company named in) NDAA FY2019 §889(f)(3)

    @property
    def chinese_owned(self) -> bool:
        return (self.owner_country or self.country) in ("CN", "HK", "MO")


@dataclass(frozen=True, slots=True)
class FingerprintRule:
    id: str
    status: str
    description: str
    key: str  # "http.server", or "sadp.*" for every key of a namespace
    regex: RuleRegex  # linear-time (RE2), input capped: hikscan.knowledge.safe_regex
    sets: Mapping[str, str | bool]
    confidence: float
    source: str
    examples: tuple[Mapping[str, Any], ...]
    order: int  # position in the rule set: first match wins, as in recog

    @property
    def namespace(self) -> str:
        return self.key.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class CloudEndpoint:
    id: str
    status: str
    vendor: str
    service: str
    domains: tuple[str, ...]
    cidrs: tuple[IpNet, ...]
    ports: tuple[str, ...]
    confidence: float
    source: str
    examples: tuple[Mapping[str, Any], ...]
    owner_country: str | None = None  # of the service's owner; the loader defaults it to the vendor's
    used_by: tuple[str, ...] = ("device",)  # "device" (cameras phone home) and/or "client" (apps, VMS)
    implies_category: str | None = None  # a device (not a client) contacting it is of this category
    implies_vendor: bool = False  # a device (not a client) contacting it is made or sold by `vendor`
    name_patterns: tuple[RuleRegex, ...] = ()  # full-name regexes, tried before `domains`

    @property
    def for_clients(self) -> bool:
        return "client" in self.used_by

    @property
    def for_devices(self) -> bool:
        return "device" in self.used_by


@dataclass(frozen=True, slots=True)
class Signature:
    id: str
    status: str
    vendor: str
    service: str
    proto: int | None  # 6, 17, or None for any
    ports: frozenset[int]  # empty: any port
    min_length: int
    markers: tuple[tuple[int, bytes], ...]
    confidence: float
    source: str
    examples: tuple[Mapping[str, Any], ...]
    protocol: str | None = None  # the P2P protocol it belongs to: the value of `p2p.protocol` evidence
    device_side: str | None = None  # "client"/"server": the sender to/from `ports` is the device itself
    length_at: tuple[int, int, int] | None = None  # (offset, size, adjust): field + adjust == length
    trailer: bytes = b""

    def matches(self, proto: int, port: int, payload: bytes | memoryview) -> bool:
        if self.proto is not None and proto != self.proto:
            return False
        if self.ports and port not in self.ports:
            return False
        if len(payload) < self.min_length:
            return False
        if not all(bytes(payload[o : o + len(b)]) == b for o, b in self.markers):
            return False
        if self.trailer and bytes(payload[len(payload) - len(self.trailer) :]) != self.trailer:
            return False
        if self.length_at is not None:
            offset, size, adjust = self.length_at
            if int.from_bytes(payload[offset : offset + size], "big") + adjust != len(payload):
                return False
        return True


@dataclass(frozen=True, slots=True)
class CveRule:
    id: str
    status: str
    cve: str
    vendor: str
    description: str
    model: RuleRegex | None
    version_min: str | None
    version_max: str | None
    build_from: date | None
    build_before: date | None
    source: str
    examples: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class RuleSet:
    vendors: Mapping[str, Vendor]
    fingerprints: tuple[FingerprintRule, ...]
    clouds: tuple[CloudEndpoint, ...]
    signatures: tuple[Signature, ...]
    cves: tuple[CveRule, ...]
    policy: Policy
    files: tuple[str, ...] = ()
    digest: str = ""  # sha256 over the rule files' names and texts, as loaded: reports carry it
    networks: NetworkTable = field(default_factory=NetworkTable)  # rules/networks.yaml: ASN → owner
    _alias: Mapping[str, str] = field(default_factory=dict, repr=False)
    _by_key: Mapping[str, tuple[FingerprintRule, ...]] = field(default_factory=dict, repr=False)
    _by_ns: Mapping[str, tuple[FingerprintRule, ...]] = field(default_factory=dict, repr=False)
    _domains: Mapping[str, CloudEndpoint] = field(default_factory=dict, repr=False)
    _name_patterns: tuple[tuple[RuleRegex, CloudEndpoint], ...] = field(default=(), repr=False)
    _sig_by_proto: Mapping[int, tuple[Signature, ...]] = field(default_factory=dict, repr=False)
    # lookups derived from the rules above, filled on first use (`replace` starts empty): see memo()
    _memo: dict[str, dict[Any, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def vendor(self, name: str) -> Vendor:
        """The vocabulary entry for a canonical name or alias (case-insensitive); KeyError if unknown."""
        canon = self.canonical_vendor(name)
        if canon is None:
            raise KeyError(name)
        return self.vendors[canon]

    def canonical_vendor(self, name: str | None) -> str | None:
        return None if name is None else self._alias.get(name.strip().casefold())

    def family_root(self, family: str) -> Vendor:
        return next(v for v in self.vendors.values() if family_id(v.name) == family)

    def fingerprints_for(self, key: str) -> tuple[FingerprintRule, ...]:
        """Rules that apply to an evidence key, in rule-set order (exact key and `ns.*` rules)."""
        table = self.memo("fingerprints_for")
        found = table.get(key)
        if found is None:
            exact = self._by_key.get(key, ())
            wild = self._by_ns.get(key.split(".", 1)[0], ())
            found = tuple(sorted(exact + wild, key=lambda r: r.order)) if wild else exact
            if len(table) < MAX_MEMO:
                table[key] = found
        return found

    def memo(self, name: str) -> dict[Any, Any]:
        """A table of values derived from these rules (e.g. fingerprint matches by evidence value),
        owned by one caller each; its owner bounds it (MAX_MEMO entries)."""
        table = self._memo.get(name)
        if table is None:
            table = self._memo[name] = {}
        return table

    def cloud_for_name(self, name: str) -> CloudEndpoint | None:
        """The endpoint of a DNS name: a full-name pattern first (in rule order), else the longest suffix."""
        norm = norm_name(name)
        for regex, cloud in self._name_patterns:
            if regex.fullmatch(norm):
                return cloud
        return suffix_match(norm, self._domains)

    def cloud_for_ip(self, ip: str) -> CloudEndpoint | None:
        addr = ip_of(ip)
        if addr is None:
            return None
        for cloud in self.clouds:
            if cloud.status == "deprecated":
                continue
            for net in cloud.cidrs:
                if net.version == addr.version and addr in net:
                    return cloud
        return None

    def signature_for(self, proto: int, port: int, payload: bytes | memoryview) -> Signature | None:
        for sig in self._sig_by_proto.get(proto, ()):
            if sig.matches(proto, port, payload):
                return sig
        return None

    def cloud_for_signature(self, signature: Signature | str) -> CloudEndpoint | None:
        """A vendor-cloud protocol seen on the wire, as a CloudEndpoint named after the signature."""
        if isinstance(signature, str):
            found = next((s for s in self.signatures if s.id == signature), None)
            if found is None:
                return None
            signature = found
        sig = signature
        vendor = self.vendors.get(sig.vendor)
        return CloudEndpoint(
            id=sig.id,
            status=sig.status,
            vendor=sig.vendor,
            service=sig.service,
            domains=(),
            cidrs=(),
            ports=tuple(f"{p}/{'tcp' if sig.proto == 6 else 'udp'}" for p in sorted(sig.ports)),
            confidence=sig.confidence,
            source=sig.source,
            examples=(),
            owner_country=vendor.owner_country if vendor else None,
            used_by=CLOUD_USERS,
        )

    def describe(self) -> str:
        """One line for `hikscan --version`."""
        return (
            f"{len(self.vendors)} vendors, {len(self.fingerprints)} fingerprints, {len(self.clouds)} clouds, "
            f"{len(self.signatures)} signatures, {len(self.cves)} CVE ranges, {len(self.networks)} networks "
            f"({self.networks.asn_count} ASNs) ({len(self.files)} files)"
        )


def family_id(name: str) -> str:
    """The family id a root vendor's name stands for: "Hanwha Vision" -> "hanwha-vision"."""
    return "-".join(name.casefold().split())


def ip_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def norm_name(name: str) -> str:
    return name.strip().rstrip(".").casefold()


def suffix_match(name: str, suffixes: Mapping[str, Any] | Iterable[str]) -> Any:
    """Longest suffix of `name` on a label boundary that is a key of `suffixes`."""
    table = suffixes if isinstance(suffixes, Mapping) else {s.casefold(): s for s in suffixes}
    labels = name.split(".")
    for i in range(len(labels)):
        hit = table.get(".".join(labels[i:]))
        if hit is not None:
            return hit
    return None
