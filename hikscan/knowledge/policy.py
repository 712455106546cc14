"""The policy: home country, high-risk countries, internal and allowed networks, severities.

Pure data and functions that the passive detectors call: `Policy.classify()` (location, ownership, vendor
cloud, client software) and `located_country()` (which database's country the policy uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hikscan.knowledge.netset import NetSet
from hikscan.knowledge.ruleset import CloudEndpoint, IpNet, norm_name, suffix_match


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
    severity_high_risk: str | None = None  # used instead when the server is located in/owned from one
    applies_to: str = "any"  # behaviour rules (beacon, storm): cctv, other or any device

    def applies(self, device_is_cctv: bool) -> bool:
        return self.applies_to == "any" or (self.applies_to == "cctv") == device_is_cctv


# --- behaviour thresholds (beacon, storm, fleet, baseline; reasons in rules/policy.yaml) ---------------


@dataclass(frozen=True, slots=True)
class Fleet:
    min_devices: int
    window_seconds: int
    group_by: str = "family"  # "family" (one vendor family) or "cctv" (any CCTV devices together)
    prefix_v4: int = 24  # a fleet may also meet on one network of this size …
    prefix_v6: int = 48
    min_attempts: int = 1  # … counting every connection attempt, answered or not


@dataclass(frozen=True, slots=True)
class Beacon:
    min_events: int = 23
    min_score: float = 0.8
    unnamed_only: bool = True
    ignore_ports: frozenset[int] = frozenset({53, 123})
    max_events: int = 512  # kept per (device, remote): memory bound


@dataclass(frozen=True, slots=True)
class Storm:
    min_failed: int = 60
    min_failed_share: float = 0.5
    min_span_seconds: float = 120.0
    min_rate_per_hour: float = 60.0


@dataclass(frozen=True, slots=True)
class Baseline:
    learn_seconds: float = 1200.0


def storm_rate(failed: int, span: float) -> float:
    """Failed attempts per hour over the failing period (at least one minute long)."""
    return failed * 3600.0 / max(span, 60.0)


@dataclass(frozen=True, slots=True)
class Policy:
    home_country: str
    high_risk_countries: frozenset[str]
    internal_cidrs: tuple[IpNet, ...]
    allow_cidrs: tuple[IpNet, ...]
    allow_domains: tuple[str, ...]
    fleet: Fleet
    rules: Mapping[str, PolicyRule]
    beacon: Beacon = field(default_factory=Beacon)
    storm: Storm = field(default_factory=Storm)
    baseline: Baseline = field(default_factory=Baseline)
    # rules_for() per detector, computed once (the rules are frozen; `replace` starts a new memo)
    _by_detector: dict[str, tuple[PolicyRule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _internal: NetSet = field(init=False, repr=False, compare=False)
    _allowed: NetSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_internal", NetSet(self.internal_cidrs))
        object.__setattr__(self, "_allowed", NetSet(self.allow_cidrs))

    def with_home_country(self, country: str) -> Policy:
        return replace(self, home_country=country.upper())

    def rules_for(self, detector: str) -> list[PolicyRule]:
        """The rules a detector emits, in file order; deprecated ones are never used."""
        return list(self._rules_for(detector))

    def emits(self, detector: str) -> bool:
        """Whether a detector has any rule to emit (asked once per flow: no list is built)."""
        return bool(self._rules_for(detector))

    def _rules_for(self, detector: str) -> tuple[PolicyRule, ...]:
        found = self._by_detector.get(detector)
        if found is None:
            found = tuple(
                r for r in self.rules.values() if r.detector == detector and r.status != "deprecated"
            )
            if len(self._by_detector) < 64:
                self._by_detector[detector] = found
        return found

    def classify(
        self,
        device_is_cctv: bool,
        remote_country: str | None,
        cloud: CloudEndpoint | None,
        home_country: str | None = None,
        owner_country: str | None = None,
        cloud_is_cctv: bool = True,
    ) -> tuple[str, str] | None:
        """The destination table (rules/policy.yaml): (rule id, severity) or None.

        Every destination rule whose `when` holds is a candidate; the most severe wins (a rule's
        `severity_high_risk` applies when the server is located in or owned from a high-risk country),
        on a tie the earlier rule in the file. Deprecated rules, and rules a user's policy left out,
        never fire.
        remote_country: where the server is (the riskier of the databases' opinions, `located_country`);
        owner_country: where the network's owner is headquartered (rules/networks.yaml), if known;
        cloud: the vendor cloud or P2P service reached; cloud_is_cctv: whether that cloud's vendor makes
        CCTV (a non-CCTV host reaching it runs the vendor's client software).
        """
        home = (home_country or self.home_country).upper()
        located_hr = self.is_high_risk(remote_country, home)
        owned_hr = self.is_high_risk(owner_country, home)
        facts = {
            "high-risk-located": located_hr,
            "high-risk-owned": owned_hr,
            "vendor-cloud": cloud is not None,
            "cctv-vendor-cloud": cloud is not None and cloud_is_cctv,
            "abroad": remote_country is not None and remote_country.upper() != home,
        }
        best: tuple[int, int, str, str] | None = None
        for order, rule in enumerate(self.rules_for("destination")):
            device = rule.when.get("device", "any")
            if device != "any" and (device == "cctv") != device_is_cctv:
                continue
            if not facts.get(rule.when.get("remote", ""), False):
                continue
            severity = rule.severity
            raised = rule.severity_high_risk
            if raised is not None and (located_hr or owned_hr) and _RANK[raised] > _RANK[severity]:
                severity = raised
            candidate = (_RANK[severity], -order, rule.id, severity)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        return (best[2], best[3]) if best is not None else None

    def is_high_risk(self, country: str | None, home_country: str | None = None) -> bool:
        """A high-risk country that is not the home country."""
        if country is None:
            return False
        code = country.upper()
        return code in self.high_risk_countries and code != (home_country or self.home_country).upper()

    def fleet_alert(self, device_count: int, new: bool = True) -> tuple[str, str] | None:
        """The Italy pattern: enough devices of one vendor reaching one new destination (in a window)."""
        rules = self.rules_for("fleet")
        if rules and new and device_count >= self.fleet.min_devices:
            return rules[0].id, rules[0].severity
        return None

    def behaviour_rule(self, detector: str, device_is_cctv: bool) -> PolicyRule | None:
        """The first rule of a behaviour detector (beacon, storm) that applies to this kind of device."""
        return next((r for r in self.rules_for(detector) if r.applies(device_is_cctv)), None)

    def beacon_alert(self, device_is_cctv: bool, events: int, score: float) -> tuple[str, str] | None:
        """Regular contact: enough events, scored at least beacon.min_score (knowledge.beaconscore)."""
        rule = self.behaviour_rule("beacon", device_is_cctv)
        if rule is None or events < self.beacon.min_events or score < self.beacon.min_score:
            return None
        return rule.id, rule.severity

    def storm_alert(
        self, device_is_cctv: bool, failed: int, attempts: int, span: float
    ) -> tuple[str, str] | None:
        """Many unanswered attempts to one destination, mostly failing, sustained and fast enough."""
        storm = self.storm
        rule = self.behaviour_rule("storm", device_is_cctv)
        if (
            rule is None
            or failed < storm.min_failed
            or failed < storm.min_failed_share * max(attempts, 1)
            or span < storm.min_span_seconds
            or storm_rate(failed, span) < storm.min_rate_per_hour
        ):
            return None
        return rule.id, rule.severity

    def is_internal(self, ip: str) -> bool:
        return ip in self._internal

    def allowed(self, ip: str | None, name: str | None) -> bool:
        if not self.allow_cidrs and not self.allow_domains:
            return False
        if ip is not None and ip in self._allowed:
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
