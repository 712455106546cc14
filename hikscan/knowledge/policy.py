"""The policy: home country, high-risk countries, internal and allowed networks, severities."""

from __future__ import annotations

from collections.abc import Mapping
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
    ) -> tuple[str, str] | None:
        """The severity table (see rules/policy.yaml): (policy rule id, severity) or None."""
        home = (home_country or self.home_country).upper()
        country = remote_country.upper() if remote_country else None
        high_risk = country is not None and country in self.high_risk_countries and country != home
        if device_is_cctv:
            if high_risk:
                rule = "cctv-to-high-risk-country"
            elif cloud is not None:
                rule = "cctv-to-vendor-cloud"
            elif country is not None and country != home:
                rule = "cctv-to-overseas"
            else:
                return None
        elif high_risk:
            rule = "host-to-high-risk-country"
        else:
            return None
        return rule, self.severity_of(rule)

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
