"""What the exporters share: options, stable signature ids, the active rules, ranges of high-risk networks."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hikscan.knowledge.ruleset import CloudEndpoint, RuleSet, Signature

# Suricata/Snort sids 1,000,000-1,999,999 are reserved for local rules; hikscan takes 1,800,000-1,999,999
# of them (200,000 ids), so a site's own local rules below 1,800,000 never collide with an export.
SID_BASE = 1_800_000
SID_SPAN = 200_000
Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HighRiskNet:
    """Address ranges to flag as a whole: a network owned from a high-risk country, or a country."""

    rule_id: str  # the networks.yaml id (owned) or "country-XX" (located)
    description: str
    prefixes: tuple[Net, ...]


@dataclass
class ExportOptions:
    high_risk: list[HighRiskNet] = field(default_factory=list)
    source_note: str = ""  # rule-set hash and files, written in each file's header


def stable_sid(key: str) -> int:
    """A sid from the sha256 of `key` (rule id + what the rule matches): the same on every export."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return SID_BASE + int.from_bytes(digest[:8], "big") % SID_SPAN


class SidAllocator:
    """Stable sids; on a (rare) hash collision the later key (in sorted order) takes the next free id."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.sids: dict[str, int] = {}
        used: set[int] = set()
        for key in sorted(set(keys)):
            sid = stable_sid(key)
            while sid in used:
                sid = SID_BASE + (sid - SID_BASE + 1) % SID_SPAN
            used.add(sid)
            self.sids[key] = sid

    def __getitem__(self, key: str) -> int:
        return self.sids[key]


def active_clouds(rules: RuleSet) -> Iterator[CloudEndpoint]:
    # the clouds of CCTV vendors: hikscan reports those (a plug or thermostat on its own maker's cloud is not
    # a finding, so a sensor must not alert on it either)
    return (c for c in rules.clouds if c.status != "deprecated" and rules.vendor(c.vendor).cctv)


def active_signatures(rules: RuleSet) -> Iterator[Signature]:
    return (s for s in rules.signatures if s.status != "deprecated")


def high_risk_owned(rules: RuleSet, asn_db: Path | None = None) -> list[HighRiskNet]:
    """Prefixes announced by the ASNs of networks.yaml entries owned from a high-risk country.

    The rules list ASNs, not prefixes: the prefixes come from the ASN database (the embedded one, or
    the user's), so they are as old as its data. Org-name patterns cannot be turned into ranges."""
    wanted = {
        asn: net
        for net in rules.networks.networks
        if net.status != "deprecated" and net.owner_country in rules.policy.high_risk_countries
        for asn in net.asns
    }
    found: dict[str, list[Net]] = {}
    for prefix, record in _iter_db(asn_db or _data("asn.mmdb")):
        asn = record.get("autonomous_system_number") if isinstance(record, dict) else None
        owner = wanted.get(asn) if isinstance(asn, int) else None
        if owner is not None and not _mapped(prefix):
            found.setdefault(owner.id, []).append(prefix)
    out = []
    for net in rules.networks.networks:
        if net.id in found:
            desc = f"network owned by {net.owner} ({net.owner_country})"
            out.append(HighRiskNet(net.id, desc, _collapse(found[net.id])))
    return out


def high_risk_located(rules: RuleSet, country_db: Path | None = None) -> list[HighRiskNet]:
    """Prefixes the country database places in a high-risk country (one entry per country)."""
    wanted = set(rules.policy.high_risk_countries)
    found: dict[str, list[Net]] = {}
    for prefix, record in _iter_db(country_db or _data("country.mmdb")):
        code = _country_code(record)
        if code in wanted and not _mapped(prefix):
            found.setdefault(code, []).append(prefix)
    return [
        HighRiskNet(f"country-{code.lower()}", f"address located in {code}", _collapse(found[code]))
        for code in sorted(found)
    ]


def _country_code(record: object) -> str | None:
    if not isinstance(record, dict):
        return None
    country = record.get("country")
    if isinstance(country, dict) and isinstance(country.get("iso_code"), str):
        return str(country["iso_code"])
    code = record.get("country_code") or record.get("iso_code")
    return code if isinstance(code, str) else None


def _data(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "data" / name


def _iter_db(path: Path) -> Iterator[tuple[Net, object]]:
    import maxminddb

    with maxminddb.open_database(str(path)) as reader:
        yield from reader


def _mapped(prefix: Net) -> bool:
    """IPv4-mapped (::ffff:0:0/96) and 6to4 (2002::/16) copies of the IPv4 tree in an IPv6 database."""
    if prefix.version == 4:
        return False
    top = int(prefix.network_address)
    return top >> 32 == 0xFFFF or top >> 112 == 0x2002


def _collapse(prefixes: list[Net]) -> tuple[Net, ...]:
    v4 = [p for p in prefixes if p.version == 4]
    v6 = [p for p in prefixes if p.version == 6]
    return tuple(ipaddress.collapse_addresses(v4)) + tuple(ipaddress.collapse_addresses(v6))  # type: ignore[arg-type]
