"""The policy: home country, high-risk countries, internal and allowed networks, severities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    detector: str = "destination"  # the module in hikscan/passive/detectors/ that emits it
    when: Mapping[str, str] = field(default_factory=dict)  # destination rules: {device, remote} conditions


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

    def rules_for(self, detector: str) -> list[PolicyRule]:
        """The rules a detector emits, in file order; deprecated ones are never used."""
        return [r for r in self.rules.values() if r.detector == detector and r.status != "deprecated"]

    def classify(
        self,
        device_is_cctv: bool,
        remote_country: str | None,
        cloud: CloudEndpoint | None,
        home_country: str | None = None,
    ) -> tuple[str, str] | None:
        """The first destination rule (file order) whose `when` holds: (rule id, severity) or None."""
        home = (home_country or self.home_country).upper()
        country = remote_country.upper() if remote_country else None
        facts = {
            "high-risk-located": country is not None
            and country in self.high_risk_countries
            and country != home,
            "vendor-cloud": cloud is not None,
            "abroad": country is not None and country != home,
        }
        for rule in self.rules_for("destination"):
            device = rule.when.get("device", "any")
            if device != "any" and (device == "cctv") != device_is_cctv:
                continue
            if facts.get(rule.when.get("remote", ""), False):
                return rule.id, rule.severity
        return None

    def fleet_alert(self, device_count: int) -> tuple[str, str] | None:
        """The Italy pattern: enough devices of one vendor reaching one new destination (in a window)."""
        rules = self.rules_for("fleet")
        if rules and device_count >= self.fleet.min_devices:
            return rules[0].id, rules[0].severity
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
