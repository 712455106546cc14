"""The fingerprint engine: evidence -> rules (rules/fingerprints.yaml) -> one Verdict.

How a verdict is reached:
- Every evidence item is tried against every rule for its key (all matches are kept).
- Each match supports a *family* (the vendor's family in vendors.yaml, or `sets.family`). Within
  one protocol namespace (sadp, http, mac, ...) only the strongest match counts, because ten SADP
  fields are one observation, not ten. Namespaces then combine as independent signals:
  confidence = 1 - prod(1 - c_i); so OUI 0.5 + `Server: DNVRS-Webs` 0.6 -> 0.8.
- The winning family is the one backed by a device's own identity protocol (SADP, DHIP, ONVIF)
  if any, else the one with the highest combined confidence: an OEM box whose MAC belongs to one
  company but that answers SADP runs Hikvision firmware. Every other family supported is recorded
  as a conflict.
- The vendor is the best-supported vendor named inside the winning family (identity first, then
  confidence); with only family-level evidence it is the family's root vendor (e.g. Hikvision).
- model/serial/firmware/activated/cloud_enabled come from the strongest match that sets them,
  identity protocols first, ignoring matches that belong to a losing family.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hikscan.knowledge.rules import FingerprintRule, RuleSet, default_rules
from hikscan.knowledge.ruleset import MAX_MEMO
from hikscan.report.model import Evidence

IDENTITY_NAMESPACES = frozenset({"sadp", "dhip", "onvif"})
FIELDS = ("model", "serial", "firmware", "activated", "cloud_enabled")
BOOL_FIELDS = frozenset({"activated", "cloud_enabled"})
MAX_VALUE = 4096  # longer evidence values are truncated before matching
MAX_CACHED_VALUE = 256  # match outcomes of values up to this long are remembered (RuleSet.memo)
_TRUE = frozenset({"true", "1", "yes", "on", "enable", "enabled"})
_FALSE = frozenset({"false", "flase", "0", "no", "off", "disable", "disabled"})  # "flase": real SADP
_REF = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Match:
    rule_id: str
    evidence: Evidence
    sets: Mapping[str, str | bool | None]
    confidence: float = 0.0

    @property
    def namespace(self) -> str:
        return self.evidence.key.split(".", 1)[0]


@dataclass(frozen=True)
class Verdict:
    vendor: str | None = None
    family: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    activated: bool | None = None
    cloud_enabled: bool | None = None
    confidence: float = 0.0
    matches: list[Match] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def matched_rules(self) -> list[str]:
        return list(dict.fromkeys(m.rule_id for m in self.matches))


def to_bool(value: str | bool | None) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = value.strip().casefold()
    return True if text in _TRUE else False if text in _FALSE else None


def _expand(template: str, m: re.Match[str]) -> str:
    def group(ref: re.Match[str]) -> str:
        name = ref.group(1)
        return m.group(int(name) if name.isdigit() else name) or ""

    return _REF.sub(group, template).strip()


def _apply(rule: FingerprintRule, ev: Evidence, rules: RuleSet) -> Match | None:
    sets = _sets(rule, ev.value[:MAX_VALUE], rules)
    return None if sets is None else Match(rule.id, ev, sets, rule.confidence)


def _sets(rule: FingerprintRule, text: str, rules: RuleSet) -> dict[str, str | bool | None] | None:
    """What a rule sets for one (truncated) evidence value; None if it does not match."""
    m = rule.regex.search(text)
    if m is None:
        return None
    out: dict[str, str | bool | None] = {}
    for name, template in rule.sets.items():
        value: str | bool | None = _expand(template, m) if isinstance(template, str) else template
        if value == "":
            value = None
        if name == "vendor":
            value = rules.canonical_vendor(value) if isinstance(value, str) else None
            if value is None:
                return None  # the text names no vocabulary vendor (e.g. DHIP Vendor "Private")
        elif name in BOOL_FIELDS:
            value = to_bool(value)
        out[name] = value
    return out


def match_value(key: str, value: str, rules: RuleSet | None = None) -> list[Match]:
    """Every rule matching one evidence value, in rule-set order (the first is recog's answer)."""
    return match_evidence(Evidence("test", key, value), rules)


def match_evidence(ev: Evidence, rules: RuleSet | None = None) -> list[Match]:
    """Every rule matching one evidence item, in rule-set order. The outcome depends only on the key
    and the (truncated) value, so it is computed once per distinct (key, value) and replayed: hosts
    share DNS names, User-Agents and MAC organisations (short values only are remembered)."""
    rules = rules or default_rules()
    value = ev.value[:MAX_VALUE]
    cache = rules.memo("fingerprint.match_evidence")
    found = cache.get((ev.key, value))
    if found is None:
        found = _match(ev.key, value, rules)
        if len(value) <= MAX_CACHED_VALUE and len(cache) < MAX_MEMO:
            cache[(ev.key, value)] = found
    return [Match(rule_id, ev, dict(sets), confidence) for rule_id, sets, confidence in found]


def _match(
    key: str, value: str, rules: RuleSet
) -> tuple[tuple[str, dict[str, str | bool | None], float], ...]:
    out = []
    for rule in rules.fingerprints_for(key):
        if rule.status == "deprecated":
            continue
        sets = _sets(rule, value, rules)
        if sets is not None:
            out.append((rule.id, sets, rule.confidence))
    return tuple(out)


def _family_of(match: Match, rules: RuleSet) -> str | None:
    vendor = match.sets.get("vendor")
    if isinstance(vendor, str):
        return rules.vendors[vendor].family
    fam = match.sets.get("family")
    return fam if isinstance(fam, str) else None


def _combine(confidences: Iterable[float]) -> float:
    miss = 1.0
    for c in confidences:
        miss *= 1.0 - c
    return 1.0 - miss


@dataclass
class _Support:
    """Per family (or vendor): strongest confidence per namespace, and whether identity backs it."""

    per_ns: dict[str, float] = field(default_factory=dict)
    identity: bool = False

    def add(self, m: Match) -> None:
        self.per_ns[m.namespace] = max(self.per_ns.get(m.namespace, 0.0), m.confidence)
        self.identity |= m.namespace in IDENTITY_NAMESPACES

    @property
    def confidence(self) -> float:
        return _combine(self.per_ns.values())

    def rank(self) -> tuple[bool, float]:
        return self.identity, self.confidence


def identify(evidence: Iterable[Evidence], rules: RuleSet | None = None) -> Verdict:
    rules = rules or default_rules()
    matches = [m for ev in evidence for m in match_evidence(ev, rules)]
    if not matches:
        return Verdict()
    families: dict[str, _Support] = {}
    vendors: dict[str, _Support] = {}
    for m in matches:
        fam = _family_of(m, rules)
        if fam is None:
            continue
        families.setdefault(fam, _Support()).add(m)
        vendor = m.sets.get("vendor")
        if isinstance(vendor, str):
            vendors.setdefault(vendor, _Support()).add(m)

    family = vendor_name = None
    confidence = 0.0
    conflicts: list[str] = []
    if families:
        family = max(families, key=lambda f: families[f].rank())
        confidence = families[family].confidence
        inside = [v for v in vendors if rules.vendors[v].family == family]
        if inside:
            vendor_name = max(inside, key=lambda v: (*vendors[v].rank(), rules.vendors[v].oem_of is not None))
        else:
            vendor_name = rules.family_root(family).name
        conflicts = _conflicts(matches, families, family, rules)

    values: dict[str, str | bool | None] = dict.fromkeys(FIELDS)
    usable = [m for m in matches if _family_of(m, rules) in (None, family)]
    usable.sort(key=lambda m: (m.namespace in IDENTITY_NAMESPACES, m.confidence), reverse=True)
    for name in FIELDS:
        for m in usable:
            if m.sets.get(name) is not None:
                values[name] = m.sets[name]
                break
    return Verdict(
        vendor=vendor_name,
        family=family,
        model=_str(values["model"]),
        serial=_str(values["serial"]),
        firmware=_str(values["firmware"]),
        activated=to_bool(values["activated"]),
        cloud_enabled=to_bool(values["cloud_enabled"]),
        confidence=round(confidence, 4),
        matches=matches,
        conflicts=conflicts,
    )


def _str(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) else None


def _conflicts(matches: list[Match], families: dict[str, _Support], winner: str, rules: RuleSet) -> list[str]:
    out = []
    why = "identity protocol reply" if families[winner].identity else "higher combined confidence"
    for fam, support in sorted(families.items()):
        if fam == winner:
            continue
        seen = [m for m in matches if _family_of(m, rules) == fam]
        said = ", ".join(f"{m.evidence.key}={m.evidence.value!r} ({m.rule_id})" for m in seen[:3])
        out.append(
            f"{said} suggests {rules.family_root(fam).name} family ({support.confidence:.2f}); "
            f"kept {rules.family_root(winner).name} family ({families[winner].confidence:.2f}, {why})"
        )
    return out
