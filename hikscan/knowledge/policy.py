"""The policy: home country, high-risk countries, internal and allowed networks, severities.

Pure data and functions that the passive detectors call: `Policy.classify()` (location, ownership, vendor
cloud, client software) and `located_country()` (which database's country the policy uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from hikscan.knowledge.ruleset import CloudEndpoint, IpNet, ip_of, norm_name, suffix_match


@dataclass(frozen=True, slots=True)
class PolicyRule:
    id: str
    status: str
    severity: str
    description: str
    source: str
    examples: tuple[Mapping[str, Any], ...]
    severity_high_risk: str | None = None  # used instead when the server is located in/owned from one


@dataclass(frozen=True, slots=True)
class Fleet:
    min_devices: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Policy:
    home_country: str
    high_risk_countries: frozenset[str]
    internal_cidrs: tuple[IpNet, ...]
    allow_cidrs: tuple[IpNet, ...]
    allow_domains: tuple[str, ...]
    fleet: Fleet
    rules: Mapping[str, PolicyRule]

    def severity_of(self, rule_id: str) -> str:
        return self.rules[rule_id].severity

    def title(self, rule_id: str) -> str:
        return self.rules[rule_id].description

    def with_home_country(self, country: str) -> Policy:
        return replace(self, home_country=country.upper())

    def classify(
        self,
        device_is_cctv: bool,
        remote_country: str | None,
        cloud: CloudEndpoint | None,
        home_country: str | None = None,
        owner_country: str | None = None,
        cloud_is_cctv: bool = True,
    ) -> tuple[str, str] | None:
        """The severity table (see rules/policy.yaml): (policy rule id, severity) or None.

        remote_country: where the server is (the riskier of the databases' opinions, `located_country`);
        owner_country: where the network's owner is headquartered (rules/networks.yaml), if known;
        cloud: the vendor cloud or P2P service the traffic reached; cloud_is_cctv: whether that cloud's
        vendor makes CCTV (a non-CCTV host reaching a CCTV vendor's cloud runs the vendor's client software).
        A rule missing from the policy file, or deprecated, never fires.
        """
        home = (home_country or self.home_country).upper()
        located_hr = self.is_high_risk(remote_country, home)
        owned_hr = self.is_high_risk(owner_country, home)
        abroad = remote_country is not None and remote_country.upper() != home
        candidates: list[str]
        if device_is_cctv:
            if located_hr:
                candidates = ["cctv-to-high-risk-country"]
            else:
                # ties go to the earlier rule: a named vendor cloud says more than its owner
                candidates = ["cctv-to-vendor-cloud"] if cloud is not None else []
                if owned_hr:
                    candidates.append("cctv-to-high-risk-owned-network")
                if not candidates and abroad:
                    candidates = ["cctv-to-overseas"]
        elif cloud is not None and cloud_is_cctv:
            candidates = ["client-to-vendor-cloud"]
        elif located_hr:
            candidates = ["host-to-high-risk-country"]
        elif owned_hr:
            candidates = ["host-to-high-risk-owned-network"]
        else:
            candidates = []
        enabled = [r for r in candidates if r in self.rules and self.rules[r].status != "deprecated"]
        if not enabled:
            return None
        rule = max(enabled, key=lambda r: (_RANK[self.severity_of(r)], -enabled.index(r)))
        severity = self.severity_of(rule)
        raised = self.rules[rule].severity_high_risk
        if raised is not None and (located_hr or owned_hr) and _RANK[raised] > _RANK[severity]:
            severity = raised
        return rule, severity

    def is_high_risk(self, country: str | None, home_country: str | None = None) -> bool:
        """A high-risk country that is not the home country."""
        if country is None:
            return False
        code = country.upper()
        return code in self.high_risk_countries and code != (home_country or self.home_country).upper()

    def fleet_alert(self, device_count: int) -> tuple[str, str] | None:
        """The Italy pattern: enough devices of one vendor reaching one new destination (in a window)."""
        if device_count >= self.fleet.min_devices:
            return "cctv-fleet-new-destination", self.severity_of("cctv-fleet-new-destination")
        return None

    def is_internal(self, ip: str) -> bool:
        addr = ip_of(ip)
        return addr is not None and any(
            addr in net for net in self.internal_cidrs if net.version == addr.version
        )

    def allowed(self, ip: str | None, name: str | None) -> bool:
        if ip is not None:
            addr = ip_of(ip)
            if addr is not None and any(addr in n for n in self.allow_cidrs if n.version == addr.version):
                return True
        return name is not None and suffix_match(norm_name(name), self.allow_domains) is not None


_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


def located_country(
    opinions: Iterable[tuple[str, str]], high_risk: Iterable[str], home_country: str | None = None
) -> str | None:
    """The country a policy uses when the databases disagree: the first opinion naming a high-risk
    country (other than home), else the primary (first) opinion; None without any opinion."""
    risky = {c.upper() for c in high_risk} - {(home_country or "").upper()}
    ordered = [country.upper() for _label, country in opinions]
    for country in ordered:
        if country in risky:
            return country
    return ordered[0] if ordered else None
